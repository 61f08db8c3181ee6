// pg-boss 12 in its documented throughput configuration: batch fetch (batchSize), several
// local workers (localConcurrency), continuous fetching while batches come back full
// (burstWhenBatchFull) and LISTEN/NOTIFY wake-ups (useListenNotify + queue notify).
//
// Handler slots: pg-boss hands each local worker a batch, so the jobs in flight at once are
// localConcurrency × batchSize. At N slots it runs localConcurrency 2 × batchSize N/2 and starts
// every job of a batch at once (a promise per job), so at most N jobs are in flight: the earlier
// setting of this bench (2 × 500) was 1,000 slots, not "pg-boss's default".
import pg from 'pg';
import { PgBoss } from 'pg-boss';
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

const DB = 'bench_pgboss';
const url = pgUrl(DB);
const QUEUE = 'bench';
const LOCAL = Number(process.env.BENCH_PGBOSS_LOCAL ?? 2);
const DEFAULT_SLOTS = 24;

function boss(extra = {}) {
  const b = new PgBoss({ connectionString: url, schedule: false, useListenNotify: true, max: 10, ...extra });
  b.on('error', (error) => console.error('pg-boss error', error?.message ?? error));
  return b;
}

/** work() options for N handler slots (BENCH_PGBOSS_BATCH overrides the batch size). */
function workFor(slots) {
  const localConcurrency = Math.min(LOCAL, slots);
  const batchSize = Number(
    process.env.BENCH_PGBOSS_BATCH ?? Math.max(1, Math.floor(slots / localConcurrency)),
  );
  return { batchSize, localConcurrency, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 };
}

/** A batch handler that runs each job as its own handler call, all of the batch at once. */
const perJob = (onJob) => (jobs) => Promise.all(jobs.map(async (job) => onJob(job.data)));

export async function install() {
  await recreatePgDatabase(DB);
  const b = boss({ supervise: false });
  await b.start();
  await b.createQueue(QUEUE, { notify: true });
  await b.stop({ graceful: false });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(
    'CREATE TABLE app_users (id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY, email text NOT NULL)',
  );
  await client.end();
  const version = packageVersion('pg-boss');
  return { version };
}

export async function reset() {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('TRUNCATE pgboss.job, app_users CASCADE');
  await client.query('VACUUM ANALYZE pgboss.job_common');
  await client.end();
  return {};
}

export async function publish({ count, batch }) {
  const b = boss({ supervise: false, useListenNotify: false });
  await b.start();
  const t0 = nowMs();
  await inChunks(count, batch, async (start, end) => {
    const jobs = [];
    for (let i = start; i < end; i++) jobs.push({ data: payloadOf(i) });
    await b.insert(QUEUE, jobs);
  });
  const ms = nowMs() - t0;
  await b.stop({ graceful: false });
  return { ms, count };
}

export const prefill = publish;

async function liveRows(pool) {
  const { rows } = await pool.query(
    "SELECT EXISTS (SELECT 1 FROM pgboss.job WHERE name = $1 AND state IN ('created', 'retry', 'active')) AS live",
    [QUEUE],
  );
  return rows[0].live;
}

export async function drain({ count, slots = DEFAULT_SLOTS, deadlineMs }) {
  const counter = completionCounter(count);
  const probe = new pg.Pool({ connectionString: url, max: 1 });
  await probe.query('SELECT 1');
  const b = boss();
  await b.start();
  const work = workFor(slots);
  const t0 = nowMs();
  const cpu0 = process.cpuUsage();
  await b.work(
    QUEUE,
    work,
    perJob(() => counter.hit()),
  );
  const partial = await reachedBy(counter, deadlineMs);
  if (!partial) while (await liveRows(probe)) await sleep(2);
  const ms = nowMs() - t0;
  const done = counter.count;
  const cpuMs = cpuMsSince(cpu0);
  await b.stop({ graceful: false });
  await probe.end();
  return { ms, count: done, cpuMs, partial, config: work };
}

export async function latencyWorker({ count, slots = DEFAULT_SLOTS }, ctx) {
  const counter = completionCounter(count);
  const latencies = [];
  const b = boss();
  await b.start();
  await b.work(
    QUEUE,
    workFor(slots),
    perJob((data) => {
      latencies.push((nowUs() - data.t) / 1000);
      counter.hit();
    }),
  );
  await sleep(500); // let the listener connect
  ctx.send({ type: 'ready' });
  await counter.reached;
  await b.stop({ graceful: false });
  return latencySummary(latencies);
}

export async function latencyPublisher({ count, intervalMs }) {
  const b = boss({ supervise: false, useListenNotify: false });
  await b.start();
  const res = await paced(count, intervalMs, (i, t) => b.send(QUEUE, { ...payloadOf(i), t }));
  await b.stop({ graceful: false });
  return res;
}

// One job per transaction beside the app's insert: send() with `db` bound to the app's
// transaction client, as pg-boss documents for transactional enqueueing.
export async function txn({ count, clients }) {
  const b = boss({ supervise: false, useListenNotify: false });
  await b.start();
  const pool = new pg.Pool({ connectionString: url, max: clients });
  const conns = await Promise.all(Array.from({ length: clients }, () => pool.connect()));
  let statements = 0;
  const adapters = conns.map((c) => ({
    executeSql: (text, values) => {
      statements++;
      return c.query(text, values);
    },
  }));
  const t0 = nowMs();
  const latencies = await concurrently(count, clients, async (i, lane) => {
    const c = conns[lane];
    await c.query('BEGIN');
    await c.query('INSERT INTO app_users (email) VALUES ($1)', [`user${i}@example.com`]);
    await b.send(QUEUE, payloadOf(i), { db: adapters[lane] });
    await c.query('COMMIT');
  });
  const ms = nowMs() - t0;
  for (const c of conns) c.release();
  await pool.end();
  await b.stop({ graceful: false });
  return { ms, count, statements: statements / count, ...latencySummary(latencies) };
}
