import { randomBytes } from 'node:crypto';
import { encodePayload } from 'bus-core';
import type { ArchivedEventRow, EventRow, ListArchiveParams, NewEventRow, QueueStore } from 'bus-core/driver';
import { drizzle } from 'drizzle-orm/mysql2';
import mysql, { type Pool, type PoolOptions } from 'mysql2/promise';
import { TEST_MYSQL_URL, unreachable } from '../../../test-support/databases.js';
import type { MySqlTx } from '../src/index.js';
import { migrate } from '../src/migrate.js';

/** The MariaDB/MySQL server the tests run against (`BUS_TEST_MYSQL_URL`, root with no password by default). */
export const MYSQL_URL = TEST_MYSQL_URL;

/** A database of its own for one test file, so files run in parallel. */
export interface TestDatabase {
  name: string;
  url: string;
  pool: Pool;
  db: MySqlTx;
  /** A connection outside the pool, for KILL, EXPLAIN and hand-written rows. */
  admin: mysql.Connection;
  /** Opens another pool (and Drizzle database) on the same database. */
  open(options?: PoolOptions): { pool: Pool; db: MySqlTx };
  drop(): Promise<void>;
}

/**
 * Creates `bus_test_<random>` with the bus tables. Throws (the test fails, never skips) when the
 * server is unreachable.
 */
export async function createTestDatabase(
  options: { migrate?: boolean; connectionLimit?: number } = {},
): Promise<TestDatabase> {
  const name = `bus_test_${randomBytes(6).toString('hex')}`;
  let admin: mysql.Connection;
  try {
    admin = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 5000 });
  } catch (cause) {
    throw unreachable('mysql', MYSQL_URL, cause);
  }
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
  await admin.query(`USE \`${name}\``);
  const url = `${MYSQL_URL}/${name}`;
  const pools: Pool[] = [];
  const open = (extra: PoolOptions = {}) => {
    const pool = mysql.createPool({ uri: url, connectionLimit: options.connectionLimit ?? 10, ...extra });
    pools.push(pool);
    return { pool, db: drizzle(pool) as unknown as MySqlTx };
  };
  const { pool, db } = open();
  if (options.migrate !== false) await migrate(db);
  return {
    name,
    url,
    pool,
    db,
    admin,
    open,
    async drop() {
      await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.end();
    },
  };
}

/** Empties the hot, archive, pauses, workers, limits and starts tables (ids restart at 1). */
export async function truncate(
  t: TestDatabase,
  events = 'bus_events',
  archive = 'bus_events_archive',
): Promise<void> {
  for (const table of [
    events,
    archive,
    `${events}_pauses`,
    `${events}_workers`,
    `${events}_limits`,
    `${events}_starts`,
  ]) {
    await t.admin.query(`TRUNCATE TABLE \`${table}\``);
  }
}

/** A row for `insert` with harmless defaults (contract v2: one `due`). */
export function row(over: Partial<NewEventRow> = {}): NewEventRow {
  return {
    queue: 'q',
    eventName: 'test.event',
    handlerName: 'test.handler',
    payload: encodePayload({ n: 0 }),
    maxRetries: 0,
    priority: 0,
    due: 0,
    ...over,
  };
}

/** Live rows through the store's inspection, every row unless filtered. */
export function live(
  store: QueueStore<any>,
  filter: Omit<ListArchiveParams, 'limit' | 'status'> = {},
): Promise<EventRow[]> {
  return store.inspect.listEvents({ limit: 10_000, ...filter });
}

/** Archived rows through the store's inspection, every row unless filtered. */
export function archived(
  store: QueueStore<any>,
  filter: Omit<ListArchiveParams, 'limit'> = {},
): Promise<ArchivedEventRow[]> {
  return store.inspect.listArchive({ limit: 10_000, ...filter });
}
