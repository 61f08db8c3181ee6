import { type ChildProcess, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createBus, defineEvent, type HandlerSettings, Registry } from 'bus-core';
import { waitFor } from 'bus-testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mysqlStore } from '../src/index.js';
import { createTestDatabase, type TestDatabase, truncate } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const WORKER = join(here, 'fixtures', 'drain-worker.mjs');

/** The worker processes run the built dist; fail (not skip) with the fix when it is stale. */
async function assertDistFresh(pkg: string): Promise<void> {
  const root = join(here, '..', '..', pkg);
  let built: number;
  try {
    built = statSync(join(root, 'dist', 'index.js')).mtimeMs;
  } catch {
    throw new Error(`${pkg}/dist is missing: run \`pnpm build\` before these tests`);
  }
  for (const entry of await readdir(join(root, 'src'), { recursive: true })) {
    if (!entry.endsWith('.ts')) continue;
    if (statSync(join(root, 'src', entry)).mtimeMs > built) {
      throw new Error(`${pkg}/dist is older than src/${entry}: run \`pnpm build\` before these tests`);
    }
  }
}

interface Worker {
  id: string;
  child: ChildProcess;
  ready: Promise<void>;
  connections: number[];
  stderr: string[];
  exit: Promise<number | null>;
}

function startWorker(t: TestDatabase, id: string, env: Record<string, string> = {}): Worker {
  const child = spawn(process.execPath, [WORKER], {
    env: { ...process.env, BUS_URL: t.url, WORKER_ID: id, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const connections: number[] = [];
  const stderr: string[] = [];
  let onReady: () => void;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      const message = JSON.parse(line) as { ready?: boolean; connection?: number };
      if (message.ready) onReady();
      if (message.connection !== undefined) connections.push(message.connection);
    } catch {
      stderr.push(`stdout: ${line}`);
    }
  });
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const failed = exit.then((code) => {
    throw new Error(`worker ${id} exited (${code}) before it was ready: ${stderr.join('\n')}`);
  });
  return { id, child, ready: Promise.race([ready, failed]), connections, stderr, exit };
}

async function stopAll(workers: Worker[]): Promise<void> {
  for (const w of workers)
    if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
  const codes = await Promise.all(workers.map((w) => w.exit));
  codes.forEach((code, i) => {
    const w = workers[i]!;
    if (w.child.signalCode !== 'SIGKILL') expect(code, `${w.id}: ${w.stderr.join('\n')}`).toBe(0);
  });
}

async function count(t: TestDatabase, query: string): Promise<number> {
  const [rows] = (await t.admin.query(query)) as unknown as [{ n: number }[]];
  return Number(rows[0]!.n);
}

let t: TestDatabase;
const running: Worker[] = [];

const DrainEvent = defineEvent<{ n: number }>('drain.event');
class DrainHandler {
  static readonly handlerName = 'drain.handler';
  static readonly settings: HandlerSettings = { queueName: 'drain', maxRetries: 5, executionTimeout: 30_000 };
  handle(): void {}
}

/** A publisher: fans out to `drain.handler` like the workers' registry, runs no workers. */
async function publisher() {
  const registry = new Registry();
  registry.register(DrainEvent, DrainHandler);
  const bus = createBus({
    store: mysqlStore(t.db),
    registry,
    queues: [{ queueName: 'drain', workers: 1, batchSize: 1, sleepInterval: 1000, archivePolicy: 'all' }],
  });
  return bus.init();
}

beforeAll(async () => {
  await assertDistFresh('bus-core');
  await assertDistFresh('bus-mysql');
  t = await createTestDatabase();
  await t.admin.query(
    `CREATE TABLE handled (seq bigint unsigned auto_increment primary key, event_id bigint unsigned not null,
     attempt int not null, worker varchar(100) not null, key (event_id))`,
  );
});
afterAll(async () => {
  for (const w of running) w.child.kill('SIGKILL');
  await t?.drop();
});
beforeEach(async () => {
  await truncate(t);
  await t.admin.query('TRUNCATE TABLE handled');
});

