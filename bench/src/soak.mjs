// The soak of issue 12, item 5: does bus stay fast when its tables are big? For each driver, on
// a database of its own:
//   1. empty tables: drain DRAIN rows through a bus (claim p50/p99 of every claim, rows/s);
//   2. fill: ARCHIVED archive rows finished over the last 30 days (97% older than the 1-day retention) and LIVE live rows, most of them
//      delayed (95% due in 1–30 days in the drained queue, 5% due now in another queue);
//   3. big tables: the same drain again;
//   4. big tables with retention: the same drain while prune deletes old archive rows at a steady
//      2,000 rows/s target (prune every 500 ms, up to 1,000 rows a call): the rate prune kept,
//      its p50/p99, and the claims beside it.
//
//   pnpm soak                        full size: 10,000,000 archived and 1,000,000 live rows
//   pnpm soak -- --scale 0.01        1% of that (the CI test runs a smaller size still)
// Flags: --scale F, --drivers postgres,mysql, --drain N, --rounds N (drains per phase, default 3:
// the median rate is reported, latencies pooled), --json (one JSON report on stdout),
// --keep (leave the bus_soak databases for a look afterwards), --autovacuum tuned (PostgreSQL: the
// hot table's settings of docs/tuning.md before anything runs; default: the server's).
// Env: BENCH_PG_*, BENCH_MYSQL_* (see util.mjs).
import { parseArgs } from 'node:util';
import { createBus, defineEvent, Registry } from 'bus-core';
import { migrate as migrateMysql, mysqlStore } from 'bus-mysql';
import { migrate as migratePg, postgresStore } from 'bus-postgres';
import { drizzle as drizzleMysql } from 'drizzle-orm/mysql2';
import { drizzle as drizzlePg } from 'drizzle-orm/postgres-js';
import mysql from 'mysql2/promise';
import postgres from 'postgres';
import { MYSQL, PG, payloadOf, percentile, pgUrl, sleep } from './util.mjs';

const FULL = { archived: 10_000_000, live: 1_000_000, drain: 50_000 };
const PRUNE_TARGET_PER_S = 2000;
/** The hot table's autovacuum settings recommended in docs/tuning.md (PostgreSQL). */
const HOT_TABLE_AUTOVACUUM = [
  'autovacuum_vacuum_scale_factor = 0',
  'autovacuum_vacuum_threshold = 10000',
  'autovacuum_vacuum_insert_scale_factor = 0',
  'autovacuum_vacuum_insert_threshold = 10000',
  'autovacuum_analyze_scale_factor = 0',
  'autovacuum_analyze_threshold = 10000',
  'autovacuum_vacuum_cost_delay = 0',
].join(', ');

const SoakEvent = defineEvent('soak.event');

/** Wraps a store so the latency of every claim and settle is recorded (ms) while `timing.on`. */
function timedStore(store, timing) {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property);
      if (typeof value !== 'function') return value;
      // Bound to the store itself: its methods read #private fields, which a Proxy lacks.
      if (property !== 'claim' && property !== 'settle') return value.bind(target);
      const into = property === 'claim' ? timing.claims : timing.settles;
      return async (params) => {
        const started = performance.now();
        const result = await value.call(target, params);
        if (timing.on && (property === 'settle' || result.length > 0)) into.push(performance.now() - started);
        return result;
      };
    },
  });
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

