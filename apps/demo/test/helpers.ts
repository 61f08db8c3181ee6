import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import postgres from 'postgres';
import { expect } from 'vitest';
import { TEST_MYSQL_URL, TEST_POSTGRES_URL } from '../../../test-support/databases.js';
import { type DemoSummary, runDemo } from '../src/index.js';

/** The test servers (CI starts both); unreachable means the tests fail, they do not skip. */
export const POSTGRES_ADMIN_URL = TEST_POSTGRES_URL;
export const MYSQL_ADMIN_URL = TEST_MYSQL_URL;

function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
}

/** A fresh folder for an embedded PGlite; `remove` deletes it. */
export function tempDataDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'bus-demo-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Creates an own PostgreSQL database for a test file; returns its URL and the cleanup. */
export async function createPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = uniqueName('bus_demo');
  const admin = postgres(POSTGRES_ADMIN_URL, { max: 1, connect_timeout: 10, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } catch (error) {
    await admin.end({ timeout: 0 });
    throw new Error(`PostgreSQL at ${POSTGRES_ADMIN_URL} is needed for these tests: ${String(error)}`);
  }
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end({ timeout: 5 });
    },
  };
}

/** Creates an own MySQL/MariaDB database for a test file; returns its URL and the cleanup. */
export async function createMySqlDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = uniqueName('bus_demo');
  let admin: mysql.Connection;
  try {
    admin = await mysql.createConnection({ uri: MYSQL_ADMIN_URL, connectTimeout: 10_000 });
    await admin.query(`CREATE DATABASE ${name}`);
  } catch (error) {
    throw new Error(`MySQL/MariaDB at ${MYSQL_ADMIN_URL} is needed for these tests: ${String(error)}`);
  }
  const url = new URL(MYSQL_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.end();
    },
  };
}

/** A summary of a full run that reconciles: every published row completed or failed, none left. */
export function expectReconciled(summary: DemoSummary, users: number): void {
  expect(summary.problems).toEqual([]);
  expect(summary.reconciled).toBe(true);
  expect(summary.drained).toBe(true);
  expect(summary.users.signedUp).toBe(users);
  expect(summary.queues.map((q) => q.queue)).toEqual(['high', 'low', 'email']);
  for (const q of summary.queues) {
    expect(q.reconciled).toBe(true);
    expect(q.published).toBe(users);
    expect(q.left).toBe(0);
    expect(q.completed + q.failed).toBe(q.earlier + q.published);
  }
  const { totals } = summary;
  expect(totals.completed + totals.failed).toBe(totals.earlier + totals.published);
  // Only the mail service fails; the other two handlers complete everything.
  expect(summary.queues.find((q) => q.queue === 'high')!.failed).toBe(0);
  expect(summary.queues.find((q) => q.queue === 'low')!.failed).toBe(0);
  // The high queue archives everything, the low queue nothing, the email queue its failures.
  const [high, low, email] = summary.queues;
  expect(high!.archived).toBe(high!.completed + high!.failed);
  expect(low!.archived).toBe(0);
  expect(email!.archived).toBe(email!.failed);
  expect(summary.app.credited).toBe(summary.app.users);
  expect(summary.app.auditEntries).toBe(summary.app.users);
}

/**
 * Ctrl+C in the middle of a run, then a second run on the same database: the first run stops
 * gracefully with rows left (every mail fails, so email rows wait out their backoff), its numbers
 * still add up; the second picks those rows up and finishes them.
 */
export async function interruptAndResume(where: { databaseUrl?: string; dataDir?: string }): Promise<void> {
  const stop = new AbortController();
  const first = await runDemo({
    ...where,
    users: 200,
    rate: 40,
    fail: 1,
    signal: stop.signal,
    live: true,
    refreshMs: 50,
    output: {
      write(text) {
        const signedUp = /users signed up (\d+)\//.exec(text);
        if (signedUp && Number(signedUp[1]) >= 10) stop.abort();
      },
    },
  });
  expect(first.problems).toEqual([]);
  expect(first.reconciled).toBe(true);
  expect(first.interrupted).toBe(true);
  expect(first.drained).toBe(false);
  expect(first.users.signedUp).toBeGreaterThanOrEqual(10);
  expect(first.users.signedUp).toBeLessThan(200);
  const left = new Map(first.queues.map((q) => [q.queue, q.left]));
  expect(left.get('email')).toBeGreaterThan(0);
  for (const q of first.queues) expect(q.earlier + q.published).toBe(q.completed + q.failed + q.left);

  const second = await runDemo({ ...where, users: 5, rate: 1000, fail: 0 });
  expect(second.problems).toEqual([]);
  expect(second.reconciled).toBe(true);
  expect(second.drained).toBe(true);
  expect(second.interrupted).toBe(false);
  for (const q of second.queues) {
    expect(q.earlier).toBe(left.get(q.queue));
    expect(q.published).toBe(5);
    expect(q.completed + q.failed).toBe(q.earlier + 5);
    expect(q.left).toBe(0);
  }
  // The mail service works again: the rows the first run left all complete now.
  expect(second.queues.find((q) => q.queue === 'email')!.failed).toBe(0);
  expect(second.app.users).toBe(first.app.users + 5);
  expect(second.app.credited).toBe(second.app.users);
}
