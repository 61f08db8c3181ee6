// The raw SQL floor on PostgreSQL: no framework, hand-written batched statements. The ceiling a
// queue on the same table shape can approach: bulk insert with unnest arrays, claim 500 with
// FOR UPDATE SKIP LOCKED on a partial index of available rows, batch delete. The claimed ids go to
// the UPDATE as `id = ANY(ARRAY(…))`, so it probes the primary key instead of hash-joining a
// sequential scan of the table (the plan Postgres picks for `UPDATE … FROM (subquery)` on a
// 40k–100k-row table).
import postgres from 'postgres';
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
  payloadOf,
  pgUrl,
  sleep,
} from '../util.mjs';

const DB = 'bench_floor';
const QUEUE = 'bench';
const CLAIM = 500;

function connect(max = 4) {
  return postgres(pgUrl(DB), { max, onnotice: () => {}, prepare: true });
}

const hex = (obj) => `\\x${Buffer.from(JSON.stringify(obj)).toString('hex')}`;

export async function install() {
  await recreatePgDatabase(DB);
  const sql = connect(1);
  await sql.unsafe(`
    CREATE TABLE floor_jobs (
      id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
      queue text NOT NULL,
      event_name text NOT NULL,
      handler_name text NOT NULL,
      payload bytea NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      max_retries integer NOT NULL DEFAULT 3,
      priority integer NOT NULL DEFAULT 0,
      scheduled_at timestamptz NOT NULL DEFAULT now(),
      locked_until timestamptz,
      locked_by text,
      last_error text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX floor_jobs_claim ON floor_jobs (queue, priority, scheduled_at, id) WHERE locked_until IS NULL;
    CREATE INDEX floor_jobs_lease ON floor_jobs (locked_until) WHERE locked_until IS NOT NULL;
    CREATE TABLE app_users (id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY, email text NOT NULL);
  `);
  await sql.end();
  return {};
}

export async function reset() {
  const sql = connect(1);
  await sql.unsafe('TRUNCATE floor_jobs, app_users');
  await sql.unsafe('VACUUM ANALYZE floor_jobs');
  await sql.end();
  return {};
}

function insertBatch(sql, payloads) {
  return sql`
    INSERT INTO floor_jobs (queue, event_name, handler_name, max_retries, payload)
    SELECT ${QUEUE}, 'bench.event', 'bench.handler', 3, p FROM unnest(${payloads}::text[]::bytea[]) AS p`;
}

export async function publish({ count, batch }) {
  const sql = connect(2);
  await sql`SELECT 1`;
  const t0 = nowMs();
  await inChunks(count, batch, async (start, end) => {
    const payloads = [];
    for (let i = start; i < end; i++) payloads.push(hex(payloadOf(i)));
    await insertBatch(sql, payloads);
  });
  const ms = nowMs() - t0;
  await sql.end();
  return { ms, count };
}

export const prefill = publish;

function claim(sql, workerId, limit) {
  return sql`
    UPDATE floor_jobs j
       SET locked_until = now() + interval '30 seconds', locked_by = ${workerId}, attempts = j.attempts + 1
     WHERE j.id = ANY(ARRAY(
             SELECT id FROM floor_jobs
              WHERE queue = ${QUEUE} AND locked_until IS NULL AND scheduled_at <= now()
              ORDER BY priority, scheduled_at, id
              LIMIT ${limit} FOR UPDATE SKIP LOCKED))
    RETURNING j.id, j.payload, j.attempts`;
}

// One claim in flight, the previous batch's delete overlapping the next claim.
async function work(sql, { stopAt, counter, onPayload }) {
  const workerId = `floor:${process.pid}`;
  const deletes = new Set();
  for (;;) {
    if (counter.count >= stopAt) break;
    const rows = await claim(sql, workerId, CLAIM);
    if (rows.length === 0) {
      await sleep(1);
      continue;
    }
    const ids = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      onPayload(JSON.parse(row.payload.toString()));
      ids[i] = row.id;
      counter.hit();
    }
    const done = sql`DELETE FROM floor_jobs WHERE id = ANY(${ids}::bigint[])`.then(() =>
      deletes.delete(done),
    );
    deletes.add(done);
    if (deletes.size >= 2) await Promise.race(deletes);
  }
  await Promise.all(deletes);
}

async function liveRows(sql) {
  const [row] = await sql`SELECT EXISTS (SELECT 1 FROM floor_jobs) AS live`;
  return row.live;
}

