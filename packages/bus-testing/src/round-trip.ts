import {
  createBus,
  defineEvent,
  encodePayload,
  type HandlerSettings,
  type QueueStore,
  Registry,
} from 'bus-core';
import { expect } from 'vitest';
import { runUntilIdle } from './helpers.js';
import { newEventRow } from './new-event-row.js';

// Store round trips that every store passes on any client it accepts: the drivers run them once
// per client option that changes how rows come back, and the conformance suite runs them too.

const QUEUE = 'opts';
// Quotes of both kinds, backslashes, braces, commas and NULL: what SQL literals and array
// literals must escape; unicode beyond the BMP for utf8mb4.
const EVENT = `opts.event 'single' "double", {braced} \\back\\slash NULL`;
const HANDLER = 'opts_handler,with_commas';
const WORKER = `w '1' "1"`;
const JSON_PAYLOAD = JSON.stringify({ snake_key: 'v', nested_obj: { inner_key: [1, null, 'x'] } });
const ERROR_TEXT = `failed: 'single' "double" \\ back, {brace} NULL\n second line ü 🚀`;

/**
 * One pass over every store operation on empty tables, with hostile strings (quotes of both
 * kinds, backslashes, braces, commas, NULL, unicode) in every text column: insert, claim in
 * priority order, extend, a mixed settle with archive, list, count, retry, release, rescue, prune.
 * A driver runs it once per client option that changes how rows come back; the suite runs it too.
 *
 * @example
 * it('round trip on a rowsAsArray pool', () => storeRoundTrip(mysqlStore(drizzle(pool))));
 */
export async function storeRoundTrip<TTx>(store: QueueStore<TTx>): Promise<void> {
  const dbNow = (await store.now()).getTime();
  expect(Math.abs(dbNow - Date.now())).toBeLessThan(5_000);
  const payloads = [0, 1, 2, 3].map((n) => encodePayload({ n, text: `p${n} ü` }));
  const rows = payloads.map((payload, n) =>
    newEventRow({
      queue: QUEUE,
      eventName: EVENT,
      handlerName: HANDLER,
      payload,
      payloadJson: n === 0 ? JSON_PAYLOAD : null,
      maxRetries: 3,
      priority: n === 3 ? 0 : -n,
      delayMs: n === 3 ? 3_600_000 : 0,
    }),
  );
  const ids = await store.insert({ rows });
  expect(ids).toHaveLength(4);
  for (const id of ids) expect(id).toMatch(/^[0-9]+$/);

  const claimed = await store.claim({ queue: QUEUE, limit: 10, workerId: WORKER, leaseMs: 30_000 });
  // Priority order: -2, -1, 0 (the fourth row is not due).
  expect(claimed.map((c) => c.id)).toEqual([ids[2], ids[1], ids[0]]);
  for (const c of claimed) {
    const n = ids.indexOf(c.id);
    expect(c).toMatchObject({
      queue: QUEUE,
      eventName: EVENT,
      handlerName: HANDLER,
      attempts: 1,
      maxRetries: 3,
      priority: n === 0 ? 0 : -n,
    });
    expect(Buffer.from(c.payload)).toEqual(Buffer.from(payloads[n]!));
    expect(c.payload.constructor).toBe(Uint8Array);
    expect(Math.abs(c.createdAt.getTime() - dbNow)).toBeLessThan(5_000);
  }
  const held = claimed.map((c) => ({ id: c.id, attempt: c.attempts }));
  expect((await store.extendLeases({ workerId: WORKER, events: held, leaseMs: 60_000 })).sort()).toEqual(
    [...ids.slice(0, 3)].sort(),
  );

  const settled = await store.settle({
    workerId: WORKER,
    outcomes: [
      { id: ids[0]!, attempt: 1, kind: 'completed', archive: true },
      { id: ids[1]!, attempt: 1, kind: 'failed', archive: true, error: ERROR_TEXT },
      { id: ids[2]!, attempt: 1, kind: 'retry', delayMs: 0, error: ERROR_TEXT },
    ],
  });
  expect(settled.settled.sort()).toEqual([...ids.slice(0, 3)].sort());

  const archived = await store.listArchive({ queue: QUEUE });
  expect(archived.map((a) => [a.id, a.status, a.lastError, a.attempts])).toEqual([
    [ids[0], 'completed', null, 1],
    [ids[1], 'failed', ERROR_TEXT, 1],
  ]);
  expect(archived[0]!.payloadJson).toEqual(JSON.parse(JSON_PAYLOAD));
  expect(Buffer.from(archived[0]!.payload)).toEqual(Buffer.from(payloads[0]!));
  expect(archived[0]!.eventName).toBe(EVENT);
  expect(archived[0]!.finishedAt.getTime()).toBeGreaterThanOrEqual(archived[0]!.createdAt.getTime());
  expect(Math.abs(archived[0]!.finishedAt.getTime() - dbNow)).toBeLessThan(5_000);
  expect((await store.listArchive({ ids: [ids[1]!], status: 'failed' })).map((a) => a.id)).toEqual([ids[1]]);

  const live = await store.listEvents({ queue: QUEUE });
  expect(live.map((e) => [e.id, e.attempts, e.lastError, e.lockedBy, e.lockedUntil])).toEqual([
    [ids[2], 1, ERROR_TEXT, null, null],
    [ids[3], 0, null, null, null],
  ]);
  // Database time, read back as UTC whatever the client's time zone or date parsing say.
  expect(Math.abs(live[1]!.scheduledAt.getTime() - dbNow - 3_600_000)).toBeLessThan(5_000);
  expect(live[1]!.payloadJson).toBeNull();
  expect(await store.countByQueue()).toEqual([
    {
      queue: QUEUE,
      available: 1,
      scheduled: 1,
      running: 0,
      retrying: 1,
      archivedCompleted: 1,
      archivedFailed: 1,
    },
  ]);

  // The retry comes back with its attempt counted; release hands it back uncounted.
  const [again] = await store.claim({ queue: QUEUE, limit: 10, workerId: 'w2', leaseMs: 30_000 });
  expect([again?.id, again?.attempts]).toEqual([ids[2], 2]);
  expect(await store.release({ workerId: 'w2', events: [{ id: ids[2]!, attempt: 2 }] })).toEqual([ids[2]]);
  expect((await store.listEvents({ ids: [ids[2]!] }))[0]?.attempts).toBe(1);
  expect(await store.rescue({ limit: 10, error: 'rescued' })).toBe(0);
  expect(await store.prune({ olderThanMs: 0, limit: 10 })).toBe(2);

  // A plain completion without archive (one statement on MariaDB: DELETE … RETURNING).
  const [plain] = await store.claim({ queue: QUEUE, limit: 1, workerId: 'w3', leaseMs: 30_000 });
  expect(
    await store.settle({
      workerId: 'w3',
      outcomes: [{ id: plain!.id, attempt: plain!.attempts, kind: 'completed', archive: false }],
    }),
  ).toEqual({ settled: [plain!.id] });
}