/** Publishes `count` rows and drains them with a bus of 24 slots; with `prune`, prunes meanwhile. */
async function drain(store, count, { prune = false } = {}) {
  const timing = { on: false, claims: [], settles: [] };
  let handled = 0;
  let resolveDone;
  const done = new Promise((resolve) => {
    resolveDone = resolve;
  });
  class SoakHandler {
    static handlerName = 'soak.handler';
    static settings = { queueName: 'soak', maxRetries: 3, executionTimeout: 30_000 };
    handle() {
      if (++handled === count) resolveDone();
    }
  }
  const registry = new Registry();
  registry.register(SoakEvent, SoakHandler);
  const bus = createBus({
    store: timedStore(store, timing),
    registry,
    queues: [{ queueName: 'soak', workers: 24, batchSize: 100, sleepInterval: 50, archivePolicy: 'all' }],
  });
  await bus.init();
  for (let i = 0; i < count; i += 5000) {
    await bus.publishBatch(
      SoakEvent,
      Array.from({ length: Math.min(5000, count - i) }, (_, k) => payloadOf(i + k)),
    );
  }
  const pruning = { on: prune, deleted: 0, calls: [] };
  const pruner = (async () => {
    while (pruning.on) {
      const started = performance.now();
      pruning.deleted += await store.prune({ olderThanMs: 86_400_000, limit: 1000 });
      pruning.calls.push(performance.now() - started);
      await sleep(Math.max(0, 500 - (performance.now() - started)));
    }
  })();
  const pruneStarted = performance.now();
  timing.on = true;
  const started = performance.now();
  await bus.controller.startWorkers();
  await done;
  const seconds = (performance.now() - started) / 1000;
  timing.on = false;
  pruning.on = false;
  await pruner;
  const pruneSeconds = (performance.now() - pruneStarted) / 1000;
  bus.controller.shutdown();
  await bus.controller.awaitTerminationWithTimeout(10_000);
  return {
    rowsPerS: Math.round(count / seconds),
    claimMs: timing.claims,
    settleMs: timing.settles,
    ...(prune
      ? {
          prune: { rowsPerS: Math.round(pruning.deleted / pruneSeconds), deleted: pruning.deleted },
          pruneMs: pruning.calls,
        }
      : {}),
  };
}

/** `drain` `rounds` times: the median rate (and range), latencies pooled over the rounds. */
async function drains(store, count, rounds, options = {}) {
  const runs = [];
  for (let i = 0; i < rounds; i++) runs.push(await drain(store, count, options));
  const rates = runs.map((r) => r.rowsPerS).sort((a, b) => a - b);
  const pooled = (pick) => runs.flatMap((r) => pick(r) ?? []);
  return {
    rowsPerS: rates[rates.length >> 1],
    rowsPerSRange: [rates[0], rates[rates.length - 1]],
    claim: summary(pooled((r) => r.claimMs)),
    settle: summary(pooled((r) => r.settleMs)),
    ...(options.prune
      ? {
          prune: {
            rowsPerS: Math.round(runs.reduce((sum, r) => sum + r.prune.rowsPerS, 0) / runs.length),
            deleted: runs.reduce((sum, r) => sum + r.prune.deleted, 0),
            ...summary(pooled((r) => r.pruneMs)),
          },
        }
      : {}),
  };
}

