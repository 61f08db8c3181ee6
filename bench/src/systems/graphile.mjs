// graphile-worker 0.18 in its documented high-throughput configuration: localQueue (batched
// fetch, 500 rows), completeJobBatchDelay 0 (batched completion); `concurrency` is the number of
// handler slots the orchestrator sweeps (24, its usual setting, when none is given).
import { Logger, makeWorkerUtils, run, runMigrations } from 'graphile-worker';
import pg from 'pg';
import { recreatePgDatabase } from '../admin.mjs';
import {
  completionCounter,
  concurrently,
  cpuMsSince,
  inChunks,
  latencySummary,
  nowMs,
  nowUs,
  paced,
  packageVersion,
  payloadOf,
  pgUrl,
  reachedBy,
  sleep,
} from '../util.mjs';

const DB = 'bench_graphile';
const url = pgUrl(DB);
const logger = new Logger(() => () => {});
const DEFAULT_CONCURRENCY = 24;
// With localQueue the slots do not hold connections (one fetches for all, completions are
// batched), so the pool need not grow with concurrency: N + 2 up to 30 keeps 1,000 slots under
// PostgreSQL's default max_connections of 100 that every system here shares.
const poolFor = (concurrency) => Math.min(concurrency + 2, 30);
const LOCAL_QUEUE = Number(process.env.BENCH_GRAPHILE_LOCAL_QUEUE ?? 500);

const preset = {
  worker: {
    localQueue: { size: LOCAL_QUEUE },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
  },
};

export async function install() {
  await recreatePgDatabase(DB);
  await runMigrations({ connectionString: url, logger });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(
    'CREATE TABLE app_users (id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY, email text NOT NULL)',
  );
  await client.end();
  const version = packageVersion('graphile-worker');
  return { version };
}

export async function reset() {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(
    'TRUNCATE graphile_worker._private_jobs, graphile_worker._private_job_queues, app_users',
  );
  await client.query('VACUUM ANALYZE graphile_worker._private_jobs');
  await client.end();
  return {};
}

export async function publish({ count, batch }) {
  const utils = await makeWorkerUtils({ connectionString: url, logger });
  await utils.migrate();
  const t0 = nowMs();
  await inChunks(count, batch, async (start, end) => {
    const specs = [];
    for (let i = start; i < end; i++) specs.push({ identifier: 'noop', payload: payloadOf(i) });
    await utils.addJobs(specs);
  });
  const ms = nowMs() - t0;
  await utils.release();
  return { ms, count };
}

export const prefill = publish;

async function liveRows(pool) {
  const { rows } = await pool.query('SELECT EXISTS (SELECT 1 FROM graphile_worker._private_jobs) AS live');
  return rows[0].live;
}

async function startWorker(onJob, concurrency = DEFAULT_CONCURRENCY) {
  return run({
    connectionString: url,
    concurrency,
    maxPoolSize: poolFor(concurrency),
    noHandleSignals: true,
    pollInterval: 1000,
    logger,
    preset,
    taskList: { noop: async (payload) => onJob(payload) },
  });
}

export async function drain({ count, slots = DEFAULT_CONCURRENCY, deadlineMs }) {
  const counter = completionCounter(count);
  const probe = new pg.Pool({ connectionString: url, max: 1 });
  await probe.query('SELECT 1');
  const t0 = nowMs();
  const cpu0 = process.cpuUsage();
  const runner = await startWorker(() => counter.hit(), slots);
  const partial = await reachedBy(counter, deadlineMs);
  if (!partial) while (await liveRows(probe)) await sleep(2);
  const ms = nowMs() - t0;
  const done = counter.count;
  const cpuMs = cpuMsSince(cpu0);
  await runner.stop();
  await probe.end();
  return {
    ms,
    count: done,
    cpuMs,
    partial,
    config: { concurrency: slots, localQueue: LOCAL_QUEUE, maxPoolSize: poolFor(slots) },
  };
}

export async function latencyWorker({ count, slots = DEFAULT_CONCURRENCY }, ctx) {
  const counter = completionCounter(count);
  const latencies = [];
  const runner = await startWorker((p) => {
    latencies.push((nowUs() - p.t) / 1000);
    counter.hit();
  }, slots);
  await sleep(300); // let the pool start listening
  ctx.send({ type: 'ready' });
  await counter.reached;
  await runner.stop();
  return latencySummary(latencies);
}

export async function latencyPublisher({ count, intervalMs }) {
  const utils = await makeWorkerUtils({ connectionString: url, logger });
  await utils.withPgClient((c) => c.query('SELECT 1'));
  const res = await paced(count, intervalMs, (i, t) => utils.addJob('noop', { ...payloadOf(i), t }));
  await utils.release();
  return res;
}

// One job per transaction, beside the app's own insert, as graphile documents it for transactional
// enqueueing: SELECT graphile_worker.add_job(...) on the app's connection.
export async function txn({ count, clients }) {
  const pool = new pg.Pool({ connectionString: url, max: clients });
  const conns = await Promise.all(Array.from({ length: clients }, () => pool.connect()));
  const t0 = nowMs();
  const latencies = await concurrently(count, clients, async (i, lane) => {
    const c = conns[lane];
    await c.query('BEGIN');
    await c.query('INSERT INTO app_users (email) VALUES ($1)', [`user${i}@example.com`]);
    await c.query('SELECT graphile_worker.add_job($1, $2::json)', ['noop', JSON.stringify(payloadOf(i))]);
    await c.query('COMMIT');
  });
  const ms = nowMs() - t0;
  for (const c of conns) c.release();
  await pool.end();
  return { ms, count, statements: 1, ...latencySummary(latencies) };
}
