import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createBus,
  defineEvent,
  defineSchedule,
  isBusError,
  type MissedTickPolicy,
  Registry,
} from 'bus-core';
import { waitFor } from 'bus-testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresStore } from '../src/index.js';
import { createTestSchema, PG_URL, type TestSchema } from './helpers.js';
import { startWorker, type WorkerProcess } from './processes.js';

// Unique publish and schedules on a real PostgreSQL: concurrent publishers of one key in
// transactions that roll back at random, missed-tick policies while no process runs, and five
// worker processes with skewed host clocks (one SIGKILLed and restarted) publishing an
// every-second schedule: each tick exactly once.

const here = dirname(fileURLToPath(import.meta.url));
let t: TestSchema;
const running: WorkerProcess[] = [];

beforeAll(async () => {
  t = await createTestSchema('sched', { max: 20 });
});

afterAll(async () => {
  for (const w of running.splice(0)) w.child.kill('SIGKILL');
  await t?.drop();
});

const Order = defineEvent<{ orderId: number }>('unique.order');
const handlerOf = (handlerName: string) =>
  class {
    static readonly handlerName = handlerName;
    static readonly settings = { queueName: 'orders', maxRetries: 0, executionTimeout: 10_000 };
    handle(): void {}
  };

async function count(query: ReturnType<typeof sql>): Promise<number> {
  const rows = (await t.db.execute(query)) as unknown as { n: string }[];
  return Number(rows[0]!.n);
}

describe('unique publish on PostgreSQL', () => {
  it('50 concurrent publishers of one key, some rolling back: one row per handler, free again after it leaves', async () => {
    const registry = new Registry();
    registry.register(Order, handlerOf('unique.bill'));
    registry.register(Order, handlerOf('unique.ship'));
    const bus = createBus({
      store: postgresStore(t.db),
      registry,
      queues: [{ queueName: 'orders', workers: 4, batchSize: 10, sleepInterval: 100, archivePolicy: 'all' }],
    });
    await bus.init();
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        try {
          return await t.db.transaction(async (tx) => {
            const result = await bus.publishUniqueTxn(tx, Order, { orderId: i }, { key: 'order-42' });
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
            if (Math.random() < 0.4) throw new Error('roll back');
            return result;
          });
        } catch (error) {
          if ((error as Error).message === 'roll back') return 'rolled back' as const;
          throw error;
        }
      }),
    );
    const committed = outcomes.filter((o) => o !== 'rolled back');
    const winners = committed.filter((o) => !o.duplicate);
    expect(winners.length).toBeLessThanOrEqual(1);
    const rows = (await t.db.execute(
      sql`SELECT handler_name, count(*)::text AS n FROM bus_events WHERE unique_key = 'order-42' GROUP BY 1 ORDER BY 1`,
    )) as unknown as { handler_name: string; n: string }[];
    if (winners.length === 1) {
      expect(rows).toEqual([
        { handler_name: 'unique.bill', n: '1' },
        { handler_name: 'unique.ship', n: '1' },
      ]);
      for (const o of committed) expect(o.ids).toEqual(winners[0]!.ids);
    } else {
      expect(rows).toEqual([]);
    }
    // The rows run and leave the hot table: a live-only key is free again.
    await bus.controller.startWorkers();
    await waitFor(async () => (await count(sql`SELECT count(*)::text AS n FROM bus_events`)) === 0, {
      message: 'the rows to be handled',
    });
    const again = await bus.publishUnique(Order, { orderId: 0 }, { key: 'order-42' });
    expect(again.duplicate).toBe(false);
    await bus.controller.awaitTerminationWithTimeout(5000);
    const late = await bus.publishUnique(Order, { orderId: 0 }, { key: 'x' }).catch((e) => e);
    expect(isBusError(late, 'SHUT_DOWN')).toBe(true);
  });
});