const DRIVERS = {
  async postgres(size, log, db, keep, serverUrl) {
    const adminUrl = serverUrl ?? pgUrl(PG.adminDb);
    const dbUrl = Object.assign(new URL(adminUrl), { pathname: `/${db}` }).href;
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.unsafe(`CREATE DATABASE ${db}`);
    await admin.end();
    const client = postgres(dbUrl, { max: 8, onnotice: () => {} });
    const drizzled = drizzlePg(client);
    await migratePg(drizzled);
    if (size.autovacuum === 'tuned') {
      // The hot table's settings of docs/tuning.md: vacuum after a fixed number of dead rows, not
      // a share of a table that a backlog of delayed rows makes big.
      await client.unsafe(`ALTER TABLE bus_events SET (${HOT_TABLE_AUTOVACUUM})`);
    }
    const store = postgresStore(drizzled, { listen: false });
    try {
      const empty = await drains(store, size.drain, size.rounds);
      log('postgres empty', empty);
      const fillStarted = performance.now();
      for (let from = 1; from <= size.archived; from += 1_000_000) {
        const to = Math.min(size.archived, from + 999_999);
        await client.unsafe(`INSERT INTO bus_events_archive
            (id, queue, event_name, handler_name, payload, attempts, max_retries, priority, status, created_at, finished_at)
          SELECT 1000000000000 + g, 'old', 'soak.event', 'soak.handler', '\\x81a16e01'::bytea, 1, 3, 0, 'completed',
                 now() - (g % 30) * interval '1 day' - (g % 86400) * interval '1 second' - interval '1 second',
                 now() - (g % 30) * interval '1 day' - (g % 86400) * interval '1 second'
          FROM generate_series(${from}, ${to}) g`);
      }
      for (let from = 1; from <= size.live; from += 1_000_000) {
        const to = Math.min(size.live, from + 999_999);
        await client.unsafe(`INSERT INTO bus_events (queue, event_name, handler_name, payload, max_retries, scheduled_at)
          SELECT CASE WHEN g % 20 = 0 THEN 'other' ELSE 'soak' END, 'soak.event', 'soak.handler', '\\x81a16e01'::bytea, 3,
                 CASE WHEN g % 20 = 0 THEN now() ELSE now() + (1 + g % 2592000) * interval '1 second' END
          FROM generate_series(${from}, ${to}) g`);
      }
      await client.unsafe('VACUUM ANALYZE bus_events');
      await client.unsafe('VACUUM ANALYZE bus_events_archive');
      // The fill's dirty pages written out now, not by a checkpoint during the drains.
      await client.unsafe('CHECKPOINT');
      const fillSeconds = (performance.now() - fillStarted) / 1000;
      log('postgres filled', { seconds: Math.round(fillSeconds) });
      const big = await drains(store, size.drain, size.rounds);
      log('postgres big', big);
      const withPrune = await drains(store, size.drain, size.rounds, { prune: true });
      log('postgres big + prune', withPrune);
      return { empty, big, withPrune, fillSeconds: Math.round(fillSeconds) };
    } finally {
      await client.end({ timeout: 5 });
      if (!keep) {
        const dropper = postgres(adminUrl, { max: 1, onnotice: () => {} });
        await dropper.unsafe(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
        await dropper.end();
      }
    }
  },

  async mysql(size, log, db, keep, serverUrl) {
    const server = serverUrl
      ? { uri: serverUrl }
      : { host: MYSQL.host, port: MYSQL.port, user: MYSQL.user, password: MYSQL.password };
    const admin = await mysql.createConnection(server);
    await admin.query(`DROP DATABASE IF EXISTS ${db}`);
    await admin.query(`CREATE DATABASE ${db} CHARACTER SET utf8mb4`);
    await admin.end();
    const pool = mysql.createPool({ ...server, database: db, connectionLimit: 8 });
    const drizzled = drizzleMysql(pool);
    await migrateMysql(drizzled);
    const store = mysqlStore(drizzled);
    try {
      const empty = await drains(store, size.drain, size.rounds);
      log('mysql empty', empty);
      const fillStarted = performance.now();
      // MariaDB's sequence engine (seq_1_to_N) generates the rows.
      for (let from = 1; from <= size.archived; from += 500_000) {
        const to = Math.min(size.archived, from + 499_999);
        await pool.query(`INSERT INTO bus_events_archive
            (id, queue, event_name, handler_name, payload, attempts, max_retries, priority, status, created_at, finished_at)
          SELECT 1000000000000 + seq, 'old', 'soak.event', 'soak.handler', X'81a16e01', 1, 3, 0, 'completed',
                 UTC_TIMESTAMP(6) - INTERVAL seq % 30 DAY - INTERVAL seq % 86400 + 1 SECOND,
                 UTC_TIMESTAMP(6) - INTERVAL seq % 30 DAY - INTERVAL seq % 86400 SECOND
          FROM seq_${from}_to_${to}`);
      }
      for (let from = 1; from <= size.live; from += 500_000) {
        const to = Math.min(size.live, from + 499_999);
        await pool.query(`INSERT INTO bus_events (queue, event_name, handler_name, payload, max_retries, priority, scheduled_at, created_at)
          SELECT IF(seq % 20 = 0, 'other', 'soak'), 'soak.event', 'soak.handler', X'81a16e01', 3, 0,
                 IF(seq % 20 = 0, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL 1 + seq % 2592000 SECOND), UTC_TIMESTAMP(6)
          FROM seq_${from}_to_${to}`);
      }
      await pool.query('ANALYZE TABLE bus_events, bus_events_archive');
      // The fill's dirty pages flushed by InnoDB before the drains (at most a minute).
      const flushedBy = Date.now() + 60_000;
      for (;;) {
        const [[status]] = await pool.query("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'");
        if (Number(status.Value) < 1000 || Date.now() > flushedBy) break;
        await sleep(1000);
      }
      const fillSeconds = (performance.now() - fillStarted) / 1000;
      log('mysql filled', { seconds: Math.round(fillSeconds) });
      const big = await drains(store, size.drain, size.rounds);
      log('mysql big', big);
      const withPrune = await drains(store, size.drain, size.rounds, { prune: true });
      log('mysql big + prune', withPrune);
      return { empty, big, withPrune, fillSeconds: Math.round(fillSeconds) };
    } finally {
      await pool.end();
      if (!keep) {
        const dropper = await mysql.createConnection(server);
        await dropper.query(`DROP DATABASE IF EXISTS ${db}`);
        await dropper.end();
      }
    }
  },
};

/**
 * Runs the soak for `drivers` at `scale` of the full size and returns the figures per driver.
 * `database` is created (and dropped unless `keep`) on each server; `urls` override the servers
 * (`postgres`: a URL with the database to connect to for CREATE DATABASE; `mysql`: a server URL).
 *
 * @example
 * const report = await soak({ scale: 0.001, drivers: ['postgres'] });
 */
export async function soak({
  scale = 1,
  drivers = ['postgres', 'mysql'],
  drain: drainRows,
  rounds = 1,
  autovacuum = 'default',
  database = 'bus_soak',
  keep = false,
  urls = {},
  log = () => {},
} = {}) {
  if (!/^[a-z_][a-z0-9_]*$/.test(database))
    throw new Error(`soak: database ${database} is not a plain identifier`);
  const size = {
    archived: Math.max(1000, Math.round(FULL.archived * scale)),
    live: Math.max(1000, Math.round(FULL.live * scale)),
    drain: drainRows ?? Math.max(2000, Math.round(FULL.drain * Math.min(1, scale * 10))),
    rounds,
    autovacuum,
  };
  const report = { size, pruneTargetPerS: PRUNE_TARGET_PER_S, drivers: {} };
  for (const driver of drivers)
    report.drivers[driver] = await DRIVERS[driver](size, log, database, keep, urls[driver]);
  return report;
}

function table(report) {
  const pct = (a, b) => `${Math.round((a / b) * 100)}%`;
  const ms = (x) => x.toFixed(1);
  const out = [
    `Soak: ${report.size.archived.toLocaleString('en')} archived and ${report.size.live.toLocaleString('en')} live rows ` +
      `(95% delayed); ${report.size.rounds} drain(s) of ${report.size.drain.toLocaleString('en')} rows per line at 24 slots, ` +
      'batch 100, archive all (median rate and range; claim latency of every claim, pooled).',
    '',
    '| driver | tables | drain rows/s | vs empty | claim p50 / p99 ms | settle p50 / p99 ms | prune rows/s (target 2,000) | prune p50 / p99 ms |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [driver, r] of Object.entries(report.drivers)) {
    for (const [label, x] of [
      ['empty', r.empty],
      ['big', r.big],
      ['big + prune', r.withPrune],
    ]) {
      out.push(
        `| ${driver} | ${label} | ${x.rowsPerS.toLocaleString('en')} (${x.rowsPerSRange.map((v) => v.toLocaleString('en')).join(' – ')}) | ${pct(x.rowsPerS, r.empty.rowsPerS)} | ${ms(x.claim.p50)} / ${ms(x.claim.p99)} | ${ms(x.settle.p50)} / ${ms(x.settle.p99)} | ` +
          `${x.prune ? x.prune.rowsPerS.toLocaleString('en') : '—'} | ${x.prune ? `${ms(x.prune.p50)} / ${ms(x.prune.p99)}` : '—'} |`,
      );
    }
  }
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '1' },
      drivers: { type: 'string', default: 'postgres,mysql' },
      drain: { type: 'string' },
      json: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      rounds: { type: 'string', default: '3' },
      autovacuum: { type: 'string', default: 'default' },
    },
  });
  const report = await soak({
    scale: Number(values.scale),
    drivers: values.drivers.split(','),
    drain: values.drain === undefined ? undefined : Number(values.drain),
    keep: values.keep,
    rounds: Number(values.rounds),
    autovacuum: values.autovacuum,
    log: (what, figures) => console.error(`${new Date().toISOString()} ${what}: ${JSON.stringify(figures)}`),
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : table(report));
  process.exit(0);
}
