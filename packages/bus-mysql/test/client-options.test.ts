import {
  createBus,
  defineEvent,
  encodePayload,
  type HandlerSettings,
  isBusError,
  type QueueStore,
  Registry,
} from 'bus-core';
import { newEventRow, runUntilIdle } from 'bus-testing';
import { runConformanceSuite } from 'bus-testing/conformance';
import type { PoolOptions } from 'mysql2/promise';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type MySqlTx, mysqlStore } from '../src/index.js';
import { createTestDatabase, type TestDatabase, truncate } from './helpers.js';

// mysql2 pool options that change how rows come back (or how parameters go out). The store reads
// its own columns whatever they are; the one it cannot work through (queryFormat) is refused.

const shout: PoolOptions['typeCast'] = (_field, next) => {
  const value = next();
  return typeof value === 'string' ? `«${value}»` : value;
};

const OPTIONS: [string, PoolOptions][] = [
  ['rowsAsArray', { rowsAsArray: true }],
  ['typeCast (custom function)', { typeCast: shout }],
  ['typeCast: false', { typeCast: false }],
  ['dateStrings', { dateStrings: true }],
  ['supportBigNumbers + bigNumberStrings', { supportBigNumbers: true, bigNumberStrings: true }],
  ['decimalNumbers', { decimalNumbers: true }],
  ['namedPlaceholders', { namedPlaceholders: true }],
  ['timezone: +05:30', { timezone: '+05:30' }],
  ['jsonStrings', { jsonStrings: true }],
];

const ALL_AT_ONCE: PoolOptions = {
  rowsAsArray: true,
  typeCast: shout,
  dateStrings: true,
  supportBigNumbers: true,
  bigNumberStrings: true,
  decimalNumbers: true,
  namedPlaceholders: true,
  timezone: '-08:00',
  jsonStrings: true,
};

let t: TestDatabase;

const QUEUE = 'opts';
// Queue, event and handler names are ASCII (bus-core's rule; ASCII columns on MySQL).
const EVENT = `opts.event 'single' "double", {braced} \\back\\slash NULL`;
const HANDLER = 'opts_handler,with_commas';
const JSON_PAYLOAD = JSON.stringify({ snake_key: 'v', nested_obj: { inner_key: [1, null, 'x'] } });
const ERROR_TEXT = `failed: 'single' "double" \\ back, {brace} NULL\n second line ü 🚀`;

/** publish → claim → complete/fail/retry/archive → list → count, driven on the store directly. */
async function storeRoundTrip(store: QueueStore<MySqlTx>): Promise<void> {
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

  const claimed = await store.claim({ queue: QUEUE, limit: 10, workerId: "w '1'", leaseMs: 30_000 });
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
    expect(Math.abs(c.createdAt.getTime() - dbNow)).toBeLessThan(5_000);
  }
  const held = claimed.map((c) => ({ id: c.id, attempt: c.attempts }));
  expect((await store.extendLeases({ workerId: "w '1'", events: held, leaseMs: 60_000 })).sort()).toEqual(
    [...ids.slice(0, 3)].sort(),
  );

  const settled = await store.settle({
    workerId: "w '1'",
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
  expect(Math.abs(archived[0]!.finishedAt.getTime() - dbNow)).toBeLessThan(5_000);
  expect((await store.listArchive({ ids: [ids[1]!], status: 'failed' })).map((a) => a.id)).toEqual([ids[1]]);

  const live = await store.listEvents({ queue: QUEUE });
  expect(live.map((e) => [e.id, e.attempts, e.lastError, e.lockedBy, e.lockedUntil])).toEqual([
    [ids[2], 1, ERROR_TEXT, null, null],
    [ids[3], 0, null, null, null],
  ]);
  // Database time, read back as UTC whatever the pool's timezone or dateStrings say.
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

  const [again] = await store.claim({ queue: QUEUE, limit: 10, workerId: 'w2', leaseMs: 30_000 });
  expect([again?.id, again?.attempts]).toEqual([ids[2], 2]);
  expect(await store.release({ workerId: 'w2', events: [{ id: ids[2]!, attempt: 2 }] })).toEqual([ids[2]]);
  expect((await store.listEvents({ ids: [ids[2]!] }))[0]?.attempts).toBe(1);
  expect(await store.rescue({ limit: 10, error: 'rescued' })).toBe(0);
  expect(await store.prune({ olderThanMs: 0, limit: 10 })).toBe(2);
  // A plain completion without archive takes the one-statement path (DELETE … RETURNING on MariaDB).
  const [plain] = await store.claim({ queue: QUEUE, limit: 1, workerId: 'w3', leaseMs: 30_000 });
  expect(
    await store.settle({
      workerId: 'w3',
      outcomes: [{ id: plain!.id, attempt: plain!.attempts, kind: 'completed', archive: false }],
    }),
  ).toEqual({ settled: [plain!.id] });
}

const LoadEvent = defineEvent<{ n: number; name: string }>('opts.bus-event');

/** A bus on the store: a handler that fails its first attempt, archive policy `completed`. */
async function busRoundTrip(store: QueueStore<MySqlTx>): Promise<void> {
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
  const bus = createBus<MySqlTx>({
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

beforeAll(async () => {
  t = await createTestDatabase({ connectionLimit: 2 });
});

afterAll(async () => {
  await t?.drop();
});

describe.each(OPTIONS)('mysql2 pool with %s', (_name, options) => {
  let store: QueueStore<MySqlTx>;
  beforeAll(() => {
    store = mysqlStore(t.open({ connectionLimit: 3, ...options }).db);
  });
  beforeEach(() => truncate(t));

  it('store round trip: insert, claim, settle (completed, failed, retry), list, count, release, prune', async () => {
    await storeRoundTrip(store);
  });

  it('a bus with a failing-then-passing handler archives every event as completed (policy completed)', async () => {
    await busRoundTrip(store);
  });
});

describe('mysql2 pool options the store refuses', () => {
  it('queryFormat: INVALID_CONFIG naming the option, at mysqlStore()', () => {
    const { db } = t.open({ queryFormat: (query: string) => query });
    let error: unknown;
    try {
      mysqlStore(db);
    } catch (e) {
      error = e;
    }
    expect(isBusError(error, 'INVALID_CONFIG'), String(error)).toBe(true);
    expect((error as Error).message).toContain('queryFormat');
  });
});

// Every option at once through the whole suite.
runConformanceSuite<MySqlTx>({
  name: 'mysql2 with rowsAsArray, a typeCast, date/bignumber/decimal/json strings, named placeholders and a timezone',
  async setup() {
    return mysqlStore(t.open({ connectionLimit: 5, ...ALL_AT_ONCE }).db);
  },
  reset: () => truncate(t),
  teardown: async () => {},
});
