/**
 * The flow-control scenarios of issue 14 for every driver: four worker OS processes with ten
 * handler slots each, on one queue with limits stored in the database, and this test process
 * publishing. Each handler reports its start and end (the machine's clock, shared by every
 * process) on stdout, so what the test asserts is what ran at once, sampled by the handlers
 * themselves, not what the database says.
 *
 * The workers run the built dist of bus-core and the driver (`node --input-type=module -e`,
 * from the driver's folder so that its packages resolve): `pnpm build` first, as `pnpm test` does.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { expect } from 'vitest';
import {
  type Bus,
  createBus,
  defineEvent,
  type QueueLimits,
  type QueueStore,
  Registry,
} from '../packages/bus-core/src/index.js';
import { waitFor } from '../packages/bus-testing/src/wait.js';
import { type WorkerDriver, workerStopSource, workerStoreSource } from './worker-store-source.js';

/** The driver a scenario runs on. */
export type FlowDriver = WorkerDriver;

const SLOTS = 10;
const PROCESSES = 4;

// The worker: one queue, its limits from the configuration (FLOW_LIMITS), a handler that says
// when it starts and ends. A row's first attempt sleeps `ms`, later ones `retryMs`, so a
// killed process's long rows run short once rescued.
function workerSource(driver: FlowDriver): string {
  return `
    const env = process.env;
    const say = (message) => process.stdout.write(JSON.stringify(message) + '\\n');
    const { createBus, defineEvent, Registry } = await import('bus-core');
    ${workerStoreSource(driver, 8)}
    const FlowEvent = defineEvent('flow.event');
    class FlowHandler {
      static handlerName = 'flow.handler';
      static settings = { queueName: env.FLOW_QUEUE, maxRetries: 5, executionTimeout: 120_000, partitionKey: (p) => p.key };
      static calculateScheduledAt() { return 0; }
      async handle(payload, ctx) {
        say({ s: ctx.id, n: payload.n, k: payload.key, a: ctx.attempt, w: env.WORKER_ID, t: Date.now() });
        await new Promise((resolve) => setTimeout(resolve, ctx.attempt === 1 ? payload.ms : (payload.retryMs ?? payload.ms)));
        say({ e: ctx.id, w: env.WORKER_ID, t: Date.now() });
      }
    }
    const registry = new Registry();
    registry.register(FlowEvent, FlowHandler);
    const line = (level) => (message, fields) => say({ log: level, message, error: fields?.error });
    const limits = env.FLOW_LIMITS ? JSON.parse(env.FLOW_LIMITS) : undefined;
    const bus = createBus({
      store, registry, workerId: env.WORKER_ID, rescueInterval: 200,
      logger: { debug() {}, info() {}, warn: line('warn'), error: line('error') },
      queues: [{ queueName: env.FLOW_QUEUE, workers: ${SLOTS}, batchSize: ${SLOTS}, sleepInterval: 100,
                 archivePolicy: 'all', leaseDuration: Number(env.LEASE_MS), ...(limits ? { limits } : {}) }],
    });
    await bus.init();
    await bus.controller.startWorkers();
    say({ ready: true, w: env.WORKER_ID });
    ${workerStopSource()}`;
}

/** A handler's report: a start (`s`, with payload `n`, key `k`, attempt `a`, worker `w`) or an end (`e`). */
interface FlowLine {
  ready?: boolean;
  s?: string;
  e?: string;
  n?: number;
  k?: string;
  a?: number;
  w?: string;
  t?: number;
  log?: 'warn' | 'error';
  message?: string;
  error?: string;
}

/** One run of a row in a worker process: from its handler's start to its end (`end` undefined: still running). */
export interface FlowRun {
  id: string;
  n: number;
  key: string;
  attempt: number;
  worker: string;
  start: number;
  end: number | undefined;
}

