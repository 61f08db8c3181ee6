// How fast the dashboard's screens answer with 1,000,000 live and 1,000,000 archived rows.
//
//   pnpm --filter bus-dashboard build
//   node packages/bus-dashboard/scripts/list-latency.mjs [--rows 1000000] [--only postgres|mysql]
//
// Fills a schema (PostgreSQL) or database (MariaDB) of its own with bulk INSERT … SELECT from
// generate_series / MariaDB's seq_1_to_N, then times each screen through the dashboard's own
// fetch handler (admin API, SQL, rendering; no network): one warm-up, then the median and the
// worst of 7 requests. Drops what it made at the end. The figures are in docs/dashboard.md.
//
// The queues screen answers from counts taken in the background, so it is timed last (its
// counts would run beside the other screens' timings): one request starts the first count, the
// script waits until the page says "counted", then times 7 requests, which answer from those
// counts while the next ones are taken beside them. The exact count those counts come from
// (`admin.queues()`, what `bus stats` does) is timed on its own just before.
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import postgres from 'postgres';
import { connect, createDashboard } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    only: { type: 'string' },
    // Keep the filled schema/database (its name is printed) to look at plans afterwards.
    keep: { type: 'boolean', default: false },
    // Only fill, time nothing (with --keep).
    'fill-only': { type: 'boolean', default: false },
  },
});
const ROWS = Number(values.rows);
const PG_URL = process.env.BUS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = process.env.BUS_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
// encodePayload({ to: 'user@example.test', n: 1 }), as msgpack.
const PAYLOAD_HEX = '82a2746fb175736572406578616d706c652e74657374a16e01';

/** The screens, as an operator opens them; `:live` and `:archived` become a real row id. */
const SCREENS = [
  ['rows, first page', '/events'],
  ['rows, newest first', '/events?newestFirst=1'],
  ['rows of one queue', '/events?queue=q7'],
  ['rows, state scheduled', '/events?state=scheduled'],
  ['rows, state running', '/events?state=running'],
  ['rows, queue + handler + state', '/events?queue=q3&handlerName=h3&state=available'],
  ['rows, page 5000 (afterId)', '/events?afterId=:deepLive'],
  ['rows, error contains (frequent)', '/events?errorContains=timeout'],
  ['rows, error contains (no match: full scan)', '/events?errorContains=no-such-error-text'],
  ['one live row', '/events/:live'],
  ['archive, first page', '/archive'],
  ['archive, newest first', '/archive?newestFirst=1'],
  ['archive, failed', '/archive?status=failed'],
  ['archive, cancelled of one queue', '/archive?queue=q9&status=cancelled'],
  ['archive, cancelled of a queue with none (index walk)', '/archive?queue=q2&status=cancelled'],
  ['archive, error contains', '/archive?errorContains=HTTP%20503'],
  ['one archived row', '/events/:archived'],
  ['workers', '/workers'],
];
const EXACT_COUNTS = 'exact counts of every queue (admin.queues(), as bus stats)';
const QUEUES_SCREEN = 'queues (background counts, warm)';
const LABELS = [...SCREENS.map(([label]) => label), EXACT_COUNTS, QUEUES_SCREEN];
// The first count at a million rows takes 15-20 s on MariaDB; a busy machine, longer.
const FIRST_COUNT_DEADLINE_MS = 600_000;

