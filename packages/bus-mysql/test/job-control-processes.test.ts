import { createBus, type HandlerSettings, Registry } from 'bus-core';
import { waitFor } from 'bus-testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mysqlStore } from '../src/index.js';
import { bundleControlWorker, type ControlWorker, startControlWorker } from './control-processes.js';
import {
  type ControlHandler,
  type ControlWorkerConfig,
  EVENTS,
  RUNS_TABLE,
} from './fixtures/control-worker.js';
import { createTestDatabase, type TestDatabase, truncate } from './helpers.js';

// Job control across worker OS processes on MariaDB (issue 15): cancel of a row running in
// another process, pause and resume with several processes draining, a rolling deploy's old
// process leaving a new handler's rows alone, and redrive of a thousand failed rows. The workers
// record every run in `runs` with their own clock (the same machine as this one).

let t: TestDatabase;
let bundle: { file: string; cleanup(): void };
const running: ControlWorker[] = [];

/** How long a pause takes to reach every process: the watcher's 1 s poll, a claim and a run in flight, with room for a loaded machine. */
const PAUSE_BOUND_MS = 2500;

beforeAll(async () => {
  [t, bundle] = await Promise.all([createTestDatabase(), bundleControlWorker()]);
  await t.admin.query(RUNS_TABLE);
  await t.admin.query('CREATE TABLE fix_switch (fixed int not null)');
}, 60_000);

afterAll(async () => {
  for (const w of running) w.child.kill('SIGKILL');
  await t?.drop();
  bundle?.cleanup();
});

beforeEach(async () => {
  await truncate(t);
  await t.admin.query('TRUNCATE TABLE runs');
  await t.admin.query('DELETE FROM fix_switch');
  await t.admin.query('INSERT INTO fix_switch VALUES (0)');
});

async function start(workerId: string, handlers: ControlHandler[], extra: Partial<ControlWorkerConfig> = {}) {
  const worker = await startControlWorker(bundle.file, { url: t.url, workerId, handlers, ...extra });
  running.push(worker);
  return worker;
}

async function stopAll(workers: ControlWorker[]): Promise<void> {
  const codes = await Promise.all(workers.map((w) => w.stop()));
  codes.forEach((code, i) => {
    expect(code, `${workers[i]!.id}: ${workers[i]!.stderr()}`).toBe(0);
  });
}

/** A bus that publishes and administers queue `ctl` (every handler registered), running no workers. */
async function operator() {
  const registry = new Registry();
  for (const name of Object.keys(EVENTS) as ControlHandler[]) {
    registry.register(
      EVENTS[name],
      class {
        static readonly handlerName = `ctl.${name}`;
        static readonly settings: HandlerSettings = {
          queueName: 'ctl',
          maxRetries: 0,
          executionTimeout: 60_000,
        };
        handle(): void {}
      },
    );
  }
  const bus = createBus({
    store: mysqlStore(t.db),
    registry,
    queues: [{ queueName: 'ctl', workers: 1, batchSize: 1, sleepInterval: 1000, archivePolicy: 'all' }],
  });
  return bus.init();
}

type Run = {
  event_id: string;
  handler: string;
  worker: string;
  attempt: number;
  phase: string;
  at_ms: number;
};

async function runs(where = '1 = 1'): Promise<Run[]> {
  const [rows] = (await t.admin.query(
    `SELECT CAST(event_id AS CHAR) AS event_id, handler, worker, attempt, phase, CAST(at_ms AS CHAR) AS at_ms
     FROM runs WHERE ${where} ORDER BY seq`,
  )) as unknown as [(Omit<Run, 'at_ms'> & { at_ms: string })[]];
  return rows.map((r) => ({ ...r, at_ms: Number(r.at_ms) }));
}

async function count(query: string): Promise<number> {
  const [rows] = (await t.admin.query(query)) as unknown as [{ n: number }[]];
  return Number(rows[0]!.n);
}

