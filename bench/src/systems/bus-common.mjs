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
  sleep,
} from '../util.mjs';

// BENCH_BUS_CORE_MODULE: measure a patched build of bus-core against the same peers.
const { createBus, defineEvent, Registry } = await import(process.env.BENCH_BUS_CORE_MODULE ?? 'bus-core');

export const QUEUE = 'bench';
export const BenchEvent = defineEvent('bench.event');

const WORKERS = Number(process.env.BENCH_BUS_WORKERS ?? 1000);
const BATCH = Number(process.env.BENCH_BUS_BATCH ?? 500);

let onJob = () => {};

class NoopHandler {
  static handlerName = 'bench.noop';
  static settings = { queueName: QUEUE, maxRetries: 3, executionTimeout: 30_000 };
  handle(payload) {
    onJob(payload);
  }
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

function makeBus(rawStore, { archive = 'none', sleepInterval = 1000 } = {}) {
  const store = traced(rawStore);
  const registry = new Registry();
  registry.register(BenchEvent, NoopHandler);
  return createBus({
    store,
    registry,
    queues: [{ queueName: QUEUE, workers: WORKERS, batchSize: BATCH, sleepInterval, archivePolicy: archive }],
  });
}

export function busWorkloads(driver) {
  async function publish({ count, batch }) {
    const conn = await driver.connect({ max: 4, listen: false });
    const bus = await makeBus(conn.store).init();
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

  async function runWorkers({ archive, stopAt, durable }) {
    const conn = await driver.connect({ max: 10, listen: true });
    const counter = completionCounter(stopAt);
    onJob = () => counter.hit();
    const bus = await makeBus(conn.store, { archive, sleepInterval: driver.sleepInterval }).init();
    await conn.warm();
    const t0 = nowMs();
    const cpu0 = process.cpuUsage();
    await bus.controller.startWorkers();
    await counter.reached;
    if (durable) while (await conn.live()) await sleep(2);
    const ms = (durable ? nowMs() : counter.reachedAt) - t0;
    const cpuMs = cpuMsSince(cpu0);
    bus.controller.shutdown();
    await bus.controller.awaitTerminationWithTimeout(10_000);
    await conn.end();
    traceReport();
    return { ms, count: counter.count, cpuMs };
  }

  return {
    install: driver.install,
    reset: driver.reset,
    publish,
    prefill: publish,
    drain: ({ count, archive }) => runWorkers({ archive, stopAt: count, durable: true }),
    backlog: ({ k, archive }) => runWorkers({ archive, stopAt: k, durable: false }),

    async latencyWorker({ count, archive }, ctx) {
      const conn = await driver.connect({ max: 10, listen: true });
      const counter = completionCounter(count);
      const latencies = [];
      onJob = (p) => {
        latencies.push((nowUs() - p.t) / 1000);
        counter.hit();
      };
      const bus = await makeBus(conn.store, { archive, sleepInterval: driver.sleepInterval }).init();
      await conn.warm();
      await bus.controller.startWorkers();
      await sleep(300); // let the listener connect
      ctx.send({ type: 'ready' });
      await counter.reached;
      bus.controller.shutdown();
      await bus.controller.awaitTerminationWithTimeout(10_000);
      await conn.end();
      return latencySummary(latencies);
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