describe('schedules on PostgreSQL', () => {
  it('missed ticks while no process ran follow each policy (grace = one interval)', async () => {
    const Tick = defineEvent<{ at: string }>('missed.tick');
    const registry = new Registry();
    registry.register(
      Tick,
      class {
        static readonly handlerName = 'missed.handler';
        static readonly settings = { queueName: 'missed', maxRetries: 0, executionTimeout: 10_000 };
        handle(): void {}
      },
    );
    const store = postgresStore(t.db, { listen: false });
    const bus = createBus({
      store,
      registry,
      queues: [{ queueName: 'missed', workers: 1, batchSize: 1, sleepInterval: 1000, archivePolicy: 'all' }],
    });
    const policies: [string, MissedTickPolicy, number][] = [
      ['m-skip', 'skip', 1],
      ['m-last', 'last', 2],
      ['m-backfill', { backfill: 2 }, 3],
    ];
    for (const [name, missed] of policies) {
      bus.schedule(
        defineSchedule({
          name,
          event: Tick,
          every: 1000,
          graceMs: 1000,
          missed,
          payload: (at) => ({ at: at.toISOString() }),
        }),
      );
    }
    await bus.init();
    await bus.schedules.runDue();
    const start = (await store.now()).getTime();
    // No process publishes for 4.5 s: three or four ticks are older than the grace.
    await waitFor(async () => (await store.now()).getTime() > start + 4500, {
      message: '4.5 s of database time',
    });
    const published = await bus.schedules.runDue();
    for (const [name, , expected] of policies) {
      const ticks = published.filter((p) => p.schedule === name).map((p) => p.tickAt.getTime());
      expect(ticks.length, name).toBe(expected);
      // The latest ones, one second apart, ending at the last tick due.
      expect(gaps(ticks), name).toEqual(ticks.slice(1).map(() => 1000));
    }
    // Another round publishes only ticks that came due since: none again.
    const seen = new Set(published.map((p) => `${p.schedule}@${p.tickAt.getTime()}`));
    for (const p of await bus.schedules.runDue())
      expect(seen.has(`${p.schedule}@${p.tickAt.getTime()}`)).toBe(false);
  });

  it('5 worker processes with skewed clocks, one SIGKILLed and restarted: 60 ticks, each exactly once', async () => {
    const bundle = await bundle_('schedule-worker');
    try {
      const skews = [-30_000, -4_000, 0, 7_000, 45_000];
      const config = (skewMs: number) => ({ url: PG_URL, schema: t.schema, skewMs }) as never;
      running.push(...(await Promise.all(skews.map((s) => startWorker(bundle.file, config(s))))));
      const ticks = () =>
        count(sql`SELECT count(DISTINCT payload_json->>'at')::text AS n FROM (
          SELECT payload_json FROM bus_events WHERE event_name = 'sched.tick'
          UNION ALL SELECT payload_json FROM bus_events_archive WHERE event_name = 'sched.tick') r`);
      await waitFor(async () => (await ticks()) >= 20, { timeoutMs: 40_000, message: '20 ticks' });
      const victim = running[1]!;
      victim.child.kill('SIGKILL');
      await victim.exited;
      running.splice(1, 1, await startWorker(bundle.file, config(skews[1]!)));
      await waitFor(async () => (await ticks()) >= 60, { timeoutMs: 60_000, message: '60 ticks' });
      await Promise.all(running.splice(0).map((w) => w.stop()));
      const rows = (await t.db.execute(sql`SELECT payload_json->>'at' AS at, count(*)::text AS n FROM (
          SELECT payload_json FROM bus_events WHERE event_name = 'sched.tick'
          UNION ALL SELECT payload_json FROM bus_events_archive WHERE event_name = 'sched.tick') r
        GROUP BY 1 ORDER BY 1`)) as unknown as { at: string; n: string }[];
      expect(rows.length).toBeGreaterThanOrEqual(60);
      expect(rows.filter((r) => r.n !== '1')).toEqual([]);
      const times = rows.map((r) => Date.parse(r.at));
      expect(gaps(times), 'no tick skipped').toEqual(times.slice(1).map(() => 1000));
    } finally {
      bundle.cleanup();
    }
  }, 100_000);
});

/** The differences between neighbours. */
function gaps(values: number[]): number[] {
  return values.slice(1).map((v, i) => v - values[i]!);
}

interface Esbuild {
  build(options: Record<string, unknown>): Promise<unknown>;
}

async function bundle_(entry: string): Promise<{ file: string; cleanup(): void }> {
  const require = createRequire(import.meta.url);
  const esbuild = createRequire(require.resolve('tsup'))('esbuild') as Esbuild;
  const dir = mkdtempSync(join(tmpdir(), `bus-pg-${entry}-`));
  const file = join(dir, `${entry}.mjs`);
  await esbuild.build({
    entryPoints: [join(here, 'fixtures', `${entry}.ts`)],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['source'],
    logLevel: 'error',
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
