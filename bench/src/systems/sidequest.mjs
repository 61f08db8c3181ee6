// Sidequest 1.16 on MariaDB (@sidequest/mysql-backend), the Node job queue with a MySQL backend:
// the MySQL peer of bus-mysql. One queue whose `concurrency` (and the engine's
// `maxConcurrentJobs`) is the number of handler slots the orchestrator sweeps. The engine runs in
// this process (`fork: false`) with the `inline` runner, so the no-op job runs on this thread
// like every other system's handler (its default runs each job in a worker thread, a cost of its
// own that a no-op benchmark would mostly measure). Its dispatcher polls (`jobPollingInterval`,
// 100 ms by default; no wake-up on MySQL); the dashboard is off.
//
// Sidequest declares Node >= 22.6 in `engines`; it runs on Node 20 here as measured.
import { Job, Sidequest } from 'sidequest';
import {
  completionCounter,
  concurrently,
  cpuMsSince,
  latencySummary,
  MYSQL,
  nowMs,
  nowUs,
  paced,
  packageVersion,
  payloadOf,
  reachedBy,
  sleep,
} from '../util.mjs';

const DATABASE = 'bench_sidequest';
const QUEUE = 'bench';
const DEFAULT_SLOTS = 24;
const POLL_MS = Number(process.env.BENCH_SIDEQUEST_POLL_MS ?? 100);
// No batch enqueue in Sidequest: the publish runs 32 enqueues at once.
const PUBLISH_LANES = 32;

let onJob = () => {};

// On MariaDB an enqueue (a plain INSERT) can deadlock against Sidequest's own dispatcher claiming
// jobs (seen here with the worker running); an app would retry it, so the bench does and says
// how often on stderr.
let deadlocks = 0;
async function enqueue(payload) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await Sidequest.build(BenchNoopJob).queue(QUEUE).enqueue(payload);
    } catch (error) {
      if (attempt >= 5 || !/deadlock/i.test(String(error?.message))) throw error;
      deadlocks++;
    }
  }
}

function reportDeadlocks(what) {
  if (deadlocks > 0) console.error(`[sidequest] ${what}: ${deadlocks} enqueue(s) retried after a deadlock`);
}

export class BenchNoopJob extends Job {
  async run(payload) {
    onJob(payload);
  }
}

const backend = {
  driver: '@sidequest/mysql-backend',
  config: `mysql://${encodeURIComponent(MYSQL.user)}${MYSQL.password ? `:${encodeURIComponent(MYSQL.password)}` : ''}@${MYSQL.host}:${MYSQL.port}/${DATABASE}`,
};

function config(slots, extra = {}) {
  return {
    backend,
    queues: [{ name: QUEUE, concurrency: slots }],
    maxConcurrentJobs: slots,
    fork: false,
    runner: 'inline',
    gracefulShutdown: false,
    jobPollingInterval: POLL_MS,
    logger: { level: 'error' },
    dashboard: { enabled: false },
    ...extra,
  };
}

async function admin() {
  const { default: mysql } = await import('mysql2/promise');
  return mysql.createConnection({
    host: MYSQL.host,
    port: MYSQL.port,
    user: MYSQL.user,
    password: MYSQL.password,
  });
}

export async function install() {
  const conn = await admin();
  await conn.query(`DROP DATABASE IF EXISTS \`${DATABASE}\``);
  await conn.query(`CREATE DATABASE \`${DATABASE}\``);
  await conn.end();
  // Configuring runs Sidequest's own migrations.
  await Sidequest.configure(config(DEFAULT_SLOTS));
  await Sidequest.stop();
  return { version: packageVersion('sidequest') };
}

export async function reset() {
  const conn = await admin();
  await conn.query(`TRUNCATE \`${DATABASE}\`.sidequest_jobs`);
  await conn.end();
  return {};
}

export async function publish({ count }) {
  // configure() alone connects the backend for enqueueing without starting workers.
  await Sidequest.configure(config(DEFAULT_SLOTS, { skipMigration: true }));
  const t0 = nowMs();
  await concurrently(count, PUBLISH_LANES, (i) => enqueue(payloadOf(i)));
  const ms = nowMs() - t0;
  await Sidequest.stop();
  reportDeadlocks('publish');
  return { ms, count, deadlocks };
}

export const prefill = publish;

async function liveRows(conn) {
  const [rows] = await conn.query(
    `SELECT EXISTS (SELECT 1 FROM \`${DATABASE}\`.sidequest_jobs WHERE state IN ('waiting', 'claimed', 'running')) AS live`,
  );
  return Number(rows[0].live) === 1;
}

export async function drain({ count, slots = DEFAULT_SLOTS, deadlineMs }) {
  const counter = completionCounter(count);
  onJob = () => counter.hit();
  const probe = await admin();
  const t0 = nowMs();
  const cpu0 = process.cpuUsage();
  await Sidequest.start(config(slots, { skipMigration: true }));
  const partial = await reachedBy(counter, deadlineMs);
  // A job is marked completed after run() returns: wait until none is left open.
  if (!partial) while (await liveRows(probe)) await sleep(5);
  const ms = nowMs() - t0;
  const done = counter.count;
  const cpuMs = cpuMsSince(cpu0);
  await Sidequest.stop();
  await probe.end();
  return {
    ms,
    count: done,
    cpuMs,
    partial,
    config: { concurrency: slots, maxConcurrentJobs: slots, runner: 'inline', jobPollingInterval: POLL_MS },
  };
}

export async function latencyWorker({ count, slots = DEFAULT_SLOTS }, ctx) {
  const counter = completionCounter(count);
  const latencies = [];
  onJob = (p) => {
    latencies.push((nowUs() - p.t) / 1000);
    counter.hit();
  };
  await Sidequest.start(config(slots, { skipMigration: true }));
  await sleep(300);
  ctx.send({ type: 'ready' });
  await counter.reached;
  await Sidequest.stop();
  return latencySummary(latencies);
}

export async function latencyPublisher({ count, intervalMs }) {
  await Sidequest.configure(config(DEFAULT_SLOTS, { skipMigration: true }));
  const res = await paced(count, intervalMs, (i, t) => enqueue({ ...payloadOf(i), t }));
  await Sidequest.stop();
  reportDeadlocks('latency publisher');
  return { ...res, deadlocks };
}