async function fillPostgres(schema) {
  const sql = postgres(PG_URL, { max: 1, onnotice: () => {}, connection: { search_path: schema } });
  await sql`SET synchronous_commit = off`;
  await sql.unsafe(`
    INSERT INTO bus_events (queue, event_name, handler_name, payload, attempts, max_retries, priority,
      scheduled_at, locked_until, locked_by, last_error, created_at)
    SELECT 'q' || (n % 10), 'event.e' || (n % 10), 'h' || (n % 10), decode('${PAYLOAD_HEX}', 'hex'),
      CASE WHEN n % 10 = 0 THEN 1 ELSE 0 END, 3, 0,
      CASE WHEN n % 20 < 3 THEN now() + interval '1 hour' ELSE now() - interval '1 minute' END,
      CASE WHEN n % 20 = 19 THEN now() + interval '10 minutes' END,
      CASE WHEN n % 20 = 19 THEN 'worker-' || (n % 4) END,
      CASE WHEN n % 10 = 0 THEN 'timeout after 30000 ms' END,
      now() - interval '2 minutes'
    FROM generate_series(1, ${ROWS}) AS n`);
  await sql.unsafe(`
    INSERT INTO bus_events_archive (id, queue, event_name, handler_name, payload, attempts, max_retries,
      priority, status, last_error, created_at, finished_at)
    SELECT ${ROWS} + n, 'q' || (n % 10), 'event.e' || (n % 10), 'h' || (n % 10), decode('${PAYLOAD_HEX}', 'hex'),
      1, 3, 0,
      CASE WHEN n % 20 < 14 THEN 'completed' WHEN n % 20 < 19 THEN 'failed' ELSE 'cancelled' END,
      CASE WHEN n % 20 BETWEEN 14 AND 18 THEN 'HTTP 503 from the provider' WHEN n % 20 = 19 THEN 'cancelled by an operator' END,
      now() - interval '1 day', now() - (n || ' milliseconds')::interval
    FROM generate_series(1, ${ROWS}) AS n`);
  await sql.unsafe('ANALYZE bus_events; ANALYZE bus_events_archive');
  await sql.end();
}

async function fillMysql(database) {
  const connection = await mysql.createConnection({ uri: `${MYSQL_URL}/${database}` });
  const seq = `seq_1_to_${ROWS}`;
  await connection.query(`
    INSERT INTO bus_events (queue, event_name, handler_name, payload, attempts, max_retries, priority,
      scheduled_at, locked_until, locked_by, last_error, created_at)
    SELECT CONCAT('q', seq % 10), CONCAT('event.e', seq % 10), CONCAT('h', seq % 10), X'${PAYLOAD_HEX}',
      IF(seq % 10 = 0, 1, 0), 3, 0,
      IF(seq % 20 < 3, UTC_TIMESTAMP(6) + INTERVAL 1 HOUR, UTC_TIMESTAMP(6) - INTERVAL 1 MINUTE),
      IF(seq % 20 = 19, UTC_TIMESTAMP(6) + INTERVAL 10 MINUTE, NULL),
      IF(seq % 20 = 19, CONCAT('worker-', seq % 4), NULL),
      IF(seq % 10 = 0, 'timeout after 30000 ms', NULL),
      UTC_TIMESTAMP(6) - INTERVAL 2 MINUTE
    FROM ${seq}`);
  await connection.query(`
    INSERT INTO bus_events_archive (id, queue, event_name, handler_name, payload, attempts, max_retries,
      priority, status, last_error, created_at, finished_at)
    SELECT ${ROWS} + seq, CONCAT('q', seq % 10), CONCAT('event.e', seq % 10), CONCAT('h', seq % 10), X'${PAYLOAD_HEX}',
      1, 3, 0,
      CASE WHEN seq % 20 < 14 THEN 'completed' WHEN seq % 20 < 19 THEN 'failed' ELSE 'cancelled' END,
      CASE WHEN seq % 20 BETWEEN 14 AND 18 THEN 'HTTP 503 from the provider' WHEN seq % 20 = 19 THEN 'cancelled by an operator' END,
      UTC_TIMESTAMP(6) - INTERVAL 1 DAY, UTC_TIMESTAMP(6) - INTERVAL seq * 1000 MICROSECOND
    FROM ${seq}`);
  await connection.query('ANALYZE TABLE bus_events, bus_events_archive');
  await connection.end();
}

async function time(dashboard, path) {
  return timeRuns(async () => {
    const response = await dashboard.fetch(new Request(`http://127.0.0.1${path}`));
    await response.text();
    if (response.status !== 200) throw new Error(`${path} answered ${response.status}`);
  });
}

