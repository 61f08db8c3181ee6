// The workloads of bus, shared by its two drivers. A driver module gives `connect()`, which
// returns the Drizzle database, its store, a cheap "any live row?" probe and the app's own insert.
import {
  completionCounter,
  concurrently,
  cpuMsSince,
  inChunks,
  latencySummary,
  nowMs,
  nowUs,
  paced,
  payloadOf,
  reachedBy,
  sleep,
} from '../util.mjs';

// BENCH_BUS_CORE_MODULE: measure a patched build of bus-core against the same peers.
const core = await import(process.env.BENCH_BUS_CORE_MODULE ?? 'bus-core');
const { createBus, defineEvent, Registry } = core;

export const QUEUE = 'bench';
export const BenchEvent = defineEvent('bench.event');

// Handler slots and claim size come from the orchestrator (the concurrency sweep); the env vars
// override both for one-off experiments.
const DEFAULT_WORKERS = 24;
const DEFAULT_BATCH = 500;
const envWorkers = process.env.BENCH_BUS_WORKERS ? Number(process.env.BENCH_BUS_WORKERS) : undefined;
const envBatch = process.env.BENCH_BUS_BATCH ? Number(process.env.BENCH_BUS_BATCH) : undefined;

/**
 * The `prefetch` queue option (rows claimed ahead of free slots) is being added to bus-core.
 * It is passed only when this build of bus-core knows it: `validateQueueConfigs` keeps the field
 * in its resolved config (an older build drops unknown fields silently, so a try/catch around
 * createBus alone could not tell), or `QUEUE_LIMITS` names a bound for it. Returns the value to
 * pass, or undefined.
 */
function supportedPrefetch(base, wanted) {
  if (process.env.BENCH_BUS_PREFETCH === '0') return undefined;
  const limits = core.QUEUE_LIMITS ?? {};
  const max = limits.maxPrefetch ?? limits.prefetch?.max ?? limits.prefetch;
  const value =
    Number.isInteger(max) && max > 0 && typeof wanted === 'number' ? Math.min(wanted, max) : wanted;
  try {
    const [resolved] = core.validateQueueConfigs([{ ...base, prefetch: value }]);
    return resolved && 'prefetch' in resolved ? value : undefined;
  } catch {
    return undefined;
  }
}

/** What the worker queue of a drain/latency run looks like; reported with the result. */
export function queueShape({ slots, batchSize } = {}) {
  const workers = envWorkers ?? slots ?? DEFAULT_WORKERS;
  const batch = envBatch ?? batchSize ?? DEFAULT_BATCH;
  // bus runs with its default prefetch, 'auto' (what a user gets without setting it: up to two
  // batches ahead of the slots for fast handlers). BENCH_BUS_PREFETCH=N fixes it, =0 leaves the
  // option out (an older bus-core's behaviour).
  const env = process.env.BENCH_BUS_PREFETCH;
  const wanted = env === undefined || env === 'auto' ? 'auto' : Number(env);
  const prefetch = supportedPrefetch(
    { queueName: QUEUE, workers, batchSize: batch, sleepInterval: 1000, archivePolicy: 'none' },
    wanted,
  );
  return { workers, batchSize: batch, prefetch };
}

let onJob = () => {};

class NoopHandler {
  static handlerName = 'bench.noop';
  static settings = { queueName: QUEUE, maxRetries: 3, executionTimeout: 30_000 };
  handle(payload) {
    onJob(payload);
  }
}

/** The partition key of payload `n` with `keys` keys: round-robin over the payloads. */
export const partitionKeyOf = (n, keys) => `k${String(n % keys).padStart(3, '0')}`;

/**
 * The handler of a run: with `keys`, its rows carry one of that many partition keys
 * (`settings.partitionKey`, so the publisher and every process agree), round-robin over the
 * payloads; without, no key (what every other system measures).
 */
function handlerOf(keys, handlerMs) {
  let handler = NoopHandler;
  if (keys) {
    handler = class KeyedNoopHandler extends handler {
      static settings = { ...NoopHandler.settings, partitionKey: (p) => partitionKeyOf(p.n, keys) };
    };
  }
  // With `handlerMs`, each row holds its slot that long (the slot-bound flow-control drains).
  if (handlerMs) {
    handler = class SlowHandler extends handler {
      async handle(payload) {
        await sleep(handlerMs);
        onJob(payload);
      }
    };
  }
  return handler;
}

