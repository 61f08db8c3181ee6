/**
 * The injected-fault drain of issue 12, item 3, for every driver: publishers and workers run
 * through `faultyStore` (a share of every store call fails as the server would fail it), with
 * handler retries, an archive of everything and retention pruning it. The driver's test gives
 * the real store and how its server's errors look; this checks what a user would: every
 * published row ran, none ran twice without a fault to explain it, and the workers never stopped.
 */
import { expect } from 'vitest';
import {
  createBus,
  defineEvent,
  type EventHandler,
  type HandlerContext,
  isBusError,
  type QueueStore,
  Registry,
} from '../packages/bus-core/src/index.js';
import { waitFor } from '../packages/bus-testing/src/wait.js';
import { type Fault, type FaultStats, faultyStore } from './fault-store.js';

/** What the drain needs from the driver's test. */
export interface FaultDrainOptions {
  /** The real store on a database of the test's own, with empty tables. */
  store: QueueStore<any>;
  /** The error the store would raise for `fault` (its own mapping of the server error). */
  errorFor(fault: Fault): unknown;
  /** Rows to publish (100,000 in the issue). */
  rows: number;
  /** Share of store calls that fail (0.01 in the issue). */
  rate?: number;
  /** Rows per publishBatch. */
  batch?: number;
  /** Handler slots and claim batch of the queue. */
  workers?: number;
  batchSize?: number;
  /** Milliseconds to wait for the drain. */
  timeoutMs?: number;
}

/** What the drain observed, for the test to assert on and print. */
export interface FaultDrainReport {
  stats: FaultStats;
  /** Ids every real insert returned (acknowledged or not). */
  inserted: Set<string>;
  /** Ids the publisher was told about. */
  acknowledged: Set<string>;
  /** Successful handler runs per row id: the attempt numbers. */
  completions: Map<string, number[]>;
  /** Runs that failed on purpose (the retry path). */
  failedOnPurpose: number;
  /** Publishes that rejected: by BusError code. */
  rejected: Record<string, number>;
  /** Rows archived (pruned by retention + still in the archive). */
  archivedTotal: number;
  /** Rows with two successful runs, and whether a fault named each of them. */
  rerun: { id: string; attempts: number[]; touched: boolean }[];
  /** Error log lines the bus wrote. */
  errors: string[];
  /** Milliseconds from the first publish to the drained queue. */
  elapsedMs: number;
  /** Milliseconds the publishers took (workers running meanwhile). */
  publishMs: number;
}

const FaultEvent = defineEvent<{ n: number }>('fault.event');

/** Every store member a code path of the issue goes through: each must see a fault. */
export const FAULTED_PATHS = ['insert', 'claim', 'settle', 'extendLeases', 'listExpired', 'rescue', 'prune'];

const reset = (call: number, phase: 'before' | 'after') => ({
  call,
  kind: 'connection-reset' as const,
  phase,
});

// Beside the 1% drawn at random, one fault on an early call of each path, so every run has them
// all: a publish that may have committed (reset after) and one that did not (reset before); a
// claim whose rows were leased but never reached the worker (they expire and are rescued, which
// is how rescue gets called at all); a settle, rescue and prune that applied but whose answer was
// lost (the retry is refused by the fence, or finds nothing); a conflict in the heartbeat and in
// the expiry scan.
const FORCED = {
  insert: [reset(2, 'after'), reset(3, 'before')],
  claim: [reset(2, 'after')],
  settle: [reset(2, 'after')],
  extendLeases: [{ call: 1, kind: 'deadlock' as const, phase: 'before' as const }],
  listExpired: [{ call: 2, kind: 'lock-wait' as const, phase: 'before' as const }],
  rescue: [reset(1, 'after')],
  prune: [reset(2, 'after')],
};

/**
 * Runs the drain and returns what it saw; throws only when the queue does not drain in time.
 *
 * @example
 * const report = await runFaultDrain({ store: mysqlStore(t.db), errorFor, rows: 100_000 });
 */
