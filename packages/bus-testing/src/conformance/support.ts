import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  type ArchivedEventRow,
  type BusErrorCode,
  type EventRow,
  isBusError,
  type QueueStore,
} from 'bus-core';
import type { ClaimedEvent, ClaimParams, NewEventRow } from 'bus-core/driver';
import { newEventRow } from '../new-event-row.js';
import { waitFor } from '../wait.js';

// Small helpers the areas share, so each test reads as the rule it pins.

/** A row for `insert` with the suite's defaults (queue `q`, due at once). */
export const row = newEventRow;

/** A lease long enough never to run out during a test. */
export const LONG_LEASE = 600_000;

/**
 * Slack for comparing a time the database wrote with a window the suite measured on the
 * database's clock: its columns may round to the microsecond or truncate to the millisecond.
 */
const SLACK_MS = 2;

/** Inserts `rows` and returns their ids. */
export function insert(store: QueueStore<any>, rows: NewEventRow[]): Promise<string[]> {
  return store.insert({ rows });
}

/** Claims up to 1000 due rows of `queue` for `workerId`, of any handler the queue's rows have. */
export function claim(
  store: QueueStore<any>,
  queue: string,
  workerId = 'w',
  leaseMs = LONG_LEASE,
  limit = 1000,
): Promise<ClaimedEvent[]> {
  return claimFor(store, { queue, limit, workerId, leaseMs });
}

/**
 * `store.claim` with `handlers` defaulting to every handler name among the queue's live rows:
 * for the tests of rules other than the handler filter, which claim whatever is due.
 */
export async function claimFor(
  store: QueueStore<any>,
  params: Omit<ClaimParams, 'handlers'> & { handlers?: string[] },
): Promise<ClaimedEvent[]> {
  const handlers = params.handlers ?? (await handlersIn(store, params.queue));
  if (handlers.length === 0) return [];
  return store.claim({ ...params, handlers });
}

/** The handler names of a queue's live rows (each once). */
export async function handlersIn(store: QueueStore<any>, queue: string): Promise<string[]> {
  const rows = await store.inspect.listEvents({ queue, limit: 10_000 });
  return [...new Set(rows.map((r) => r.handlerName))];
}

/** Inserts one row and claims it: the row a worker holds, at attempt 1. */
export async function held(
  store: QueueStore<any>,
  over: Partial<NewEventRow> = {},
  workerId = 'w',
  leaseMs = LONG_LEASE,
): Promise<ClaimedEvent> {
  const [id] = await insert(store, [row(over)]);
  const claimed = await claim(store, over.queue ?? 'q', workerId, leaseMs);
  const mine = claimed.find((c) => c.id === id);
  assert.ok(mine, `row ${id} was claimed`);
  return mine;
}

/** The live row `id`, or undefined. */
export async function live(store: QueueStore<any>, id: string): Promise<EventRow | undefined> {
  return (await store.inspect.listEvents({ ids: [id], limit: 1 }))[0];
}

/** The archived row `id`, or undefined. */
export async function archived(store: QueueStore<any>, id: string): Promise<ArchivedEventRow | undefined> {
  return (await store.inspect.listArchive({ ids: [id], limit: 1 }))[0];
}

/** Every live row (up to 10 000), in id order. */
export function allLive(store: QueueStore<any>, queue?: string): Promise<EventRow[]> {
  return store.inspect.listEvents({ limit: 10_000, ...(queue === undefined ? {} : { queue }) });
}

/** Every archived row (up to 10 000), in id order. */
export function allArchived(store: QueueStore<any>, queue?: string): Promise<ArchivedEventRow[]> {
  return store.inspect.listArchive({ limit: 10_000, ...(queue === undefined ? {} : { queue }) });
}

/** The database's now, as ms. */
export async function dbNow(store: QueueStore<any>): Promise<number> {
  return (await store.now()).getTime();
}

/**
 * Runs `write` between two readings of the database's clock, so a time it sets can be checked
 * against the window in which it ran.
 */
export async function timed<T>(
  store: QueueStore<any>,
  write: () => Promise<T>,
): Promise<{ result: T; before: number; after: number }> {
  const before = await dbNow(store);
  const result = await write();
  const after = await dbNow(store);
  return { result, before, after };
}