/** One warm-up, then the median and the worst of 7 runs of `run`. */
async function timeRuns(run) {
  const once = async () => {
    const started = performance.now();
    await run();
    return performance.now() - started;
  };
  await once();
  const runs = [];
  for (let i = 0; i < 7; i++) runs.push(await once());
  runs.sort((a, b) => a - b);
  return { median: runs[3], worst: runs[6] };
}

async function measure(kind) {
  const name = `bus_latency_${randomBytes(3).toString('hex')}`;
  let connection;
  let drop;
  if (kind === 'postgres') {
    const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE SCHEMA "${name}"`);
    drop = async () => {
      await admin.unsafe(`DROP SCHEMA "${name}" CASCADE`);
      await admin.end();
    };
    drop.keep = () => admin.end();
    connection = await connect({ databaseUrl: PG_URL, schema: name });
  } else {
    const admin = await mysql.createConnection({ uri: MYSQL_URL });
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
    drop = async () => {
      await admin.query(`DROP DATABASE \`${name}\``);
      await admin.end();
    };
    drop.keep = () => admin.end();
    connection = await connect({ databaseUrl: `${MYSQL_URL}/${name}` });
  }
  try {
    await connection.migrate();
    const filling = performance.now();
    await (kind === 'postgres' ? fillPostgres(name) : fillMysql(name));
    console.error(
      `${kind}: filled ${ROWS} live + ${ROWS} archived rows in ${((performance.now() - filling) / 1000).toFixed(0)} s`,
    );
    if (values.keep) console.error(`${kind}: kept as ${name}`);
    if (values['fill-only']) return LABELS.map(() => ({ median: Number.NaN, worst: Number.NaN }));
    const dashboard = createDashboard({ admin: connection.admin, readOnly: true });
    const ids = {
      ':deepLive': String(5000 * 50),
      ':live': String(Math.floor(ROWS / 2)),
      ':archived': String(ROWS + Math.floor(ROWS / 3)),
    };
    const results = [];
    for (const [label, path] of SCREENS) {
      const real = path.replace(/:deepLive|:live|:archived/, (m) => ids[m]);
      results.push({ label, path: real, ...(await time(dashboard, real)) });
    }
    results.push({ label: EXACT_COUNTS, ...(await timeRuns(() => connection.admin.queues())) });
    await firstCount(dashboard, kind);
    results.push({ label: QUEUES_SCREEN, path: '/', ...(await time(dashboard, '/')) });
    return results;
  } finally {
    await connection.close();
    if (values.keep) await drop.keep();
    else await drop();
  }
}

/** Asks for the queues screen until its first background count has ended. */
async function firstCount(dashboard, kind) {
  const started = performance.now();
  for (;;) {
    const html = await (await dashboard.fetch(new Request('http://127.0.0.1/'))).text();
    if (html.includes('counts failed:')) throw new Error(`${kind}: the first background count failed`);
    if (html.includes('data-testid="counts-age">counted ')) break;
    if (performance.now() - started > FIRST_COUNT_DEADLINE_MS) {
      throw new Error(`${kind}: no background count ended within ${FIRST_COUNT_DEADLINE_MS} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  console.error(
    `${kind}: first background count after ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

const kinds = values.only ? [values.only] : ['postgres', 'mysql'];
const all = {};
const load = () => loadavg()[0].toFixed(1);
const loadBefore = load();
for (const kind of kinds) all[kind] = await measure(kind);
// The machine is often shared: the load average says how much else ran beside the measurement.
console.log(`${cpus().length} cores, 1-minute load average ${loadBefore} before and ${load()} after.\n`);
console.log(`| screen | ${kinds.map((k) => `${k} median / worst (ms)`).join(' | ')} |`);
console.log(`|---|${kinds.map(() => '---').join('|')}|`);
for (let i = 0; i < LABELS.length; i++) {
  const cells = kinds.map((k) => `${all[k][i].median.toFixed(0)} / ${all[k][i].worst.toFixed(0)}`);
  console.log(`| ${LABELS[i]} | ${cells.join(' | ')} |`);
}