/** What a driver's test gives. */
export interface FlowOptions {
  driver: FlowDriver;
  /** The driver's package folder (the workers resolve bus-core and the driver from it). */
  cwd: string;
  /** The workers' environment: BUS_URL (and BUS_SCHEMA on PostgreSQL). */
  env: Record<string, string>;
  /** A store on the same tables, for publishing and reading the archive. */
  store: QueueStore<any>;
}

/** A worker process of a scenario. */
interface FlowWorker {
  id: string;
  child: ChildProcess;
  exit: Promise<number | null>;
}

const FlowEvent = defineEvent<{ n: number; key: string; ms: number; retryMs?: number }>('flow.event');

/**
 * The processes of one scenario, the lines they wrote, and a publisher bus (no workers) for
 * `queue`. `stopAll` ends them (SIGTERM, SIGKILL after 15 s).
 */
class FlowCluster {
  readonly lines: FlowLine[] = [];
  readonly workers: FlowWorker[] = [];
  readonly stderr: string[] = [];
  readonly publisher: Bus<any>;

  constructor(
    readonly options: FlowOptions,
    readonly queue: string,
  ) {
    const registry = new Registry();
    class FlowHandler {
      static readonly handlerName = 'flow.handler';
      static readonly settings = {
        queueName: queue,
        maxRetries: 5,
        executionTimeout: 120_000,
        partitionKey: (p: { key: string }) => p.key,
      };
      handle(): void {}
    }
    registry.register(FlowEvent, FlowHandler);
    this.publisher = createBus({
      store: options.store,
      registry,
      queues: [{ queueName: queue, workers: 1, batchSize: 1, sleepInterval: 1000, archivePolicy: 'all' }],
    });
  }

  /** Starts `count` workers with `limits` in their configuration and waits until they claim. */
  async start(count: number, limits: QueueLimits, leaseMs = 10_000): Promise<FlowWorker[]> {
    const started: FlowWorker[] = [];
    for (let i = 0; i < count; i++) {
      const id = `${this.queue}-w${this.workers.length}`;
      const child = spawn(
        process.execPath,
        ['--input-type=module', '-e', workerSource(this.options.driver)],
        {
          cwd: this.options.cwd,
          env: {
            ...process.env,
            ...this.options.env,
            WORKER_ID: id,
            FLOW_QUEUE: this.queue,
            FLOW_LIMITS: JSON.stringify(limits),
            LEASE_MS: String(leaseMs),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      createInterface({ input: child.stdout! }).on('line', (text) => {
        try {
          this.lines.push(JSON.parse(text) as FlowLine);
        } catch {
          this.stderr.push(text);
        }
      });
      createInterface({ input: child.stderr! }).on('line', (text) => this.stderr.push(text));
      const worker = {
        id,
        child,
        exit: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))),
      };
      this.workers.push(worker);
      started.push(worker);
    }
    await waitFor(() => started.every((w) => this.lines.some((l) => l.ready && l.w === w.id)), {
      timeoutMs: 30_000,
      message: `${count} worker processes to start (${this.stderr.slice(-5).join('\n')})`,
    });
    return started;
  }

  /** Every run reported so far, in start order. */
  runs(): FlowRun[] {
    const runs: FlowRun[] = [];
    // A row runs at most once at a time in one process: its end line closes its open run there.
    const open = new Map<string, FlowRun>();
    for (const l of this.lines) {
      if (l.s !== undefined) {
        const run = { id: l.s, n: l.n!, key: l.k!, attempt: l.a!, worker: l.w!, start: l.t!, end: undefined };
        runs.push(run);
        open.set(`${l.s}@${l.w}`, run);
      } else if (l.e !== undefined) {
        const run = open.get(`${l.e}@${l.w}`);
        if (run !== undefined) run.end = l.t!;
        open.delete(`${l.e}@${l.w}`);
      }
    }
    return runs.sort((a, b) => a.start - b.start);
  }

