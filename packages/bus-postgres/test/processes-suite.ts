import { createBus, Registry } from 'bus-core';
import { waitFor } from 'bus-testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresStore } from '../src/index.js';
import { DrainEvent, DrainHandler, type WorkerConfig } from './fixtures/drain.js';
import { createTestSchema, PG_URL, type TestSchema } from './helpers.js';
import { type PrivatePgBouncer, privatePgBouncer } from './private-servers.js';
import { bundleWorker, startWorker, type WorkerProcess } from './processes.js';

// Several OS processes share one database: claims are exclusive across them, NOTIFY wakes them,
// and a crashed process's rows come back through lease expiry and the rescuer. Run directly
// (processes.test.ts) and through PgBouncer in transaction mode (processes.pgbouncer.test.ts),
// where the workers name their tables by the store's `schema` option, have prepared statements
// off and LISTEN on a direct connection.

/** Runs the multi-process suite with the workers connected directly or through PgBouncer. */
export function processSuite(via: 'direct' | 'pgbouncer'): void {
  let t: TestSchema;
  let worker: Awaited<ReturnType<typeof bundleWorker>>;
  let bouncer: PrivatePgBouncer | undefined;
  const running: WorkerProcess[] = [];

  beforeAll(async () => {
    [t, worker, bouncer] = await Promise.all([
      createTestSchema('proc', { max: 4 }),
      bundleWorker(),
      via === 'pgbouncer' ? privatePgBouncer() : undefined,
    ]);
    await t.db.execute(sql`CREATE TABLE handled (
    event_id int8 NOT NULL, pid int4 NOT NULL, attempt int4 NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp()
  )`);
  });

  afterAll(async () => {
    for (const w of running.splice(0)) w.child.kill('SIGKILL');
    worker?.cleanup();
    await t?.drop();
    await bouncer?.stop();
  });

  async function reset(): Promise<void> {
    await t.db.execute(sql`TRUNCATE bus_events, bus_events_archive, handled`);
  }

  function config(over: Partial<WorkerConfig> = {}): WorkerConfig {
    return {
      url: bouncer?.url ?? PG_URL,
      schema: t.schema,
      ...(bouncer === undefined ? {} : { pooled: true, listenUrl: PG_URL }),
      workers: 40,
      batchSize: 40,
      leaseDuration: 3000,
      handlerDelayMs: 0,
      ...over,
    };
  }

  async function publisher() {
    const registry = new Registry();
    registry.register(DrainEvent, DrainHandler);
    const bus = createBus({
      store: postgresStore(t.db, { listen: false }),
      registry,
      queues: [{ queueName: 'drain', workers: 1, batchSize: 1, sleepInterval: 1000, archivePolicy: 'all' }],
    });
    await bus.init();
    return bus;
  }

  async function publish(total: number): Promise<void> {
    const bus = await publisher();
    const chunk = 5000;
    for (let start = 0; start < total; start += chunk) {
      const payloads = Array.from({ length: Math.min(chunk, total - start) }, (_, i) => ({ n: start + i }));
      await bus.publishBatch(DrainEvent, payloads);
    }
  }

  async function count(query: ReturnType<typeof sql>): Promise<number> {
    const rows = (await t.db.execute(query)) as unknown as { n: string }[];
    return Number(rows[0]!.n);
  }

  describe(`worker processes (${via})`, () => {
    it('4 processes drain 20,000 events: each handled exactly once and archived (policy all)', async () => {
      await reset();
      const workers = await Promise.all(Array.from({ length: 4 }, () => startWorker(worker.file, config())));
      running.push(...workers);
      // Published after the workers went idle: with a 30 s sleepInterval, only NOTIFY wakes them.
      await publish(20_000);
      await waitFor(async () => (await count(sql`SELECT count(*) AS n FROM bus_events_archive`)) === 20_000, {
        timeoutMs: 90_000,
        intervalMs: 200,
        message: '20,000 rows archived',
      });
      const stops = await Promise.all(workers.map((w) => w.stop()));
      running.splice(0);
      expect(stops.every((s) => s.clean)).toBe(true);

      expect(await count(sql`SELECT count(*) AS n FROM handled`)).toBe(20_000);
      expect(await count(sql`SELECT count(DISTINCT event_id) AS n FROM handled`)).toBe(20_000);
      expect(await count(sql`SELECT count(*) AS n FROM bus_events`)).toBe(0);
      expect(
        await count(
          sql`SELECT count(*) AS n FROM bus_events_archive WHERE status = 'completed' AND attempts = 1`,
        ),
      ).toBe(20_000);
      // Every archived row is one that a process handled.
      expect(
        await count(sql`SELECT count(*) AS n FROM bus_events_archive a LEFT JOIN handled h ON h.event_id = a.id
        WHERE h.event_id IS NULL`),
      ).toBe(0);
      const perProcess = (await t.db.execute(
        sql`SELECT pid, count(*)::int AS n FROM handled GROUP BY pid`,
      )) as unknown as { pid: number; n: number }[];
      expect(perProcess.length).toBeGreaterThanOrEqual(3);
    });

    it('a SIGKILLed process: every event still handled; only its in-flight events ran twice', async () => {
      await reset();
      const total = 5000;
      const workers = await Promise.all(
        Array.from({ length: 4 }, () =>
          startWorker(worker.file, config({ workers: 20, batchSize: 20, handlerDelayMs: 20 })),
        ),
      );
      running.push(...workers);
      const victim = workers[0]!;
      await publish(total);
      await waitFor(
        async () => (await count(sql`SELECT count(*) AS n FROM handled WHERE pid = ${victim.pid}`)) >= 300,
        { timeoutMs: 60_000, intervalMs: 20, message: 'the victim to have handled 300 events' },
      );
      victim.child.kill('SIGKILL');
      expect(await victim.exited).toBe(null);
      running.splice(running.indexOf(victim), 1);

      await waitFor(async () => (await count(sql`SELECT count(*) AS n FROM bus_events_archive`)) === total, {
        timeoutMs: 90_000,
        intervalMs: 200,
        message: `${total} rows archived after the crash`,
      });
      const survivors = workers.slice(1);
      await Promise.all(survivors.map((w) => w.stop()));
      running.splice(0);

      expect(await count(sql`SELECT count(DISTINCT event_id) AS n FROM handled`)).toBe(total);
      expect(await count(sql`SELECT count(*) AS n FROM bus_events`)).toBe(0);
      expect(await count(sql`SELECT count(*) AS n FROM bus_events_archive WHERE status = 'completed'`)).toBe(
        total,
      );

      // Events handled more than once: the first run was the victim's, the later ones a survivor's
      // with a higher attempt number, after the rescuer returned the row.
      const twice = (await t.db.execute(sql`SELECT event_id::text AS id,
        array_agg(pid ORDER BY attempt, at) AS pids, array_agg(attempt ORDER BY attempt, at) AS attempts
      FROM handled GROUP BY event_id HAVING count(*) > 1`)) as unknown as {
        id: string;
        pids: number[];
        attempts: number[];
      }[];
      for (const row of twice) {
        expect(row.pids[0], `event ${row.id} first ran in the killed process`).toBe(victim.pid);
        expect(row.pids.slice(1).includes(victim.pid), `event ${row.id}`).toBe(false);
        expect(new Set(row.attempts).size, `event ${row.id} attempts ${row.attempts}`).toBe(
          row.attempts.length,
        );
      }
      // The victim was killed mid-run, so some of its rows did run again: at most what it held (its
      // 20 worker slots plus finished outcomes not yet settled; the bound is loose for slow hosts).
      expect(twice.length).toBeGreaterThan(0);
      const retried = await count(sql`SELECT count(*) AS n FROM bus_events_archive WHERE attempts > 1`);
      expect(retried).toBeGreaterThanOrEqual(twice.length);
      expect(retried).toBeLessThanOrEqual(250);
    });

    it('a SIGKILLed process holding buffered rows: they run elsewhere once, with the attempt it took counted', async () => {
      await reset();
      const total = 300;
      // Two slots and 60 rows claimed ahead of them: the victim holds far more than it runs.
      const victim = await startWorker(
        worker.file,
        config({ workers: 2, batchSize: 60, prefetch: 60, handlerDelayMs: 100 }),
      );
      running.push(victim);
      await publish(total);
      await waitFor(
        async () =>
          (await count(sql`SELECT count(*) AS n FROM handled WHERE pid = ${victim.pid}`)) >= 4 &&
          (await count(
            sql`SELECT count(*) AS n FROM bus_events WHERE locked_by = ${`proc-${victim.pid}`}`,
          )) >= 50,
        { timeoutMs: 30_000, intervalMs: 20, message: 'the victim running two rows with ~60 buffered' },
      );
      victim.child.kill('SIGKILL');
      expect(await victim.exited).toBe(null);
      running.splice(running.indexOf(victim), 1);
      const ranInVictim = await count(
        sql`SELECT count(DISTINCT event_id) AS n FROM handled WHERE pid = ${victim.pid}`,
      );

      const survivors = await Promise.all(
        Array.from({ length: 2 }, () => startWorker(worker.file, config())),
      );
      running.push(...survivors);
      await waitFor(async () => (await count(sql`SELECT count(*) AS n FROM bus_events_archive`)) === total, {
        timeoutMs: 60_000,
        intervalMs: 100,
        message: `${total} rows archived after the crash`,
      });
      await Promise.all(survivors.map((w) => w.stop()));
      running.splice(0);

      expect(await count(sql`SELECT count(DISTINCT event_id) AS n FROM handled`)).toBe(total);
      // Only rows the victim had started ran twice; its buffered rows ran once, elsewhere, as their
      // second attempt (the claim counted one).
      const twice = await count(sql`SELECT count(*) AS n FROM (
      SELECT event_id FROM handled GROUP BY event_id HAVING count(*) > 1) d`);
      expect(twice).toBeLessThanOrEqual(ranInVictim);
      const bufferedThenRescued = await count(sql`SELECT count(*) AS n FROM bus_events_archive a
      WHERE a.attempts = 2 AND NOT EXISTS (SELECT 1 FROM handled h WHERE h.event_id = a.id AND h.pid = ${victim.pid})`);
      expect(bufferedThenRescued).toBeGreaterThanOrEqual(40);
      expect(await count(sql`SELECT count(*) AS n FROM bus_events_archive WHERE status = 'completed'`)).toBe(
        total,
      );
    });
  });
}
