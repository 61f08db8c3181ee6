// The raw SQL floor on MariaDB/MySQL: multi-row INSERT; claim in a short READ COMMITTED
// transaction (SELECT ids ... FOR UPDATE SKIP LOCKED, then UPDATE), retried on deadlock; batch
// DELETE. No framework; statements sent two to a round trip where the protocol allows.
import { mysqlPool, resetMysqlTables } from '../admin.mjs';
import {
  completionCounter,
  concurrently,
  cpuMsSince,
  inChunks,
  latencySummary,
  nowMs,
  payloadOf,
  sleep,
} from '../util.mjs';

const QUEUE = 'bench';
const CLAIM = 500;

function pool(extra = {}) {
  return mysqlPool({ multipleStatements: true, ...extra });
}

export async function install() {
  await resetMysqlTables(['floor_jobs', 'floor_app_users']);
  const db = await pool({ connectionLimit: 1 });
  await db.query(`
    CREATE TABLE floor_jobs (
      id bigint unsigned AUTO_INCREMENT PRIMARY KEY,
      queue varchar(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      event_name varchar(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      handler_name varchar(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      payload longblob NOT NULL,
      attempts int NOT NULL DEFAULT 0,
      max_retries int NOT NULL DEFAULT 3,
      priority int NOT NULL DEFAULT 0,
      scheduled_at datetime(6) NOT NULL DEFAULT UTC_TIMESTAMP(6),
      locked_until datetime(6),
      locked_by varchar(200),
      last_error text,
      created_at datetime(6) NOT NULL DEFAULT UTC_TIMESTAMP(6),
      INDEX floor_claim (queue, locked_until, priority, scheduled_at, id),
      INDEX floor_lease (locked_until)
    ) ENGINE=InnoDB;
    CREATE TABLE floor_app_users (id bigint unsigned AUTO_INCREMENT PRIMARY KEY, email varchar(200) NOT NULL) ENGINE=InnoDB;
  `);
  await db.end();
  return {};
}

export async function reset() {
  const db = await pool({ connectionLimit: 1 });
  await db.query('TRUNCATE floor_jobs; TRUNCATE floor_app_users');
  await db.end();
  return {};
}

const bytes = (obj) => Buffer.from(JSON.stringify(obj));

export async function publish({ count, batch }) {
  const db = await pool({ connectionLimit: 2 });
  await db.query('SELECT 1');
  const t0 = nowMs();
  await inChunks(count, batch, async (start, end) => {
    const rows = [];
    for (let i = start; i < end; i++)
      rows.push([QUEUE, 'bench.event', 'bench.handler', 3, bytes(payloadOf(i))]);
    await db.query(
      'INSERT INTO floor_jobs (queue, event_name, handler_name, max_retries, payload) VALUES ?',
      [rows],
    );
  });
  const ms = nowMs() - t0;
  await db.end();
  return { ms, count };
}

export const prefill = publish;

async function claim(conn, workerId) {
  for (let attempt = 1; ; attempt++) {
    try {
      const [results] = await conn.query(
        `START TRANSACTION;
         SELECT id, payload, attempts FROM floor_jobs
          WHERE queue = ? AND locked_until IS NULL AND scheduled_at <= UTC_TIMESTAMP(6)
          ORDER BY priority, scheduled_at, id LIMIT ${CLAIM} FOR UPDATE SKIP LOCKED`,
        [QUEUE],
      );
      const rows = results[1];
      if (rows.length === 0) {
        await conn.query('COMMIT');
        return rows;
      }
      await conn.query(
        `UPDATE floor_jobs SET locked_until = UTC_TIMESTAMP(6) + INTERVAL 30 SECOND, locked_by = ?, attempts = attempts + 1
          WHERE id IN (?); COMMIT`,
        [workerId, rows.map((r) => r.id)],
      );
      return rows;
    } catch (error) {
      await conn.query('ROLLBACK').catch(() => undefined);
      if (error?.errno === 1213 && attempt < 10) continue;
      throw error;
    }
  }
}

async function work(db, { stopAt, counter }) {
  const conn = await db.getConnection();
  await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
  const workerId = `floor:${process.pid}`;
  const deletes = new Set();
  try {
    for (;;) {
      if (counter.count >= stopAt) break;
      const rows = await claim(conn, workerId);
      if (rows.length === 0) {
        await sleep(1);
        continue;
      }
      const ids = new Array(rows.length);
      for (let i = 0; i < rows.length; i++) {
        JSON.parse(rows[i].payload.toString());
        ids[i] = rows[i].id;
        counter.hit();
      }
      const done = db.query('DELETE FROM floor_jobs WHERE id IN (?)', [ids]).then(() => deletes.delete(done));
      deletes.add(done);
      if (deletes.size >= 2) await Promise.race(deletes);
    }
    await Promise.all(deletes);
  } finally {
    conn.release();
  }
}

async function liveRows(db) {
  const [rows] = await db.query('SELECT EXISTS (SELECT 1 FROM floor_jobs) AS live');
  return Number(rows[0].live) === 1;
}

export async function drain({ count }) {
  const db = await pool({ connectionLimit: 4 });
  await db.query('SELECT 1');
  const counter = completionCounter(count);
  const t0 = nowMs();
  const cpu0 = process.cpuUsage();
  await work(db, { stopAt: count, counter });
  while (await liveRows(db)) await sleep(2);
  const ms = nowMs() - t0;
  const cpuMs = cpuMsSince(cpu0);
  await db.end();
  return { ms, count: counter.count, cpuMs };
}

export async function backlog({ k }) {
  const db = await pool({ connectionLimit: 4 });
  await db.query('SELECT 1');
  const counter = completionCounter(k);
  const t0 = nowMs();
  const cpu0 = process.cpuUsage();
  await work(db, { stopAt: k, counter });
  const ms = counter.reachedAt - t0;
  const cpuMs = cpuMsSince(cpu0);
  await db.end();
  return { ms, count: counter.count, cpuMs };
}

export async function txn({ count, clients, baseline = false }) {
  const db = await pool({ connectionLimit: clients, multipleStatements: false });
  const conns = await Promise.all(Array.from({ length: clients }, () => db.getConnection()));
  const t0 = nowMs();
  const latencies = await concurrently(count, clients, async (i, lane) => {
    const c = conns[lane];
    await c.beginTransaction();
    await c.query('INSERT INTO floor_app_users (email) VALUES (?)', [`user${i}@example.com`]);
    if (!baseline) {
      await c.query(
        'INSERT INTO floor_jobs (queue, event_name, handler_name, max_retries, payload) VALUES (?, ?, ?, ?, ?)',
        [QUEUE, 'bench.event', 'bench.handler', 3, bytes(payloadOf(i))],
      );
    }
    await c.commit();
  });
  const ms = nowMs() - t0;
  const rtt = await concurrently(Math.min(count, 2000), clients, (_, lane) => conns[lane].query('SELECT 1'));
  for (const c of conns) c.release();
  await db.end();
  return { ms, count, ...latencySummary(latencies), rttP50: latencySummary(rtt).p50 };
}