  errors(): FlowLine[] {
    return this.lines.filter((l) => l.log === 'error');
  }

  async stopAll(): Promise<void> {
    for (const w of this.workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
    }
    const timer = setTimeout(() => {
      for (const w of this.workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    }, 15_000);
    await Promise.all(this.workers.map((w) => w.exit));
    clearTimeout(timer);
    await this.publisher.controller.awaitTerminationWithTimeout(1000);
  }
}

/** The most runs in progress at one instant (an end at the same ms as a start frees its slot first). */
export function maxOverlap(runs: readonly FlowRun[], horizon = Number.POSITIVE_INFINITY): number {
  const edges: [number, number][] = [];
  for (const r of runs) {
    edges.push([r.start, 1]);
    edges.push([r.end ?? horizon, -1]);
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let max = 0;
  for (const [, d] of edges) {
    now += d;
    max = Math.max(max, now);
  }
  return max;
}

/** The most starts in any window `[t, t + windowMs)` that begins at a start. */
export function maxStartsInWindow(starts: readonly number[], windowMs: number): number {
  const sorted = [...starts].sort((a, b) => a - b);
  let max = 0;
  let j = 0;
  for (let i = 0; i < sorted.length; i++) {
    while (sorted[j]! < sorted[i]! - windowMs + 1) j++;
    max = Math.max(max, i - j + 1);
  }
  return max;
}

async function withCluster<T>(
  options: FlowOptions,
  queue: string,
  body: (c: FlowCluster) => Promise<T>,
): Promise<T> {
  const cluster = new FlowCluster(options, queue);
  await cluster.publisher.init();
  try {
    return await body(cluster);
  } finally {
    await cluster.stopAll();
  }
}

function payloads(count: number, keyOf: (n: number) => string, ms: (n: number) => number) {
  return Array.from({ length: count }, (_, n) => ({ n, key: keyOf(n), ms: ms(n) }));
}

async function publishAll(bus: Bus<any>, rows: ReturnType<typeof payloads>): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < rows.length; i += 1000)
    ids.push(...(await bus.publishBatch(FlowEvent, rows.slice(i, i + 1000))));
  return ids;
}

async function archivedCompleted(store: QueueStore<any>, queue: string): Promise<number> {
  const counts = await store.inspect.countByQueue();
  return counts.find((c) => c.queue === queue)?.archivedCompleted ?? 0;
}

/**
 * A global limit of 5 across 4 processes × 10 slots, 10,000 rows of 1–4 ms: never more than 5
 * running at once, every row completed once.
 *
 * @example
 * await expectGlobalLimit({ driver: 'postgres', cwd, env, store });
 */
export async function expectGlobalLimit(options: FlowOptions, rows = 10_000): Promise<void> {
  await withCluster(options, 'flow-global', async (c) => {
    await publishAll(
      c.publisher,
      payloads(
        rows,
        (n) => `k${n % 7}`,
        (n) => 1 + (n % 4),
      ),
    );
    await c.start(PROCESSES, { concurrency: 5 });
    await waitFor(async () => (await archivedCompleted(options.store, 'flow-global')) === rows, {
      timeoutMs: 120_000,
      message: `${rows} rows to complete under a global limit of 5`,
    });
    const runs = c.runs();
    const overlap = maxOverlap(runs);
    const workers = new Set(runs.map((r) => r.worker));
    console.info(
      `global limit 5: ${runs.length} runs on ${workers.size} processes, at most ${overlap} at once`,
    );
    expect(overlap).toBeLessThanOrEqual(5);
    // The limit is reached, not merely respected by running one at a time.
    expect(overlap).toBe(5);
    expect(new Set(runs.map((r) => r.id)).size).toBe(rows);
    expect(workers.size).toBeGreaterThan(1);
    expect(c.errors()).toEqual([]);
  });
}