// BENCH_TRACE=1 counts the store calls of a worker process and the rows they carry.
const trace = process.env.BENCH_TRACE ? {} : null;
function traced(store) {
  if (!trace) return store;
  return new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (typeof value !== 'function') return value;
      return async (...args) => {
        const t0 = nowMs();
        const result = await value.apply(target, args);
        trace[key] ??= { calls: 0, rowsIn: 0, rowsOut: 0, ms: 0 };
        const entry = trace[key];
        entry.calls++;
        entry.ms += nowMs() - t0;
        entry.rowsIn += args[0]?.rows?.length ?? args[0]?.outcomes?.length ?? args[0]?.events?.length ?? 0;
        entry.rowsOut += Array.isArray(result) ? result.length : (result?.settled?.length ?? 0);
        return result;
      };
    },
  });
}

export function traceReport() {
  if (trace) console.error(`[trace ${process.pid}]`, JSON.stringify(trace));
}

/**
 * The bus of one process. `flow` is the flow-control setting of the system (the orchestrator's
 * `opts`): `limits` (the queue's `QueueConfig.limits`, written to the database when the workers
 * start), `keys` (partition keys of the published rows) and `handlerMs` (how long a handler
 * takes); all absent for every other system.
 */
function makeBus(rawStore, { archive = 'none', sleepInterval = 1000, shape = queueShape(), flow = {} } = {}) {
  const store = traced(rawStore);
  const registry = new Registry();
  registry.register(BenchEvent, handlerOf(flow.keys, flow.handlerMs));
  const queue = {
    queueName: QUEUE,
    workers: shape.workers,
    batchSize: shape.batchSize,
    sleepInterval,
    archivePolicy: archive,
  };
  if (shape.prefetch !== undefined) queue.prefetch = shape.prefetch;
  if (flow.limits) queue.limits = flow.limits;
  return createBus({ store, registry, queues: [queue] });
}

/** The flow-control part of a task's options (see makeBus). */
const flowOf = ({ limits, keys, handlerMs, prefetch }) => ({ limits, keys, handlerMs, prefetch });

/**
 * Handler starts of a rate-limited drain, in any sliding window of `periodMs`: the most of them
 * (the limit bounds it, as the database's clock counts claims a few ms before the starts), and
 * the rate after the first window (the limit lets a whole window's starts through at once).
 */
export function windowed(starts, periodMs) {
  let most = 0;
  for (let lo = 0, hi = 0; hi < starts.length; hi++) {
    while (starts[hi] - starts[lo] >= periodMs) lo++;
    most = Math.max(most, hi - lo + 1);
  }
  const first = starts[0];
  const later = starts.filter((t) => t >= first + periodMs);
  const span = later.length > 1 ? later[later.length - 1] - first - periodMs : 0;
  return {
    windowMax: most,
    windowMs: periodMs,
    steadyRate: span > 0 ? (later.length / span) * 1000 : Number.NaN,
  };
}