/** Asserts that `time` lies in `[low, high]` (ms), give or take the columns' rounding. */
export function assertWithin(time: Date | null | undefined, low: number, high: number, what: string): void {
  assert.ok(time instanceof Date, `${what} is a Date (got ${String(time)})`);
  const t = time.getTime();
  assert.ok(
    t >= low - SLACK_MS && t <= high + SLACK_MS,
    `${what} ${time.toISOString()} lies between ${new Date(low).toISOString()} and ${new Date(high).toISOString()}`,
  );
}

/**
 * Asserts that `time` is a Date at the instant `expected` (a time the store read back from the
 * same column), give or take the columns' rounding.
 */
export function assertSameInstant(time: Date | null | undefined, expected: Date, what: string): void {
  assertWithin(time, expected.getTime(), expected.getTime(), what);
}

/** Waits until the database's clock has passed `time` (a lease end, a finish time). */
export async function untilPast(store: QueueStore<any>, time: Date | number): Promise<void> {
  const t = typeof time === 'number' ? time : time.getTime();
  await waitFor(async () => (await dbNow(store)) > t + SLACK_MS, {
    message: `the database's clock to pass ${new Date(t).toISOString()}`,
  });
}

/** Waits until the leases of `ids` have run out by the database's clock (listExpired shows them). */
export async function untilExpired(store: QueueStore<any>, queue: string, ids: string[]): Promise<void> {
  await waitFor(
    async () => {
      const expired = new Set((await store.listExpired({ queues: [queue], limit: 1000 })).map((e) => e.id));
      return ids.every((id) => expired.has(id));
    },
    { message: `the leases of ${ids.join(', ')} to run out` },
  );
}

/** `ids` sorted, for comparing results whose order the contract leaves open. */
export function sorted(ids: readonly string[]): string[] {
  return [...ids].sort();
}

/** Ids in numeric order (row ids are decimal text). */
export function numericOrder(ids: readonly string[]): string[] {
  return [...ids].sort((a, b) => {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/** What `promise` rejected with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => assert.fail(`expected a rejection, got ${String(value)}`),
    (error: unknown) => error,
  );
}

/** Asserts that `error` is a BusError with `code`. */
export function assertBusError(error: unknown, code: BusErrorCode): void {
  assert.ok(isBusError(error, code), `expected a BusError ${code}, got ${String(error)}`);
}

/** Asserts that two byte arrays hold the same bytes (and that `actual` is a Uint8Array). */
export function assertBytes(actual: unknown, expected: Uint8Array, what: string): void {
  assert.ok(actual instanceof Uint8Array, `${what} is a Uint8Array`);
  assert.equal(actual.byteLength, expected.byteLength, `${what}: length`);
  assert.ok(Buffer.from(actual).equals(Buffer.from(expected)), `${what}: the same bytes`);
}

/** A short digest, to compare large payloads without printing them. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Inserts one row, claims it and settles it as `kind` with archive on: an archived row with
 * status `failed` (error `error`), `cancelled` (reason `error`) or `completed`. Returns its id.
 */
export async function archivedAs(
  store: QueueStore<any>,
  kind: 'completed' | 'failed' | 'cancelled',
  over: Partial<NewEventRow> = {},
  error = `${kind} here`,
): Promise<string> {
  const c = await held(store, over, 'archiver');
  const outcome =
    kind === 'completed'
      ? { kind, id: c.id, attempt: c.attempts, archive: true }
      : { kind, id: c.id, attempt: c.attempts, archive: true, error };
  const { settled } = await store.settle({ workerId: 'archiver', outcomes: [outcome] });
  assert.deepEqual(settled, [c.id], `row ${c.id} settled as ${kind}`);
  return c.id;
}

/**
 * Whether the target may run a second statement while a transaction of its store is open (false
 * for single-connection databases such as PGlite, where it would wait forever).
 */
export function hasSecondSession(target: { singleConnection?: boolean }): boolean {
  return target.singleConnection !== true;
}

/**
 * Runs `second` (a statement outside the open transaction) while a transaction is open, and
 * fails in `ms` instead of hanging when it waits for that transaction: on a single-connection
 * database it would wait forever (the target should set `singleConnection`).
 */
export async function inSecondSession<T>(second: () => Promise<T>, ms = 5_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `a statement outside the open transaction waited ${ms} ms for it instead of skipping its locked rows (a single-connection database? set singleConnection on the conformance target)`,
          ),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([second(), late]);
  } finally {
    clearTimeout(timer);
  }
}
