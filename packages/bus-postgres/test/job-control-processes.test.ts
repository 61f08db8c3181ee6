import { createBus, Registry } from 'bus-core';
import { waitFor } from 'bus-testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import {
  CONTROL_SETTINGS,
  type ControlHandler,
  type ControlWorkerConfig,
  EVENTS,
  RUNS_TABLE,
} from './fixtures/control-worker.js';
import { createTestSchema, PG_URL, type TestSchema } from './helpers.js';
import { bundleWorker, startWorker, type WorkerProcess } from './processes.js';

// Job control across worker OS processes on PostgreSQL (issue 15): cancel of a row running in
// another process, pause and resume with several processes draining, a rolling deploy's old
// process leaving a new handler's rows alone, and redrive of a thousand failed rows. The workers
// record every run in `runs` with the database's clock, which the test reads too.

let t: TestSchema;
let store: PostgresStore;
let bundle: Awaited<ReturnType<typeof bundleWorker>>;
const running: (WorkerProcess & { id: string })[] = [];

/** How long a pause takes to reach every process: the watcher's 1 s poll, a claim and a run in flight, with room for a loaded machine. */
const PAUSE_BOUND_MS = 2500;

beforeAll(async () => {
  [t, bundle] = await Promise.all([createTestSchema('jcproc', { max: 4 }), bundleWorker('control-worker')]);
  store = postgresStore(t.db, { listen: false });
  await t.db.execute(sql.raw(RUNS_TABLE));
  await t.db.execute(sql`CREATE TABLE fix_switch (fixed int4 NOT NULL)`);
});

afterAll(async () => {
  for (const w of running.splice(0)) w.child.kill('SIGKILL');
  bundle?.cleanup();
  await t?.drop();
});

beforeEach(async () => {
  await t.truncate();
  await t.db.execute(sql`TRUNCATE runs, fix_switch`);
  await t.db.execute(sql`INSERT INTO fix_switch VALUES (0)`);
});

async function start(workerId: string, handlers: ControlHandler[], extra: Partial<ControlWorkerConfig> = {}) {
  const config: ControlWorkerConfig = { url: PG_URL, schema: t.schema, workerId, handlers, ...extra };
  const worker = Object.assign(await startWorker(bundle.file, config), { id: workerId });
  running.push(worker);
  return worker;
}

async function stopAll(workers: (WorkerProcess & { id: string })[]): Promise<void> {
  const stops = await Promise.all(workers.map((w) => w.stop()));
  for (const w of workers) running.splice(running.indexOf(w), 1);
  stops.forEach((s, i) => {
    expect(s, `${workers[i]!.id}: ${workers[i]!.stderr()}`).toEqual({ clean: true, errors: 0 });
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
        static readonly settings = CONTROL_SETTINGS;
        handle(): void {}
      },
    );
  }
  const bus = createBus({
    store: postgresStore(t.db),
    registry,
    queues: [{ queueName: 'ctl', workers: 1, batchSize: 1, sleepInterval: 1000, archivePolicy: 'all' }],
  });
  return bus.init();
}

interface Run {
  event_id: string;
  handler: string;
  worker: string;
  attempt: number;
  phase: string;
  /** The database's clock, epoch ms. */
  at: number;
}

async function runs(where = sql`TRUE`): Promise<Run[]> {
  const rows = (await t.db.execute(sql`SELECT event_id::text AS event_id, handler, worker, attempt, phase,
    (extract(epoch FROM at) * 1000)::float8 AS at FROM runs WHERE ${where} ORDER BY seq`)) as unknown as Run[];
  return rows.map((r) => ({ ...r, at: Number(r.at) }));
}

async function count(query: ReturnType<typeof sql>): Promise<number> {
  const rows = (await t.db.execute(query)) as unknown as { n: string }[];
  return Number(rows[0]!.n);
}

