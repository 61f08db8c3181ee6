// DBOS Transact (@dbos-inc/dbos-sdk 5) durable queues on PostgreSQL: a workflow queue whose
// `workerConcurrency` is the number of handler slots the orchestrator sweeps. A job is a
// workflow (DBOS records its status rows in its system database); the handler is the workflow
// body. Publishing goes through DBOSClient.enqueue, the documented way to enqueue from another
// process. DBOS has no batch enqueue: the publish runs `enqueueInTransaction` (its documented
// transactional enqueue) a batch per transaction on 8 connections at once, so filling the queue
// does not take longer than draining it.
import { DBOS, DBOSClient } from '@dbos-inc/dbos-sdk';
import pg from 'pg';
import { recreatePgDatabase } from '../admin.mjs';
import {
  completionCounter,
  concurrently,
  cpuMsSince,
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

// DBOS 5.3 overlaps queries on one pg client internally, which pg 8 reports as a deprecation on
// every process start; the warning is DBOS's, not the bench's, and only clutters the log.
process.noDeprecation = true;

const DB = 'bench_dbos';
const url = pgUrl(DB);
const APP = 'bench';
const QUEUE = 'bench';
const WORKFLOW = 'noop';
const DEFAULT_SLOTS = 24;
// DBOS polls its queues (no LISTEN wake-up for queued workflows): 1 s by default. The bench
// uses its documented knob at 50 ms, far below the default, so latency is not a polling artefact
// of our choosing; BENCH_DBOS_POLL_MS overrides it.
const POLL_MS = Number(process.env.BENCH_DBOS_POLL_MS ?? 50);
const PUBLISH_LANES = 8;

const quiet = { debug() {}, info() {}, warn() {}, error: (...a) => console.error('dbos', ...a) };

let onJob = () => {};
// Registered once per process, before launch, as DBOS requires.
DBOS.registerWorkflow(async (payload) => onJob(payload), { name: WORKFLOW });

async function launch() {
  DBOS.setConfig({ name: APP, systemDatabaseUrl: url, systemDatabasePoolSize: 10, logger: quiet });
  await DBOS.launch();
}

// The queue's row lives in the system database; registering it starts its dispatch loop.
async function openQueue(slots) {
  await DBOS.registerQueue(QUEUE, {
    workerConcurrency: slots,
    minPollingIntervalMs: POLL_MS,
    onConflict: 'always_update',
  });
}

const client = () => DBOSClient.create({ systemDatabaseUrl: url, applicationName: APP, logger: quiet });
const enqueue = (c, payload) => c.enqueue({ workflowName: WORKFLOW, queueName: QUEUE }, payload);

export async function install() {
  await recreatePgDatabase(DB);
  // Launching once creates DBOS's system schema (its own migrations).
  await launch();
  await openQueue(DEFAULT_SLOTS);
  await DBOS.shutdown();
  return { version: packageVersion('@dbos-inc/dbos-sdk') };
}

async function sql(text) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

export async function reset() {
  await sql('TRUNCATE dbos.workflow_status CASCADE');
  await sql('VACUUM ANALYZE dbos.workflow_status');
  return {};
}

export async function publish({ count, batch }) {
  const c = await client();
  const pool = new pg.Pool({ connectionString: url, max: PUBLISH_LANES });
  const size = Math.min(batch, 500);
  const batches = Math.ceil(count / size);
  const t0 = nowMs();
  await concurrently(batches, PUBLISH_LANES, async (b) => {
    const tx = await pool.connect();
    try {
      await tx.query('BEGIN');
      for (let i = b * size; i < Math.min(count, (b + 1) * size); i++)
        await c.enqueueInTransaction(tx, { workflowName: WORKFLOW, queueName: QUEUE }, payloadOf(i));
      await tx.query('COMMIT');
    } finally {
      tx.release();
    }
  });
  const ms = nowMs() - t0;
  await pool.end();
  await c.destroy();
  return { ms, count };
}

export const prefill = publish;

async function liveRows() {
  const { rows } = await sql(
    "SELECT EXISTS (SELECT 1 FROM dbos.workflow_status WHERE status IN ('ENQUEUED', 'PENDING')) AS live",
  );
  return rows[0].live;
}

export async function drain({ count, slots = DEFAULT_SLOTS, deadlineMs }) {
  const counter = completionCounter(count);
  onJob = () => counter.hit();
  await launch();
  const t0 = nowMs();
  const cpu0 = process.cpuUsage();
  await openQueue(slots);
  const partial = await reachedBy(counter, deadlineMs);
  // A workflow's SUCCESS is recorded after its body returns: wait until none is left open.
  if (!partial) while (await liveRows()) await sleep(5);
  const ms = nowMs() - t0;
  const done = counter.count;
  const cpuMs = cpuMsSince(cpu0);
  await DBOS.shutdown();
  return {
    ms,
    count: done,
    cpuMs,
    partial,
    config: { workerConcurrency: slots, minPollingIntervalMs: POLL_MS },
  };
}

export async function latencyWorker({ count, slots = DEFAULT_SLOTS }, ctx) {
  const counter = completionCounter(count);
  const latencies = [];
  onJob = (p) => {
    latencies.push((nowUs() - p.t) / 1000);
    counter.hit();
  };
  await launch();
  await openQueue(slots);
  await sleep(300);
  ctx.send({ type: 'ready' });
  await counter.reached;
  await DBOS.shutdown();
  return latencySummary(latencies);
}

export async function latencyPublisher({ count, intervalMs }) {
  const c = await client();
  const res = await paced(count, intervalMs, (i, t) => enqueue(c, { ...payloadOf(i), t }));
  await c.destroy();
  return res;
}
