import {
  createBus,
  defineEvent,
  encodePayload,
  type HandlerSettings,
  isBusError,
  type QueueStore,
  Registry,
} from 'bus-core';
import { newEventRow, runUntilIdle, waitFor } from 'bus-testing';
import { runConformanceSuite } from 'bus-testing/conformance';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type PgTx, postgresStore } from '../src/index.js';
import { createTestSchema, PG_URL, type TestSchema } from './helpers.js';

// postgres.js options that change how rows come back or how parameters go out. The store reads
// its own columns whatever they are; the one it cannot work through (transform.row) is refused.

type ClientOptions = postgres.Options<Record<string, postgres.PostgresType>>;

const hostileTypes = {
  bigint: postgres.BigInt,
  numeric: { to: 1700, from: [1700], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
  dates: {
    to: 1184,
    from: [1082, 1114, 1184],
    serialize: (x: string) => x,
    parse: (x: string) => `date:${x}`,
  },
  shout: {
    to: 25,
    from: [25, 1043],
    serialize: (x: unknown) => String(x),
    parse: (x: string) => x.toUpperCase(),
  },
};

const OPTIONS: [string, ClientOptions][] = [
  ['transform: postgres.camel', { transform: postgres.camel }],
  ['transform: postgres.toCamel', { transform: postgres.toCamel }],
  ['transform.column (custom)', { transform: { column: { from: (c: string) => `col_${c.toUpperCase()}` } } }],
  [
    'transform.value (custom)',
    { transform: { value: { from: (v: unknown) => (typeof v === 'string' ? `«${v}»` : (v ?? 'null!')) } } },
  ],
  ['transform.undefined', { transform: { undefined: null } }],
  ['fetch_types: false', { fetch_types: false }],
  ['prepare: false', { prepare: false }],
  ['types: BigInt, numeric, date and text parsers', { types: hostileTypes }],
];

const ALL_AT_ONCE: ClientOptions = {
  transform: {
    ...postgres.camel,
    value: { from: (v: unknown) => (typeof v === 'string' ? `«${v}»` : v) },
    undefined: null,
  },
  fetch_types: false,
  prepare: false,
  types: hostileTypes,
};

let t: TestSchema;
const clients: postgres.Sql<any>[] = [];

function client(options: ClientOptions): postgres.Sql<any> {
  const c = postgres(PG_URL, {
    max: 2,
    connect_timeout: 10,
    onnotice: () => {},
    ...options,
    connection: { search_path: t.schema, application_name: 'bus-client-options' },
  });
  clients.push(c);
  return c;
}

// Names with every character an array literal or a transform could mangle.
const QUEUE = 'opts';
const EVENT = 'opts.event "quoted", {braced} \\back\\slash NULL ü 🚀';
const HANDLER = 'opts_handler,with_commas';
const JSON_PAYLOAD = JSON.stringify({ snake_key: 'v', nested_obj: { inner_key: [1, null, 'x'] } });
const ERROR_TEXT = 'failed: "quote" \\ back, {brace} NULL\n second line ü';

/** publish → claim → complete/fail/retry/archive → list → count, driven on the store directly. */
async function storeRoundTrip(store: QueueStore<PgTx>): Promise<void> {
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

  const claimed = await store.claim({ queue: QUEUE, limit: 10, workerId: 'w "1"', leaseMs: 30_000 });
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
  expect((await store.extendLeases({ workerId: 'w "1"', events: held, leaseMs: 60_000 })).sort()).toEqual(
    [...ids.slice(0, 3)].sort(),
  );

  const settled = await store.settle({
    workerId: 'w "1"',
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
  expect((await store.listArchive({ ids: [ids[1]!], status: 'failed' })).map((a) => a.id)).toEqual([ids[1]]);

  const live = await store.listEvents({ queue: QUEUE });
  expect(live.map((e) => [e.id, e.attempts, e.lastError, e.lockedBy, e.lockedUntil])).toEqual([
    [ids[2], 1, ERROR_TEXT, null, null],
    [ids[3], 0, null, null, null],
  ]);
  expect(live[1]!.scheduledAt.getTime() - dbNow).toBeGreaterThan(3_000_000);
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
}

const LoadEvent = defineEvent<{ n: number; name: string }>('opts.bus-event');

/** A bus on the store: a handler that fails its first attempt, archive policy `completed`. */
async function busRoundTrip(store: QueueStore<PgTx>, db: PgTx): Promise<void> {
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
  const bus = createBus<PgTx>({
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
    await db.transaction((tx) => bus.publishTxn(tx, LoadEvent, { n: 3, name: 'three' }));
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
  t = await createTestSchema('opts', { max: 2 });
});

afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.end({ timeout: 5 })));
  await t?.drop();
});

describe.each(OPTIONS)('postgres.js client with %s', (_name, options) => {
  let db: PgTx;
  let store: QueueStore<PgTx>;
  beforeAll(() => {
    db = drizzle(client(options));
    store = postgresStore(db, { listen: false });
  });
  beforeEach(() => t.truncate());

  it('store round trip: insert, claim, settle (completed, failed, retry), list, count, release, prune', async () => {
    await storeRoundTrip(store);
  });

  it('a bus with a failing-then-passing handler archives every event as completed (policy completed)', async () => {
    await busRoundTrip(store, db);
  });
});

describe('postgres.js client options the store refuses', () => {
  it('transform.row: INVALID_CONFIG naming the option, at postgresStore()', () => {
    const db = drizzle(client({ transform: { row: { from: (row: unknown) => ({ wrapped: row }) } } }));
    let error: unknown;
    try {
      postgresStore(db);
    } catch (e) {
      error = e;
    }
    expect(isBusError(error, 'INVALID_CONFIG'), String(error)).toBe(true);
    expect((error as Error).message).toContain('transform.row');
  });
});

describe('what bus does to the postgres.js client', () => {
  it('fetches the array types once, then turns fetch_types off; the user’s own arrays still work', async () => {
    const c = client({});
    expect(c.options.fetch_types).toBe(true);
    const store = postgresStore(drizzle(c), { listen: false });
    await store.now();
    expect(c.options.fetch_types).toBe(false);
    const [row] = await c`SELECT ${[1, 2, 3]}::int4[] AS a, ${['x', 'y"']}::text[] AS b`;
    expect(row).toEqual({ a: [1, 2, 3], b: ['x', 'y"'] });
    // A reconnecting connection (after a cut) works as well: no type fetch, arrays still parse.
    await t.client`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE application_name = 'bus-client-options' AND pid <> pg_backend_pid()`;
    // (A statement sent before postgres.js sees the close fails with CONNECTION_CLOSED: a BusError.)
    await waitFor(() => store.now().then((d) => d instanceof Date), { message: 'the store to reconnect' });
    const [after] = await c`SELECT ${[4, 5]}::int8[] AS a`;
    expect(after).toEqual({ a: ['4', '5'] });
  });
});

// Every option at once through the whole suite.
let hostile: postgres.Sql<any>;
runConformanceSuite<PgTx>({
  name: 'postgres.js with camel + value transforms, custom types, fetch_types and prepare off',
  async setup() {
    hostile = client(ALL_AT_ONCE);
    return postgresStore(drizzle(hostile), { listen: false });
  },
  reset: async () => {
    await t.db.execute(sql`TRUNCATE bus_events, bus_events_archive`);
  },
  teardown: async () => {},
});