export async function runFaultDrain(options: FaultDrainOptions): Promise<FaultDrainReport> {
  const faulty = faultyStore(options.store, {
    rate: options.rate ?? 0.01,
    seed: 20261202,
    force: FORCED,
    // init's schema check, the clock and listen are not the code paths; inspect is how
    // this test reads the result.
    spare: ['checkSchema', 'now', 'listen', 'transaction'],
    errorFor: options.errorFor,
  });
  const completions = new Map<string, number[]>();
  let failedOnPurpose = 0;
  class FaultHandler implements EventHandler<{ n: number }> {
    static readonly handlerName = 'fault.handler';
    static readonly settings = { queueName: 'faults', maxRetries: 20, executionTimeout: 30_000 };
    static calculateScheduledAt(): number {
      return 0;
    }
    async handle(payload: { n: number }, ctx: HandlerContext): Promise<void> {
      await new Promise((resolve) => setImmediate(resolve));
      // A few rows outlive a third of the lease, so heartbeats always have rows to extend.
      if (payload.n % 10_000 === 1) await new Promise((resolve) => setTimeout(resolve, 1500));
      if (payload.n % 97 === 0 && ctx.attempt === 1) {
        failedOnPurpose++;
        throw new Error(`row ${payload.n} fails its first attempt on purpose`);
      }
      const runs = completions.get(ctx.id) ?? [];
      runs.push(ctx.attempt);
      completions.set(ctx.id, runs);
    }
  }
  const registry = new Registry();
  registry.register(FaultEvent, FaultHandler);
  const errors: string[] = [];
  const bus = createBus({
    store: faulty.store,
    registry,
    rescueInterval: 250,
    archiveRetention: 1000,
    logger: { debug() {}, info() {}, warn() {}, error: (m) => void errors.push(m) },
    queues: [
      {
        queueName: 'faults',
        workers: options.workers ?? 64,
        batchSize: options.batchSize ?? 128,
        sleepInterval: 50,
        archivePolicy: 'all',
        leaseDuration: 3000,
      },
    ],
  });
  await bus.init();
  const started = Date.now();
  await bus.controller.startWorkers();

  const acknowledged = new Set<string>();
  const rejected: Record<string, number> = {};
  const batch = options.batch ?? 500;
  const publisher = async (from: number, to: number) => {
    for (let n = from; n < to; ) {
      const payloads = Array.from({ length: Math.min(batch, to - n) }, (_, i) => ({ n: n + i }));
      try {
        for (const id of await bus.publishBatch(FaultEvent, payloads)) acknowledged.add(id);
        n += payloads.length;
      } catch (error) {
        const code = isBusError(error) ? error.code : 'not a BusError';
        rejected[code] = (rejected[code] ?? 0) + 1;
        // PUBLISH_FAILED did not commit: publish again. PUBLISH_OUTCOME_UNKNOWN may have
        // committed: without a unique key a retry could duplicate, so move on (the rows count
        // as published when the insert did commit, which the wrapper saw).
        if (code === 'PUBLISH_OUTCOME_UNKNOWN') n += payloads.length;
        else if (code !== 'PUBLISH_FAILED') throw error;
      }
    }
  };
  const half = Math.floor(options.rows / 2);
  await Promise.all([publisher(0, half), publisher(half, options.rows)]);
  const publishMs = Date.now() - started;
  const inserted = new Set((faulty.stats.results.insert ?? []).flat() as string[]);

  await waitFor(
    async () => {
      const done = [...inserted].every((id) => completions.has(id));
      if (!done) return false;
      return (await options.store.inspect.listEvents({ limit: 1 })).length === 0;
    },
    {
      timeoutMs: options.timeoutMs ?? 120_000,
      intervalMs: 200,
      message: `every inserted row to run and leave the hot table (${completions.size} of ${inserted.size} ran; errors: ${errors.slice(-3).join(' | ')})`,
    },
  );
  const elapsedMs = Date.now() - started;
  // Prune must still see faults if its forced call came late: let it run a few more times.
  await waitFor(() => (faulty.stats.faults.prune ?? 0) > 0, {
    timeoutMs: 10_000,
    message: 'a fault in prune',
  });
  faulty.enabled = false;
  await bus.controller.awaitTerminationWithTimeout(10_000);

  const pruned = ((faulty.stats.results.prune ?? []) as number[]).reduce((a, b) => a + b, 0);
  const counts = await options.store.inspect.countByQueue();
  const archiveLeft = counts.reduce((sum, c) => sum + c.archivedCompleted + c.archivedFailed, 0);
  const rerun = [...completions]
    .filter(([, attempts]) => attempts.length > 1)
    .map(([id, attempts]) => ({ id, attempts, touched: faulty.stats.touched.has(id) }));
  return {
    stats: faulty.stats,
    inserted,
    acknowledged,
    completions,
    failedOnPurpose,
    rejected,
    archivedTotal: pruned + archiveLeft,
    rerun,
    errors,
    elapsedMs,
    publishMs,
  };
}

/**
 * What a user checks after the drain, for every driver (each driver's test adds its own check
 * of which publish codes were rejected).
 */
export function expectFaultDrainOutcome(report: FaultDrainReport, rows: number): void {
  const { stats } = report;
  console.info(
    `drained ${report.inserted.size} rows in ${report.elapsedMs} ms (published in ${report.publishMs} ms); calls ${JSON.stringify(stats.calls)}; ` +
      `faults ${JSON.stringify(stats.faults)} ${JSON.stringify(stats.byKind)}; rejected ${JSON.stringify(report.rejected)}; ` +
      `${report.rerun.length} rows ran twice; ${report.failedOnPurpose} failed on purpose`,
  );
  for (const path of FAULTED_PATHS) expect(stats.faults[path] ?? 0, `faults in ${path}`).toBeGreaterThan(0);
  // Every acknowledged publish is among the inserted rows, and every inserted row ran.
  for (const id of report.acknowledged) expect(report.inserted.has(id), `acknowledged ${id}`).toBe(true);
  expect(report.inserted.size).toBeGreaterThanOrEqual(rows);
  for (const id of report.inserted) expect(report.completions.has(id), `row ${id} ran`).toBe(true);
  // A row ran to success twice only when a fault hit a call that named it (a lost settle or
  // heartbeat), and then on a later attempt: claims stayed exclusive.
  for (const r of report.rerun) {
    expect(r.touched, `row ${r.id} ran twice (${r.attempts}) with no fault on it`).toBe(true);
    expect(new Set(r.attempts).size, `row ${r.id} attempts ${r.attempts}`).toBe(r.attempts.length);
  }
  // Each row entered the archive exactly once (retention pruned most of them meanwhile).
  expect(report.archivedTotal).toBe(report.inserted.size);
}
