import { isBusError, type QueueStore } from 'bus-core';
import { waitFor } from 'bus-testing';
import { busRoundTrip, runConformanceSuite, storeRoundTrip } from 'bus-testing/conformance';
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
    await busRoundTrip(store);
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
runConformanceSuite<PgTx>(
  {
    name: 'postgres.js with camel + value transforms, custom types, fetch_types and prepare off',
    async setup() {
      // The suite's transactional queue runs 4 at once: 1 + 4 connections (POOL_TOO_SMALL below).
      hostile = client({ ...ALL_AT_ONCE, max: 5 });
      return postgresStore(drizzle(hostile), { listen: false });
    },
    setupJsonPayload: async () => postgresStore(drizzle(hostile), { listen: false, jsonPayload: true }),
    reset: () => t.truncate(),
    teardown: async () => {},
  },
  { describe, it, beforeAll, afterAll, beforeEach },
);
