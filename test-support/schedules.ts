/**
 * The unique-publish and schedule scenarios for every driver (test/schedules.test.ts): concurrent
 * publishers of one key in transactions that roll back at random, missed-tick policies while no
 * process runs, and five worker processes with skewed host clocks (one SIGKILLed and restarted)
 * publishing an every-second schedule. The driver's test gives its store, its transactions and
 * how to read its tables; the assertions live here, once.
 */
import { expect } from 'vitest';
import {
  createBus,
  defineEvent,
  defineSchedule,
  isBusError,
  type MissedTickPolicy,
  type QueueStore,
  Registry,
} from '../packages/bus-core/src/index.js';
import { waitFor } from '../packages/bus-testing/src/wait.js';
import { bundleFixture, startWorker, type WorkerProcess } from './worker-process.js';

const Order = defineEvent<{ orderId: number }>('unique.order');
const handlerOf = (handlerName: string) =>
  class {
    static readonly handlerName = handlerName;
    static readonly settings = { queueName: 'orders', maxRetries: 0, executionTimeout: 10_000 };
    handle(): void {}
  };

/** What the unique-publish scenario needs from the driver's test. */
export interface UniquePublishersOptions<TTx> {
  store: QueueStore<TTx>;
  /** Runs `fn` in a transaction of the driver's client (rolled back when `fn` throws). */
  transaction<T>(fn: (tx: TTx) => Promise<T>): Promise<T>;
  /** A publisher's error the driver counts as its transaction rolled back (besides the test's own). */
  rolledBack?(error: unknown): boolean;
  /** `unique.order` rows in the hot table per handler, as strings, ordered by handler. */
  rowsByHandler(): Promise<{ handler_name: string; n: string }[]>;
  /** How many rows the hot table holds. */
  liveRows(): Promise<number>;
}

/** 50 concurrent publishers of one key, some rolling back: one row per handler, free again after it leaves. */
export async function runUniquePublishers<TTx>(o: UniquePublishersOptions<TTx>): Promise<void> {
  const registry = new Registry();
  registry.register(Order, handlerOf('unique.bill'));
  registry.register(Order, handlerOf('unique.ship'));
  const bus = createBus({
    store: o.store,
    registry,
    queues: [{ queueName: 'orders', workers: 4, batchSize: 10, sleepInterval: 100, archivePolicy: 'all' }],
  });
  await bus.init();
  const outcomes = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      try {
        return await o.transaction(async (tx) => {
          const result = await bus.publishUniqueTxn(tx, Order, { orderId: i }, { key: 'order-42' });
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
          if (Math.random() < 0.4) throw new Error('roll back');
          return result;
        });
      } catch (error) {
        if ((error as Error).message === 'roll back') return 'rolled back' as const;
        if (o.rolledBack?.(error)) return 'rolled back' as const;
        throw error;
      }
    }),
  );
  const committed = outcomes.filter((x) => x !== 'rolled back');
  const winners = committed.filter((x) => !x.duplicate);
  expect(winners.length).toBeLessThanOrEqual(1);
  const rows = await o.rowsByHandler();
  if (winners.length === 1) {
    expect(rows).toEqual([
      { handler_name: 'unique.bill', n: '1' },
      { handler_name: 'unique.ship', n: '1' },
    ]);
    for (const x of committed) expect(x.ids).toEqual(winners[0]!.ids);
  } else {
    expect(rows).toEqual([]);
  }
  // The rows run and leave the hot table: a live-only key is free again.
  await bus.controller.startWorkers();
  await waitFor(async () => (await o.liveRows()) === 0, {
    message: 'the rows to be handled',
  });
  const again = await bus.publishUnique(Order, { orderId: 0 }, { key: 'order-42' });
  expect(again.duplicate).toBe(false);
  await bus.controller.awaitTerminationWithTimeout(5000);
  const late = await bus.publishUnique(Order, { orderId: 0 }, { key: 'x' }).catch((e) => e);
  expect(isBusError(late, 'SHUT_DOWN')).toBe(true);
}

/** Missed ticks while no process ran follow each policy (grace = one interval). */
export async function runMissedTicks(store: QueueStore<any>): Promise<void> {
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
}

/** What the skewed-clocks scenario needs from the driver's test. */
export interface SkewedSchedulersOptions {
  /** The driver's test/fixtures folder, holding schedule-worker.ts. */
  fixturesDir: string;
  /** Prefix of the bundle's temporary folder. */
  bundlePrefix: string;
  /** The worker's config (BUS_WORKER) for a host clock skewed by `skewMs`. */
  config(skewMs: number): unknown;
  /** Each `sched.tick` payload's `at` in the hot and archive tables with its count, as strings, ordered by `at`. */
  tickRows(): Promise<{ at: string; n: string }[]>;
  /** How many distinct `sched.tick` payloads the hot and archive tables hold. */
  distinctTicks(): Promise<number>;
  /** The test's list of running workers, killed by its afterAll if the scenario fails. */
  running: WorkerProcess[];
}

/** 5 worker processes with skewed clocks, one SIGKILLed and restarted: 60 ticks, each exactly once. */
export async function runSkewedSchedulers(o: SkewedSchedulersOptions): Promise<void> {
  const { running } = o;
  const bundle = await bundleFixture(o.fixturesDir, 'schedule-worker', o.bundlePrefix);
  try {
    const skews = [-30_000, -4_000, 0, 7_000, 45_000];
    running.push(...(await Promise.all(skews.map((s) => startWorker(bundle.file, o.config(s))))));
    await waitFor(async () => (await o.distinctTicks()) >= 20, { timeoutMs: 40_000, message: '20 ticks' });
    const victim = running[1]!;
    victim.child.kill('SIGKILL');
    await victim.exited;
    running.splice(1, 1, await startWorker(bundle.file, o.config(skews[1]!)));
    await waitFor(async () => (await o.distinctTicks()) >= 60, { timeoutMs: 60_000, message: '60 ticks' });
    await Promise.all(running.splice(0).map((w) => w.stop()));
    const rows = await o.tickRows();
    expect(rows.length).toBeGreaterThanOrEqual(60);
    expect(rows.filter((r) => r.n !== '1')).toEqual([]);
    const times = rows.map((r) => Date.parse(r.at));
    expect(gaps(times), 'no tick skipped').toEqual(times.slice(1).map(() => 1000));
  } finally {
    bundle.cleanup();
  }
}

/** The differences between neighbours. */
function gaps(values: number[]): number[] {
  return values.slice(1).map((v, i) => v - values[i]!);
}