/**
 * A per-key limit of 1 with 50 keys: no two runs of one key overlap, and each key's rows start
 * in publish order.
 *
 * @example
 * await expectKeyLimit({ driver: 'mysql', cwd, env, store });
 */
export async function expectKeyLimit(options: FlowOptions, perKey = 40): Promise<void> {
  const keys = 50;
  await withCluster(options, 'flow-key', async (c) => {
    const all = payloads(
      keys * perKey,
      (n) => `acct-${n % keys}`,
      (n) => 1 + (n % 4),
    );
    await publishAll(c.publisher, all);
    await c.start(PROCESSES, { keyConcurrency: 1 });
    await waitFor(async () => (await archivedCompleted(options.store, 'flow-key')) === all.length, {
      timeoutMs: 120_000,
      message: `${all.length} rows of ${keys} keys to complete`,
    });
    const runs = c.runs();
    const byKey = new Map<string, FlowRun[]>();
    for (const r of runs) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
    let worst = 0;
    for (const [key, list] of byKey) {
      const overlap = maxOverlap(list);
      worst = Math.max(worst, overlap);
      expect(overlap, `runs of ${key} overlap`).toBe(1);
      const order = list.map((r) => r.n);
      expect(order, `${key} ran in publish order`).toEqual([...order].sort((a, b) => a - b));
    }
    console.info(
      `key limit 1: ${runs.length} runs of ${byKey.size} keys, at most ${worst} per key and ${maxOverlap(runs)} in all at once`,
    );
    expect(byKey.size).toBe(keys);
    expect(runs.length).toBe(all.length);
    // Keys run side by side: the per-key limit is not a global one.
    expect(maxOverlap(runs)).toBeGreaterThan(5);
    expect(c.errors()).toEqual([]);
  });
}

/** The documented precision of a rate limit, as handlers see it: the claim-to-start delay. */
export const RATE_PRECISION_MS = 100;

/**
 * A rate of 50 per second across 4 processes for 10 s: no sliding second (shortened by the
 * documented precision) sees more than 50 starts, and at least 90% of the rate is achieved.
 *
 * @example
 * await expectRateLimit({ driver: 'postgres', cwd, env, store });
 */
export async function expectRateLimit(options: FlowOptions): Promise<void> {
  await withCluster(options, 'flow-rate', async (c) => {
    await publishAll(
      c.publisher,
      payloads(
        1000,
        (n) => `k${n % 3}`,
        () => 2,
      ),
    );
    await c.start(PROCESSES, { rate: { limit: 50, periodMs: 1000 } });
    await waitFor(() => c.runs().length > 0, { timeoutMs: 10_000, message: 'the first start' });
    const first = c.runs()[0]!.start;
    await waitFor(() => Date.now() >= first + 10_500, { timeoutMs: 15_000, message: '10 s of starts' });
    const starts = c
      .runs()
      .filter((r) => r.start < first + 10_000)
      .map((r) => r.start);
    const strict = maxStartsInWindow(starts, 1000);
    const within = maxStartsInWindow(starts, 1000 - RATE_PRECISION_MS);
    const workers = new Set(c.runs().map((r) => r.worker));
    console.info(
      `rate 50/s: ${starts.length} starts in 10 s on ${workers.size} processes; busiest second ${strict}, busiest ${1000 - RATE_PRECISION_MS} ms ${within}`,
    );
    expect(within).toBeLessThanOrEqual(50);
    expect(starts.length).toBeGreaterThanOrEqual(450);
    expect(starts.length).toBeLessThanOrEqual(550);
    expect(workers.size).toBeGreaterThan(1);
    expect(c.errors()).toEqual([]);
  });
}

/**
 * Fairness: key A holds 10,000 ready rows when key B publishes one; B's row starts after at most
 * a few claims' worth of A's rows, not after A's backlog.
 *
 * @example
 * await expectFairness({ driver: 'mysql', cwd, env, store });
 */