const LoadEvent = defineEvent<{ n: number; name: string }>('opts.bus-event');

/**
 * A bus on the store: a handler that fails its first attempt, archive policy `completed`, rows
 * published in a batch and in a transaction; every row ends archived as completed on attempt 2.
 *
 * @example
 * it('a bus on a camel-case client', () => busRoundTrip(postgresStore(drizzle(camelClient))));
 */
export async function busRoundTrip<TTx>(store: QueueStore<TTx>): Promise<void> {
  const runs = new Map<number, number>();
  class FlakyHandler {
    static readonly handlerName = 'opts.flaky';
    static readonly settings: HandlerSettings = {
      queueName: 'opts-bus',
      maxRetries: 2,
      executionTimeout: 5_000,
    };
    static calculateScheduledAt(): number {
      return 0;
    }
    handle(event: { n: number }): void {
      const run = (runs.get(event.n) ?? 0) + 1;
      runs.set(event.n, run);
      if (run === 1) throw new Error('first attempt fails');
    }
  }
  const registry = new Registry();
  registry.register(LoadEvent, FlakyHandler);
  const bus = createBus<TTx>({
    store,
    registry,
    queues: [
      { queueName: 'opts-bus', workers: 4, batchSize: 4, sleepInterval: 50, archivePolicy: 'completed' },
    ],
  });
  await bus.init();
  try {
    await bus.publishBatch(LoadEvent, [
      { n: 1, name: 'one' },
      { n: 2, name: 'two' },
    ]);
    await store.transaction((tx) => bus.publishTxn(tx, LoadEvent, { n: 3, name: 'three' }));
    await runUntilIdle(bus, { timeoutMs: 15_000 });
    const archived = await store.listArchive({ queue: 'opts-bus' });
    expect(archived.map((a) => [a.status, a.attempts])).toEqual([
      ['completed', 2],
      ['completed', 2],
      ['completed', 2],
    ]);
    expect(await store.listEvents({ queue: 'opts-bus' })).toEqual([]);
    expect([...runs.entries()].sort()).toEqual([
      [1, 2],
      [2, 2],
      [3, 2],
    ]);
  } finally {
    bus.controller.shutdown();
    await bus.controller.awaitTerminationWithTimeout(5_000);
  }
}