export async function drain({ count }) {
  const sql = connect(4);
  await Promise.all([sql`SELECT 1`, sql`SELECT 1`, sql`SELECT 1`]);
  const counter = completionCounter(count);
  const t0 = nowMs();
  const cpu0 = process.cpuUsage();
  await work(sql, { stopAt: count, counter, onPayload: () => {} });
  while (await liveRows(sql)) await sleep(2);
  const ms = nowMs() - t0;
  const cpuMs = cpuMsSince(cpu0);
  await sql.end();
  return { ms, count: counter.count, cpuMs };
}

export async function backlog({ k }) {
  const sql = connect(4);
  await Promise.all([sql`SELECT 1`, sql`SELECT 1`, sql`SELECT 1`]);
  const counter = completionCounter(k);
  const t0 = nowMs();
  const cpu0 = process.cpuUsage();
  await work(sql, { stopAt: k, counter, onPayload: () => {} });
  const ms = counter.reachedAt - t0;
  const cpuMs = cpuMsSince(cpu0);
  await sql.end();
  return { ms, count: counter.count, cpuMs };
}

// Latency floor: the worker LISTENs; a publish is one statement that inserts and notifies.
export async function latencyWorker({ count }, ctx) {
  const sql = connect(3);
  const latencies = [];
  const counter = completionCounter(count);
  let wake;
  let woken = false;
  await sql.listen('floor_wake', () => {
    woken = true;
    wake?.();
  });
  const workerId = `floor:${process.pid}`;
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      woken = false;
      const rows = await claim(sql, workerId, CLAIM);
      const ids = [];
      for (const row of rows) {
        const p = JSON.parse(row.payload.toString());
        latencies.push((nowUs() - p.t) / 1000);
        ids.push(row.id);
        counter.hit();
      }
      if (ids.length) await sql`DELETE FROM floor_jobs WHERE id = ANY(${ids}::bigint[])`;
      if (rows.length < CLAIM && !woken) {
        await new Promise((resolve) => {
          wake = resolve;
          setTimeout(resolve, 1000);
        });
        wake = undefined;
      }
    }
  })();
  ctx.send({ type: 'ready' });
  await counter.reached;
  stop = true;
  wake?.();
  await loop;
  await sql.end();
  return latencySummary(latencies);
}

export async function latencyPublisher({ count, intervalMs }) {
  const sql = connect(2);
  await sql`SELECT 1`;
  const res = await paced(
    count,
    intervalMs,
    (i, t) => sql`
      WITH ins AS (
        INSERT INTO floor_jobs (queue, event_name, handler_name, max_retries, payload)
        VALUES (${QUEUE}, 'bench.event', 'bench.handler', 3, ${hex({ ...payloadOf(i), t })}::text::bytea) RETURNING id)
      SELECT id, pg_notify('floor_wake', ${QUEUE}) FROM ins`,
  );
  await sql.end();
  return res;
}

// Transactional publish: the app's own insert, then (unless `baseline`) one queue row.
// With `notify`, the queue insert also NOTIFYs a channel in the same statement, as bus,
// graphile-worker and pg-boss do, to show what the NOTIFY alone costs at commit.
export async function txn({ count, clients, baseline = false, notify = false }) {
  const sql = connect(clients);
  await Promise.all(Array.from({ length: clients }, () => sql`SELECT 1`));
  const t0 = nowMs();
  const latencies = await concurrently(count, clients, (i) =>
    sql.begin(async (tx) => {
      await tx`INSERT INTO app_users (email) VALUES (${`user${i}@example.com`})`;
      if (notify) {
        await tx`
          WITH ins AS (
            INSERT INTO floor_jobs (queue, event_name, handler_name, max_retries, payload)
            VALUES (${QUEUE}, 'bench.event', 'bench.handler', 3, ${hex(payloadOf(i))}::text::bytea) RETURNING id)
          SELECT pg_notify('floor_wake', ${QUEUE}) FROM ins`;
      } else if (!baseline) {
        await tx`
          INSERT INTO floor_jobs (queue, event_name, handler_name, max_retries, payload)
          VALUES (${QUEUE}, 'bench.event', 'bench.handler', 3, ${hex(payloadOf(i))}::text::bytea)`;
      }
    }),
  );
  const ms = nowMs() - t0;
  // One bare round trip under the same concurrency, to express costs in round trips.
  const rtt = await concurrently(Math.min(count, 2000), clients, () => sql`SELECT 1`);
  await sql.end();
  return { ms, count, ...latencySummary(latencies), rttP50: latencySummary(rtt).p50 };
}
