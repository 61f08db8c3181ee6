import { isBusError, type QueueStore } from 'bus-core';
import { busRoundTrip, runConformanceSuite, storeRoundTrip } from 'bus-testing/conformance';
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
runConformanceSuite<MySqlTx>(
  {
    name: 'mysql2 with rowsAsArray, a typeCast, date/bignumber/decimal/json strings, named placeholders and a timezone',
    async setup() {
      return mysqlStore(t.open({ connectionLimit: 5, ...ALL_AT_ONCE }).db);
    },
    setupJsonPayload: async () =>
      mysqlStore(t.open({ connectionLimit: 5, ...ALL_AT_ONCE }).db, { jsonPayload: true }),
    reset: () => truncate(t),
    teardown: async () => {},
  },
  { describe, it, beforeAll, afterAll, beforeEach },
);
