// BullMQ 6 on the machine's Redis, in its documented throughput configuration: completed jobs
// removed at once (removeOnComplete); worker `concurrency` is the number of handler slots the
// orchestrator sweeps (100 when none is given).
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
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
  REDIS,
  reachedBy,
  sleep,
} from '../util.mjs';

const QUEUE = 'bench';
const PREFIX = 'busbench';
const JOB_OPTS = { removeOnComplete: true, removeOnFail: true };

function connection() {
  return new IORedis({ host: REDIS.host, port: REDIS.port, maxRetriesPerRequest: null });
}

function queue(conn) {
  return new Queue(QUEUE, { connection: conn, prefix: PREFIX, defaultJobOptions: JOB_OPTS });
}

export async function install() {
  await reset();
  const version = packageVersion('bullmq');
  return { version };
}

export async function reset() {
  const conn = connection();
  const q = queue(conn);
  await q.obliterate({ force: true });
  await q.close();
  await conn.quit();
  return {};
}

export async function publish({ count, batch }) {
  const conn = connection();
  const q = queue(conn);
  await q.waitUntilReady();
  const t0 = nowMs();
  await inChunks(count, batch, async (start, end) => {
    const jobs = [];
    for (let i = start; i < end; i++) jobs.push({ name: 'noop', data: payloadOf(i), opts: JOB_OPTS });
    await q.addBulk(jobs);
  });
  const ms = nowMs() - t0;
  await q.close();
  await conn.quit();
  return { ms, count };
}

export const prefill = publish;

async function liveRows(q) {
  const counts = await q.getJobCounts(
    'wait',
    'active',
    'delayed',
    'prioritized',
    'paused',
    'waiting-children',
  );
  return Object.values(counts).some((n) => n > 0);
}

const DEFAULT_CONCURRENCY = 100;

function worker(onJob, concurrency = DEFAULT_CONCURRENCY) {
  return new Worker(QUEUE, async (job) => onJob(job.data), {
    connection: connection(),
    prefix: PREFIX,
    concurrency,
    removeOnComplete: { count: 0 },
    removeOnFail: { count: 0 },
  });
}

export async function drain({ count, slots = DEFAULT_CONCURRENCY, deadlineMs }) {
  const counter = completionCounter(count);
  const conn = connection();
  const q = queue(conn);
  await q.waitUntilReady();
  const t0 = nowMs();
  const cpu0 = process.cpuUsage();
  const w = worker(() => counter.hit(), slots);
  const partial = await reachedBy(counter, deadlineMs);
  if (!partial) while (await liveRows(q)) await sleep(2);
  const ms = nowMs() - t0;
  const done = counter.count;
  const cpuMs = cpuMsSince(cpu0);
  await w.close(true);
  await q.close();
  await conn.quit();
  return { ms, count: done, cpuMs, partial, config: { concurrency: slots } };
}

export async function latencyWorker({ count, slots = DEFAULT_CONCURRENCY }, ctx) {
  const counter = completionCounter(count);
  const latencies = [];
  const w = worker((data) => {
    latencies.push((nowUs() - data.t) / 1000);
    counter.hit();
  }, slots);
  await w.waitUntilReady();
  await sleep(300);
  ctx.send({ type: 'ready' });
  await counter.reached;
  await w.close(true);
  return latencySummary(latencies);
}

export async function latencyPublisher({ count, intervalMs }) {
  const conn = connection();
  const q = queue(conn);
  await q.waitUntilReady();
  const res = await paced(count, intervalMs, (i, t) => q.add('noop', { ...payloadOf(i), t }));
  await q.close();
  await conn.quit();
  return res;
}

// Redis has no transaction shared with the app's SQL database: this is a single add() from 16
// concurrent clients, shown for reference only.
export async function txn({ count, clients }) {
  const conn = connection();
  const q = queue(conn);
  await q.waitUntilReady();
  const t0 = nowMs();
  const latencies = await concurrently(count, clients, (i) => q.add('noop', payloadOf(i)));
  const ms = nowMs() - t0;
  await q.close();
  await conn.quit();
  return { ms, count, ...latencySummary(latencies) };
}
