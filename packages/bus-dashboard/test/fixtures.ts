import { randomBytes } from 'node:crypto';
import { encodePayload, type QueueStore } from 'bus-core';
import mysql from 'mysql2/promise';
import postgres from 'postgres';
import { TEST_MYSQL_URL, TEST_POSTGRES_URL, unreachable } from '../../../test-support/databases.js';
import { type Connection, connect } from '../src/connect.js';

/** A database of one test file's own (a PostgreSQL schema or a MariaDB database), migrated. */
export interface TestDatabase {
  kind: 'postgres' | 'mysql';
  /** What the CLI and the server are given to reach it. */
  cliArgs: string[];
  connection: Connection;
  store: QueueStore<any>;
  drop(): Promise<void>;
}

/** Creates and migrates a private schema (PostgreSQL) or database (MariaDB); FAILS when the server is unreachable. */
export async function createTestDatabase(kind: 'postgres' | 'mysql'): Promise<TestDatabase> {
  const name = `bt_dash_${process.pid}_${randomBytes(4).toString('hex')}`;
  if (kind === 'postgres') {
    const admin = postgres(TEST_POSTGRES_URL, { max: 1, connect_timeout: 10, onnotice: () => {} });
    try {
      await admin.unsafe(`CREATE SCHEMA "${name}"`);
    } catch (cause) {
      await admin.end();
      throw unreachable('postgres', TEST_POSTGRES_URL, cause);
    }
    const connection = await connect({ databaseUrl: TEST_POSTGRES_URL, schema: name });
    await connection.migrate();
    return {
      kind,
      cliArgs: ['--database-url', TEST_POSTGRES_URL, '--schema', name],
      connection,
      store: connection.store,
      async drop() {
        await connection.close();
        await admin.unsafe(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
        await admin.end();
      },
    };
  }
  let admin: mysql.Connection;
  try {
    admin = await mysql.createConnection({ uri: TEST_MYSQL_URL, connectTimeout: 5000 });
  } catch (cause) {
    throw unreachable('mysql', TEST_MYSQL_URL, cause);
  }
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
  const url = `${TEST_MYSQL_URL.replace(/\/+$/, '')}/${name}`;
  const connection = await connect({ databaseUrl: url });
  await connection.migrate();
  return {
    kind,
    cliArgs: ['--database-url', url],
    connection,
    store: connection.store,
    async drop() {
      await connection.close();
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.end();
    },
  };
}

/** The rows `seed` made, by role. */
export interface Seeded {
  available: string[];
  scheduled: string[];
  /** A row whose payload and error hold a `<script>` element. */
  hostile: string;
  failed: string[];
  completed: string[];
  running: string;
}

/** A hostile payload: if any of it ran in the page, `window.__pwned` would be set. */
export const HOSTILE = '<script>window.__pwned = true</script><img src=x onerror="window.__pwned = true">';

/**
 * Fills the tables through the store's own contract: available and scheduled `email` rows, a
 * hostile row, archived failed and completed `billing` rows, one running `reports` row.
 */
export async function seed(store: QueueStore<any>): Promise<Seeded> {
  const row = (queue: string, handlerName: string, n: number, due: number | Date = 0) => ({
    queue,
    eventName: `${queue}.event`,
    handlerName,
    payload: encodePayload({ n, to: `user${n}@example.test` }),
    maxRetries: 2,
    priority: 0,
    due,
  });
  const available = await store.insert({
    rows: Array.from({ length: 5 }, (_, i) => row('email', 'email.send', i)),
  });
  const scheduled = await store.insert({
    rows: Array.from({ length: 3 }, (_, i) => row('email', 'email.send', 100 + i, 3_600_000)),
  });
  const [hostile] = await store.insert({
    rows: [{ ...row('email', 'email.send', 999), payload: encodePayload({ html: HOSTILE }) }],
  });
  const billing = await store.insert({
    rows: Array.from({ length: 4 }, (_, i) => row('billing', 'billing.charge', i)),
  });
  const claimed = await store.claim({
    queue: 'billing',
    limit: 10,
    workerId: 'seed-worker',
    leaseMs: 60_000,
    handlers: ['billing.charge'],
  });
  const failed = claimed.slice(0, 3).map((c) => c.id);
  const completed = claimed.slice(3).map((c) => c.id);
  await store.settle({
    workerId: 'seed-worker',
    outcomes: [
      ...failed.map((id, i) => ({
        kind: 'failed' as const,
        id,
        attempt: 1,
        archive: true,
        error: i === 0 ? `card declined ${HOSTILE}` : 'card declined: insufficient funds',
      })),
      ...completed.map((id) => ({ kind: 'completed' as const, id, attempt: 1, archive: true })),
    ],
  });
  const [running] = await store.insert({ rows: [row('reports', 'reports.build', 1)] });
  await store.claim({
    queue: 'reports',
    limit: 1,
    workerId: 'worker-a',
    leaseMs: 600_000,
    handlers: ['reports.build'],
  });
  await store.admin.recordWorker({
    workerId: 'worker-a',
    queues: ['reports', 'email'],
    info: 'test-host pid 1',
  });
  if (billing.length !== 4 || !hostile || !running)
    throw new Error('seed: inserts returned fewer ids than rows');
  return { available, scheduled, hostile, failed, completed, running };
}
