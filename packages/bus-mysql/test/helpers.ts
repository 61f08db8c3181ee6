import { randomBytes } from 'node:crypto';
import { drizzle } from 'drizzle-orm/mysql2';
import mysql, { type Pool, type PoolOptions } from 'mysql2/promise';
import { migrate } from '../src/migrate.js';
import type { MySqlTx } from '../src/store.js';

/** The MariaDB/MySQL server the tests run against (root with no password by default). */
export const MYSQL_URL = process.env.BUS_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

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
    throw new Error(
      `the test database at ${MYSQL_URL} is unreachable (set BUS_MYSQL_URL): ${String(cause)}`,
      { cause },
    );
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

/** Empties both tables (ids restart at 1). */
export async function truncate(
  t: TestDatabase,
  events = 'bus_events',
  archive = 'bus_events_archive',
): Promise<void> {
  await t.admin.query(`TRUNCATE TABLE \`${events}\``);
  await t.admin.query(`TRUNCATE TABLE \`${archive}\``);
}