export async function expectFairness(options: FlowOptions, backlog = 10_000): Promise<void> {
  await withCluster(options, 'flow-fair', async (c) => {
    await publishAll(
      c.publisher,
      payloads(
        backlog,
        () => 'A',
        () => 5,
      ),
    );
    await c.start(PROCESSES, { fair: true });
    await waitFor(() => c.runs().length >= 200, { timeoutMs: 30_000, message: "200 of A's rows to start" });
    const publishedAt = Date.now();
    const [b] = await c.publisher.publish(FlowEvent, { n: -1, key: 'B', ms: 1 });
    await waitFor(() => c.runs().some((r) => r.id === b), { timeoutMs: 10_000, message: "B's row to start" });
    const runs = c.runs();
    const bStart = runs.find((r) => r.id === b)!.start;
    const aBetween = runs.filter((r) => r.key === 'A' && r.start > publishedAt && r.start < bStart).length;
    console.info(
      `fairness: B started ${bStart - publishedAt} ms after its publish, after ${aBetween} of A's rows`,
    );
    // Four processes with ten slots claim at most 40 rows a round; a few rounds at most.
    expect(aBetween).toBeLessThanOrEqual(4 * PROCESSES * SLOTS);
    expect(runs.filter((r) => r.key === 'A').length).toBeLessThan(backlog / 2);
    expect(c.errors()).toEqual([]);
  });
}

/**
 * A process SIGKILLed while it holds every slot of a global limit of 5: the slots come back
 * within the lease and the rescue interval, its rows run elsewhere, and the limit holds after.
 *
 * @example
 * await expectKilledSlotsReturn({ driver: 'postgres', cwd, env, store });
 */
export async function expectKilledSlotsReturn(options: FlowOptions): Promise<void> {
  const leaseMs = 2000;
  const rescueMs = 200;
  await withCluster(options, 'flow-kill', async (c) => {
    const [holder] = await c.start(1, { concurrency: 5 }, leaseMs);
    const long = await c.publisher.publishBatch(
      FlowEvent,
      Array.from({ length: 5 }, (_, n) => ({ n, key: 'long', ms: 120_000, retryMs: 5 })),
    );
    await waitFor(() => c.runs().length === 5, {
      timeoutMs: 10_000,
      message: 'the holder to run 5 long rows',
    });
    await c.start(2, { concurrency: 5 }, leaseMs);
    const short = await publishAll(
      c.publisher,
      payloads(
        200,
        (n) => `s${n % 5}`,
        () => 3,
      ),
    );
    // While the holder is alive, its 5 slots are the limit: nothing else starts.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(c.runs().length).toBe(5);
    holder!.child.kill('SIGKILL');
    const killedAt = Date.now();
    await holder!.exit;
    const ids = new Set([...long, ...short]);
    await waitFor(async () => (await archivedCompleted(options.store, 'flow-kill')) === ids.size, {
      timeoutMs: 60_000,
      message: 'every row to complete after the kill',
    });
    const after = c.runs().filter((r) => r.worker !== holder!.id);
    const firstAfter = Math.min(...after.map((r) => r.start));
    console.info(
      `killed holder: slots back ${firstAfter - killedAt} ms after SIGKILL (lease ${leaseMs} ms, rescue every ${rescueMs} ms); ` +
        `${after.length} runs after, at most ${maxOverlap(after)} at once`,
    );
    // Rows of a dead process hold their slots until the rescue takes them back: at most one
    // lease plus one rescue interval, and a margin for the claim poll.
    expect(firstAfter - killedAt).toBeLessThanOrEqual(leaseMs + rescueMs + 1500);
    expect(maxOverlap(after)).toBeLessThanOrEqual(5);
    // The long rows ran again elsewhere, on their second attempt.
    for (const id of long) expect(after.some((r) => r.id === id && r.attempt === 2)).toBe(true);
    expect(c.errors()).toEqual([]);
  });
}