export function busWorkloads(driver) {
  async function publish({ count, batch, ...opts }) {
    const conn = await driver.connect({ max: 4, listen: false });
    const bus = await makeBus(conn.store, { flow: flowOf(opts) }).init();
    const t0 = nowMs();
    await inChunks(count, batch, async (start, end) => {
      const payloads = [];
      for (let i = start; i < end; i++) payloads.push(payloadOf(i));
      await bus.publishBatch(BenchEvent, payloads);
    });
    const ms = nowMs() - t0;
    await conn.end();
    return { ms, count };
  }

  async function runWorkers({ archive, stopAt, durable, slots, batchSize, deadlineMs, flow = {} }) {
    const conn = await driver.connect({ max: 10, listen: true });
    const counter = completionCounter(stopAt);
    // A rate-limited drain keeps every handler start, to check the limit over every window.
    const rate = flow.limits?.rate;
    const starts = rate ? [] : null;
    onJob = starts
      ? () => {
          starts.push(nowMs());
          counter.hit();
        }
      : () => counter.hit();
    const shape = queueShape({ slots, batchSize });
    // The unlimited drain without prefetch holds no more rows than its slots, as a limited one.
    if (flow.prefetch !== undefined) shape.prefetch = flow.prefetch;
    const bus = await makeBus(conn.store, {
      archive,
      sleepInterval: driver.sleepInterval,
      shape,
      flow,
    }).init();
    await conn.warm();
    const t0 = nowMs();
    const cpu0 = process.cpuUsage();
    await bus.controller.startWorkers();
    const partial = await reachedBy(counter, deadlineMs);
    if (durable && !partial) while (await conn.live()) await sleep(2);
    const ms = (durable || partial ? nowMs() : counter.reachedAt) - t0;
    const count = counter.count;
    const cpuMs = cpuMsSince(cpu0);
    bus.controller.shutdown();
    await bus.controller.awaitTerminationWithTimeout(10_000);
    await conn.end();
    traceReport();
    const config = { ...shape };
    if (flow.limits) config.limits = flow.limits;
    if (flow.keys) config.keys = flow.keys;
    if (flow.handlerMs) config.handlerMs = flow.handlerMs;
    return { ms, count, cpuMs, partial, config, ...(starts ? windowed(starts, rate.periodMs) : {}) };
  }

  // What a unique key costs on publish: plain and keyed publishes alternate in blocks in one
  // process, single events (each keyed row is its own statements) and batches of 100 (a key per
  // payload), so the ratio compares like with like on the same connection pool and table.
  async function publishUnique({ count }) {
    const conn = await driver.connect({ max: 4, listen: false });
    const bus = await makeBus(conn.store).init();
    await conn.warm?.();
    const run = `${process.pid}-${Date.now()}`;
    const block = 50;
    const times = { plain: 0, unique: 0, plainBatch: 0, uniqueBatch: 0 };
    const timed = async (key, fn) => {
      const t0 = nowMs();
      await fn();
      times[key] += nowMs() - t0;
    };
    for (let start = 0; start < count; start += block) {
      const end = Math.min(count, start + block);
      await timed('plain', async () => {
        for (let i = start; i < end; i++) await bus.publish(BenchEvent, payloadOf(i));
      });
      await timed('unique', async () => {
        for (let i = start; i < end; i++)
          await bus.publishUnique(BenchEvent, payloadOf(i), { key: `${run}-${i}` });
      });
    }
    const batches = Math.max(1, Math.round(count / 100));
    for (let b = 0; b < batches; b++) {
      const payloads = Array.from({ length: 100 }, (_, i) => payloadOf(b * 100 + i));
      await timed('plainBatch', () => bus.publishBatch(BenchEvent, payloads));
      await timed('uniqueBatch', () =>
        bus.publishBatch(BenchEvent, payloads, { unique: { key: (p) => `${run}-b-${p.n}` } }),
      );
    }
    await conn.end();
    return { count, batchRows: batches * 100, ...times };
  }

  return {
    install: driver.install,
    reset: driver.reset,
    publishUnique,
    publish,
    prefill: publish,
    drain: ({ count, archive, slots, batchSize, deadlineMs, ...opts }) =>
      runWorkers({ archive, stopAt: count, durable: true, slots, batchSize, deadlineMs, flow: flowOf(opts) }),
    backlog: ({ k, archive }) => runWorkers({ archive, stopAt: k, durable: false, slots: 1000 }),

    async latencyWorker({ count, archive, slots, batchSize }, ctx) {
      const conn = await driver.connect({ max: 10, listen: true });
      const counter = completionCounter(count);
      const latencies = [];
      onJob = (p) => {
        latencies.push((nowUs() - p.t) / 1000);
        counter.hit();
      };
      const shape = queueShape({ slots, batchSize });
      const bus = await makeBus(conn.store, { archive, sleepInterval: driver.sleepInterval, shape }).init();
      await conn.warm();
      await bus.controller.startWorkers();
      await sleep(300); // let the listener connect
      ctx.send({ type: 'ready' });
      await counter.reached;
      bus.controller.shutdown();
      await bus.controller.awaitTerminationWithTimeout(10_000);
      await conn.end();
      return { ...latencySummary(latencies), config: shape };
    },

    async latencyPublisher({ count, intervalMs }) {
      const conn = await driver.connect({ max: 2, listen: false });
      const bus = await makeBus(conn.store).init();
      const res = await paced(count, intervalMs, (i, t) => bus.publish(BenchEvent, { ...payloadOf(i), t }));
      await conn.end();
      return res;
    },

    // The app's own insert and publishTxn in one transaction, 16 clients at once. `statements`
    // counts what the publish added to the transaction (the driver's query log, BEGIN/COMMIT and
    // the app's insert excluded).
    async txn({ count, clients }) {
      const conn = await driver.connect({ max: clients, listen: false, countStatements: true });
      const bus = await makeBus(conn.store).init();
      await conn.warm(clients);
      conn.statements.count = 0;
      const t0 = nowMs();
      const latencies = await concurrently(count, clients, (i) =>
        conn.db.transaction(async (tx) => {
          await conn.appInsert(tx, i);
          await bus.publishTxn(tx, BenchEvent, payloadOf(i));
        }),
      );
      const ms = nowMs() - t0;
      const statements = conn.statements.count / count;
      await conn.end();
      return { ms, count, statements, ...latencySummary(latencies) };
    },
  };
}