describe('worker OS processes', () => {
  it('4 processes drain 20,000 events exactly once (archive all)', async () => {
    const workers = ['a', 'b', 'c', 'd'].map((id) =>
      startWorker(t, `drain-${id}`, { WORKERS: '32', BATCH: '32' }),
    );
    running.push(...workers);
    await Promise.all(workers.map((w) => w.ready));
    const bus = await publisher();
    const payloads = Array.from({ length: 20_000 }, (_, n) => ({ n }));
    const started = Date.now();
    const ids = await bus.publishBatch(DrainEvent, payloads);
    expect(ids).toHaveLength(20_000);

    await waitFor(async () => (await count(t, 'SELECT COUNT(*) AS n FROM bus_events_archive')) === 20_000, {
      timeoutMs: 120_000,
      intervalMs: 200,
      message: `20,000 rows archived (${workers.map((w) => w.stderr.join('\n')).join('\n')})`,
    });
    const seconds = (Date.now() - started) / 1000;
    console.info(
      `4 processes drained 20,000 events in ${seconds.toFixed(1)} s (${Math.round(20_000 / seconds)}/s)`,
    );
    await stopAll(workers);

    const [stats] = (await t.admin.query(
      'SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS d, MAX(attempt) AS a FROM handled',
    )) as unknown as [{ n: number; d: number; a: number }[]];
    expect(stats[0]).toEqual({ n: 20_000, d: 20_000, a: 1 });
    const [perWorker] = (await t.admin.query(
      'SELECT worker, COUNT(*) AS n FROM handled GROUP BY worker',
    )) as unknown as [{ worker: string; n: number }[]];
    expect(perWorker.map((r) => r.worker).sort()).toEqual(['drain-a', 'drain-b', 'drain-c', 'drain-d']);
    expect(await count(t, 'SELECT COUNT(*) AS n FROM bus_events')).toBe(0);
    const [archive] = (await t.admin.query(
      `SELECT COUNT(*) AS n, SUM(status = 'completed') AS completed, MAX(attempts) AS a,
              SUM(id IN (SELECT event_id FROM handled)) AS matched FROM bus_events_archive`,
    )) as unknown as [{ n: number; completed: string; a: number; matched: string }[]];
    expect(archive[0]).toEqual({ n: 20_000, completed: '20000', a: 1, matched: '20000' });
  }, 150_000);

  it('SIGKILL of a worker mid-run: only its in-flight events run twice, nothing is lost', async () => {
    const env = { HANDLE_MS: '30', LEASE_MS: '1500', WORKERS: '8', BATCH: '8' };
    const workers = ['0', '1', '2', '3'].map((id) => startWorker(t, `kill-${id}`, env));
    running.push(...workers);
    await Promise.all(workers.map((w) => w.ready));
    const bus = await publisher();
    await bus.publishBatch(
      DrainEvent,
      Array.from({ length: 2000 }, (_, n) => ({ n })),
    );
    await waitFor(async () => (await count(t, 'SELECT COUNT(*) AS n FROM handled')) >= 300, {
      timeoutMs: 30_000,
      message: '300 events handled',
    });

    const victim = workers[0]!;
    victim.child.kill('SIGKILL');
    await victim.exit;
    // Wait until the server has dropped the dead worker's connections (rolling back what was open),
    // then take the in-flight set: the rows still leased to it.
    await waitFor(
      async () => {
        const [rows] = (await t.admin.query('SELECT ID FROM information_schema.PROCESSLIST WHERE ID IN (?)', [
          victim.connections,
        ])) as unknown as [unknown[]];
        return rows.length === 0;
      },
      { message: "the server to drop the killed worker's connections" },
    );
    const [leased] = (await t.admin.query(
      "SELECT CAST(id AS CHAR) AS id FROM bus_events WHERE locked_by = 'kill-0'",
    )) as unknown as [{ id: string }[]];
    const inFlight = new Set(leased.map((r) => r.id));
    expect(inFlight.size).toBeGreaterThan(0);

    await waitFor(async () => (await count(t, 'SELECT COUNT(*) AS n FROM bus_events_archive')) === 2000, {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: 'all 2000 rows archived after the rescue',
    });
    await stopAll(workers);

    expect(await count(t, 'SELECT COUNT(DISTINCT event_id) AS n FROM handled')).toBe(2000);
    const [twice] = (await t.admin.query(
      'SELECT CAST(event_id AS CHAR) AS id FROM handled GROUP BY event_id HAVING COUNT(*) > 1',
    )) as unknown as [{ id: string }[]];
    for (const { id } of twice)
      expect(inFlight.has(id), `row ${id} ran twice but was not in flight`).toBe(true);
    const [archive] = (await t.admin.query(
      `SELECT CAST(id AS CHAR) AS id, status, attempts FROM bus_events_archive`,
    )) as unknown as [{ id: string; status: string; attempts: number }[]];
    expect(archive.every((a) => a.status === 'completed')).toBe(true);
    for (const a of archive) expect(a.attempts, `row ${a.id}`).toBe(inFlight.has(a.id) ? 2 : 1);
    console.info(`killed worker held ${inFlight.size} rows; ${twice.length} of them had run before the kill`);
  }, 150_000);
});