/** Watches for `ms` (a negative assertion needs a window): resolves when it has passed. */
function observe(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('job control across worker processes (MariaDB)', () => {
  it("cancel of a row running in another process: its signal fires within 1.5 s, it is archived cancelled, and the holder's late completion is refused", async () => {
    const holder = await start('holder', ['slow'], { lateMs: 1000 });
    const bus = await operator();
    const [id] = await bus.publish(EVENTS.slow, { n: 1 });
    await waitFor(async () => (await runs(`phase = 'start' AND event_id = ${id}`)).length === 1, {
      timeoutMs: 10_000,
      message: 'the row to start in the holder process',
    });

    const cancelledAt = Date.now();
    const report = await bus.admin.cancel({ ids: [id!] }, { reason: 'operator: bad payload' });
    expect(report).toEqual({ count: 1, ids: [id], unknown: [] });

    const [abort] = await waitFor(
      async () => {
        const rows = await runs(`phase LIKE 'abort:%' AND event_id = ${id}`);
        return rows.length > 0 ? rows : undefined;
      },
      { timeoutMs: 5000, message: "the holder's signal to abort" },
    );
    expect(abort!.phase).toBe('abort:CANCELLED');
    expect(
      abort!.at_ms - cancelledAt,
      'ms from cancel to the abort in the other process',
    ).toBeLessThanOrEqual(1500);

    // The handler ignores its signal for a second and then returns normally; a clean stop waits
    // for it and for whatever the worker then tries to settle.
    await waitFor(async () => (await runs(`phase = 'return' AND event_id = ${id}`)).length === 1, {
      timeoutMs: 10_000,
      message: 'the late return',
    });
    await stopAll([holder]);
    const found = await bus.admin.event(id!);
    expect(found?.where).toBe('archive');
    const row = found!.row as { status: string; lastError: string | null; attempts: number };
    expect([row.status, row.lastError, row.attempts]).toEqual(['cancelled', 'operator: bad payload', 1]);
    expect(await count('SELECT COUNT(*) AS n FROM bus_events')).toBe(0);
    expect((await runs(`event_id = ${id}`)).map((r) => r.phase)).toEqual([
      'start',
      'abort:CANCELLED',
      'return',
    ]);
  }, 60_000);

  it('pause with 4 processes draining: no new start after the bounded time, a process started while paused does not claim, resume restarts them all', async () => {
    const drainers = await Promise.all(
      ['a', 'b', 'c', 'd'].map((n) => start(`drain-${n}`, ['drain'], { handleMs: 30 })),
    );
    const bus = await operator();
    await bus.publishBatch(
      EVENTS.drain,
      Array.from({ length: 1200 }, (_, n) => ({ n })),
    );
    await waitFor(async () => (await count("SELECT COUNT(*) AS n FROM runs WHERE phase = 'start'")) >= 100, {
      timeoutMs: 20_000,
      message: '100 runs started',
    });
    const startedBefore = new Set((await runs()).map((r) => r.worker));
    expect([...startedBefore].sort()).toEqual(['drain-a', 'drain-b', 'drain-c', 'drain-d']);

    const pausedAt = Date.now();
    expect(await bus.admin.pause('ctl')).toEqual({ changed: true });
    await observe(PAUSE_BOUND_MS + 1500);
    const late = await runs(`phase = 'start' AND at_ms > ${pausedAt + PAUSE_BOUND_MS}`);
    expect(late, 'runs that started after the pause had reached every process').toEqual([]);
    // Running rows finished; nothing is leased; the rest waits, paused, with its attempts intact.
    const [counts] = (await bus.admin.queues()).filter((q) => q.queue === 'ctl');
    expect(counts).toMatchObject({ paused: true, running: 0 });
    expect(counts!.available).toBeGreaterThan(0);
    expect(await count('SELECT COUNT(*) AS n FROM bus_events WHERE attempts <> 0')).toBe(0);

    // A process started while the queue is paused reads the pause before its first claim.
    const latecomer = await start('drain-e', ['drain'], { handleMs: 30 });
    await observe(1500);
    expect(await runs("worker = 'drain-e'")).toEqual([]);
    expect(await runs(`phase = 'start' AND at_ms > ${pausedAt + PAUSE_BOUND_MS}`)).toEqual([]);

    const resumedAt = Date.now();
    expect(await bus.admin.resume('ctl')).toEqual({ changed: true });
    const workers = [...drainers, latecomer];
    await waitFor(
      async () => {
        const after = new Set((await runs(`phase = 'start' AND at_ms >= ${resumedAt}`)).map((r) => r.worker));
        return workers.every((w) => after.has(w.id));
      },
      {
        timeoutMs: 10_000,
        message: 'every process, the latecomer included, to start runs again after resume',
      },
    );
    await waitFor(
      async () =>
        (await count("SELECT COUNT(*) AS n FROM bus_events_archive WHERE status = 'completed'")) === 1200,
      {
        timeoutMs: 60_000,
        intervalMs: 200,
        message: 'all 1200 rows completed',
      },
    );
    await stopAll(workers);
    // Each ran once: rows buffered at the pause went back without a run (attempts given back).
    expect(await count("SELECT COUNT(*) AS n FROM runs WHERE phase = 'start'")).toBe(1200);
    expect(await count('SELECT COUNT(DISTINCT event_id) AS n FROM runs')).toBe(1200);
    expect(await count('SELECT MAX(attempts) AS n FROM bus_events_archive')).toBe(1);
  }, 120_000);

  it("a worker without handler X leaves X's rows alone (attempts unchanged) while another process with X runs them", async () => {
    const old = await start('old', ['y']);
    const bus = await operator();
    const xs = await bus.publishBatch(
      EVENTS.x,
      Array.from({ length: 200 }, (_, n) => ({ n })),
    );
    await bus.publishBatch(
      EVENTS.y,
      Array.from({ length: 200 }, (_, n) => ({ n })),
    );
    await waitFor(
      async () =>
        (await count("SELECT COUNT(*) AS n FROM bus_events_archive WHERE handler_name = 'ctl.y'")) === 200,
      {
        timeoutMs: 20_000,
        message: 'the old process to finish the rows of the handler it has',
      },
    );
    // It passed over X's rows again and again: none leased, none counted, none archived.
    expect(
      await count(
        "SELECT COUNT(*) AS n FROM bus_events WHERE handler_name = 'ctl.x' AND attempts = 0 AND locked_by IS NULL",
      ),
    ).toBe(200);
    expect(await runs("handler = 'x'")).toEqual([]);

    const upgraded = await start('new', ['x', 'y']);
    await waitFor(
      async () =>
        (await count("SELECT COUNT(*) AS n FROM bus_events_archive WHERE handler_name = 'ctl.x'")) === 200,
      {
        timeoutMs: 20_000,
        message: 'the new process to run the rows of handler X',
      },
    );
    await stopAll([old, upgraded]);
    const xRuns = await runs("handler = 'x'");
    expect(xRuns.map((r) => r.event_id).sort()).toEqual([...xs].sort());
    expect(xRuns.every((r) => r.worker === 'new' && r.attempt === 1)).toBe(true);
    expect(
      await count(
        "SELECT COUNT(*) AS n FROM bus_events_archive WHERE handler_name = 'ctl.x' AND status = 'completed' AND attempts = 1",
      ),
    ).toBe(200);
  }, 60_000);

  it('redrive of 1,000 failed rows: each runs again once, under its id, with its handler and settings', async () => {
    const worker = await start('flaky', ['flaky'], { workers: 8, batch: 16 });
    const bus = await operator();
    const ids = await bus.publishBatch(
      EVENTS.flaky,
      Array.from({ length: 1000 }, (_, n) => ({ n })),
    );
    await waitFor(
      async () =>
        (await count("SELECT COUNT(*) AS n FROM bus_events_archive WHERE status = 'failed'")) === 1000,
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: '1000 rows discarded into the archive',
      },
    );
    expect(
      await count(
        "SELECT COUNT(*) AS n FROM bus_events_archive WHERE last_error LIKE '%the provider is down%'",
      ),
    ).toBe(1000);

    await t.admin.query('UPDATE fix_switch SET fixed = 1');
    const report = await bus.admin.redrive({ filter: { queue: 'ctl', handlerName: 'ctl.flaky' } });
    expect(report.count).toBe(1000);
    expect(report.unknown).toEqual([]);
    await waitFor(
      async () =>
        (await count("SELECT COUNT(*) AS n FROM bus_events_archive WHERE status = 'completed'")) === 1000,
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: '1000 redriven rows completed',
      },
    );
    await stopAll([worker]);

    // Twice each: the failed run and one more after the redrive, both as attempt 1.
    const [perRow] = (await t.admin.query(
      "SELECT COUNT(*) AS n, MIN(c) AS lo, MAX(c) AS hi FROM (SELECT COUNT(*) AS c FROM runs WHERE phase = 'start' GROUP BY event_id) x",
    )) as unknown as [{ n: number; lo: number; hi: number }[]];
    expect(perRow[0]).toEqual({ n: 1000, lo: 2, hi: 2 });
    expect(await count('SELECT COUNT(*) AS n FROM runs WHERE attempt <> 1')).toBe(0);
    const [archive] = (await t.admin.query(
      'SELECT CAST(id AS CHAR) AS row_id, handler_name, max_retries, attempts FROM bus_events_archive ORDER BY id',
    )) as unknown as [{ row_id: string; handler_name: string; max_retries: number; attempts: number }[]];
    expect(archive.map((r) => r.row_id)).toEqual([...ids].sort((a, b) => Number(a) - Number(b)));
    expect(
      archive.every((r) => r.handler_name === 'ctl.flaky' && r.max_retries === 0 && r.attempts === 1),
    ).toBe(true);
    expect(await count('SELECT COUNT(*) AS n FROM bus_events')).toBe(0);
  }, 90_000);
});