/** Watches for `ms` (a negative assertion needs a window): resolves when it has passed. */
function observe(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The database's clock, epoch ms: the clock `runs.at` is on. */
async function dbNow(): Promise<number> {
  return (await store.now()).getTime();
}

describe('job control across worker processes (PostgreSQL)', () => {
  it("cancel of a row running in another process: its signal fires within 1.5 s, it is archived cancelled, and the holder's late completion is refused", async () => {
    const holder = await start('holder', ['slow'], { lateMs: 1000 });
    const bus = await operator();
    const [id] = await bus.publish(EVENTS.slow, { n: 1 });
    await waitFor(async () => (await runs(sql`phase = 'start' AND event_id = ${id}::int8`)).length === 1, {
      timeoutMs: 10_000,
      message: 'the row to start in the holder process',
    });

    const cancelledAt = await dbNow();
    const report = await bus.admin.cancel({ ids: [id!] }, { reason: 'operator: bad payload' });
    expect(report).toEqual({ count: 1, ids: [id], unknown: [] });

    const [abort] = await waitFor(
      async () => {
        const rows = await runs(sql`phase LIKE 'abort:%' AND event_id = ${id}::int8`);
        return rows.length > 0 ? rows : undefined;
      },
      { timeoutMs: 5000, message: "the holder's signal to abort" },
    );
    expect(abort!.phase).toBe('abort:CANCELLED');
    expect(abort!.at - cancelledAt, 'ms from cancel to the abort in the other process').toBeLessThanOrEqual(
      1500,
    );

    // The handler ignores its signal for a second and then returns normally; a clean stop waits
    // for it and for whatever the worker then tries to settle.
    await waitFor(async () => (await runs(sql`phase = 'return' AND event_id = ${id}::int8`)).length === 1, {
      timeoutMs: 10_000,
      message: 'the late return',
    });
    await stopAll([holder]);
    const found = await bus.admin.event(id!);
    expect(found?.where).toBe('archive');
    const row = found!.row as { status: string; lastError: string | null; attempts: number };
    expect([row.status, row.lastError, row.attempts]).toEqual(['cancelled', 'operator: bad payload', 1]);
    expect(await count(sql`SELECT count(*) AS n FROM bus_events`)).toBe(0);
    expect((await runs(sql`event_id = ${id}::int8`)).map((r) => r.phase)).toEqual([
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
    await waitFor(
      async () => (await count(sql`SELECT count(*) AS n FROM runs WHERE phase = 'start'`)) >= 100,
      {
        timeoutMs: 20_000,
        message: '100 runs started',
      },
    );
    const startedBefore = new Set((await runs()).map((r) => r.worker));
    expect([...startedBefore].sort()).toEqual(['drain-a', 'drain-b', 'drain-c', 'drain-d']);

    const pausedAt = await dbNow();
    expect(await bus.admin.pause('ctl')).toEqual({ changed: true });
    await observe(PAUSE_BOUND_MS + 1500);
    const late = await runs(
      sql`phase = 'start' AND at > to_timestamp(${(pausedAt + PAUSE_BOUND_MS) / 1000})`,
    );
    expect(late, 'runs that started after the pause had reached every process').toEqual([]);
    // Running rows finished; nothing is leased; the rest waits, paused, with its attempts intact.
    const [counts] = (await bus.admin.queues()).filter((q) => q.queue === 'ctl');
    expect(counts).toMatchObject({ paused: true, running: 0 });
    expect(counts!.available).toBeGreaterThan(0);
    expect(await count(sql`SELECT count(*) AS n FROM bus_events WHERE attempts <> 0`)).toBe(0);

    // A process started while the queue is paused reads the pause before its first claim.
    const latecomer = await start('drain-e', ['drain'], { handleMs: 30 });
    await observe(1500);
    expect(await runs(sql`worker = 'drain-e'`)).toEqual([]);
    expect(
      await runs(sql`phase = 'start' AND at > to_timestamp(${(pausedAt + PAUSE_BOUND_MS) / 1000})`),
    ).toEqual([]);

    const resumedAt = await dbNow();
    expect(await bus.admin.resume('ctl')).toEqual({ changed: true });
    const workers = [...drainers, latecomer];
    await waitFor(
      async () => {
        const after = await runs(sql`phase = 'start' AND at >= to_timestamp(${resumedAt / 1000})`);
        const names = new Set(after.map((r) => r.worker));
        return workers.every((w) => names.has(w.id));
      },
      {
        timeoutMs: 10_000,
        message: 'every process, the latecomer included, to start runs again after resume',
      },
    );
    await waitFor(
      async () =>
        (await count(sql`SELECT count(*) AS n FROM bus_events_archive WHERE status = 'completed'`)) === 1200,
      { timeoutMs: 60_000, intervalMs: 200, message: 'all 1200 rows completed' },
    );
    await stopAll(workers);
    // Each ran once: rows buffered at the pause went back without a run (attempts given back).
    expect(await count(sql`SELECT count(*) AS n FROM runs WHERE phase = 'start'`)).toBe(1200);
    expect(await count(sql`SELECT count(DISTINCT event_id) AS n FROM runs`)).toBe(1200);
    expect(await count(sql`SELECT max(attempts) AS n FROM bus_events_archive`)).toBe(1);
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
        (await count(sql`SELECT count(*) AS n FROM bus_events_archive WHERE handler_name = 'ctl.y'`)) === 200,
      { timeoutMs: 20_000, message: 'the old process to finish the rows of the handler it has' },
    );
    // It passed over X's rows again and again: none leased, none counted, none archived.
    expect(
      await count(
        sql`SELECT count(*) AS n FROM bus_events WHERE handler_name = 'ctl.x' AND attempts = 0 AND locked_by IS NULL`,
      ),
    ).toBe(200);
    expect(await runs(sql`handler = 'x'`)).toEqual([]);

    const upgraded = await start('new', ['x', 'y']);
    await waitFor(
      async () =>
        (await count(sql`SELECT count(*) AS n FROM bus_events_archive WHERE handler_name = 'ctl.x'`)) === 200,
      { timeoutMs: 20_000, message: 'the new process to run the rows of handler X' },
    );
    await stopAll([old, upgraded]);
    const xRuns = await runs(sql`handler = 'x'`);
    expect(xRuns.map((r) => r.event_id).sort()).toEqual([...xs].sort());
    expect(xRuns.every((r) => r.worker === 'new' && r.attempt === 1)).toBe(true);
    expect(
      await count(
        sql`SELECT count(*) AS n FROM bus_events_archive WHERE handler_name = 'ctl.x' AND status = 'completed' AND attempts = 1`,
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
        (await count(sql`SELECT count(*) AS n FROM bus_events_archive WHERE status = 'failed'`)) === 1000,
      { timeoutMs: 30_000, intervalMs: 100, message: '1000 rows discarded into the archive' },
    );
    expect(
      await count(
        sql`SELECT count(*) AS n FROM bus_events_archive WHERE strpos(last_error, 'the provider is down') > 0`,
      ),
    ).toBe(1000);

    await t.db.execute(sql`UPDATE fix_switch SET fixed = 1`);
    const report = await bus.admin.redrive({ filter: { queue: 'ctl', handlerName: 'ctl.flaky' } });
    expect(report.count).toBe(1000);
    expect(report.unknown).toEqual([]);
    await waitFor(
      async () =>
        (await count(sql`SELECT count(*) AS n FROM bus_events_archive WHERE status = 'completed'`)) === 1000,
      { timeoutMs: 30_000, intervalMs: 100, message: '1000 redriven rows completed' },
    );
    await stopAll([worker]);

    // Twice each: the failed run and one more after the redrive, both as attempt 1.
    const [perRow] = (await t.db.execute(sql`SELECT count(*)::int AS n, min(c)::int AS lo, max(c)::int AS hi
      FROM (SELECT count(*) AS c FROM runs WHERE phase = 'start' GROUP BY event_id) x`)) as unknown as {
      n: number;
      lo: number;
      hi: number;
    }[];
    expect(perRow).toEqual({ n: 1000, lo: 2, hi: 2 });
    expect(await count(sql`SELECT count(*) AS n FROM runs WHERE attempt <> 1`)).toBe(0);
    const archive = (await t.db.execute(
      sql`SELECT id::text AS row_id, handler_name, max_retries, attempts FROM bus_events_archive ORDER BY id`,
    )) as unknown as { row_id: string; handler_name: string; max_retries: number; attempts: number }[];
    expect(archive.map((r) => r.row_id)).toEqual([...ids].sort((a, b) => Number(a) - Number(b)));
    expect(
      archive.every((r) => r.handler_name === 'ctl.flaky' && r.max_retries === 0 && r.attempts === 1),
    ).toBe(true);
    expect(await count(sql`SELECT count(*) AS n FROM bus_events`)).toBe(0);
  }, 90_000);
});
