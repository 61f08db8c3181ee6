// The soak of issue 12, item 5: does bus stay fast when its tables are big? For each driver, two
// databases of its own on the same server:
//   - empty: the bus tables, emptied before each of its drains;
//   - big: ARCHIVED archive rows finished over the last 30 days (97% older than the 1-day
//     retention) and LIVE live rows, most of them delayed (95% due in 1–30 days in the drained
//     queue, 5% due now in another queue).
// Then, round by round, in a rotating order: a drain of DRAIN rows through a bus on empty, the
// same on big, and the same on big while prune deletes old archive rows at a steady 2,000 rows/s
// target (prune every 500 ms, up to 1,000 rows a call): rows/s, claim and settle p50/p99, the rate
// prune kept and its p50/p99. Interleaved, so that a shared machine's load, which moves over
// minutes, weighs on both databases alike; "vs empty" is the median of each round's ratio. On a
// PostgreSQL server with autovacuum off, the hot tables are vacuumed before each drain instead.
//
//   pnpm soak                        full size: 10,000,000 archived and 1,000,000 live rows
//   pnpm soak -- --scale 0.01        1% of that (the CI test runs a smaller size still)
// Flags: --scale F, --drivers postgres,mysql, --drain N, --rounds N (rounds of the three drains,
// default 5: the median rate is reported, latencies pooled), --json (one JSON report on stdout),
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

/** Drains of one kind: the median rate (and range), latencies pooled over them. */
function pooled(runs, { prune = false } = {}) {
  const rates = runs.map((r) => r.rowsPerS).sort((a, b) => a - b);
  const all = (pick) => runs.flatMap((r) => pick(r) ?? []);
  return {
    rowsPerS: rates[rates.length >> 1],
    rowsPerSRange: [rates[0], rates[rates.length - 1]],
    claim: summary(all((r) => r.claimMs)),
    settle: summary(all((r) => r.settleMs)),
    ...(prune
      ? {
          prune: {
            rowsPerS: Math.round(runs.reduce((sum, r) => sum + r.prune.rowsPerS, 0) / runs.length),
            deleted: runs.reduce((sum, r) => sum + r.prune.deleted, 0),
            ...summary(all((r) => r.pruneMs)),
          },
        }
      : {}),
  };
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

/**
 * The soak of one driver: an empty database and a big one side by side on the same server, their
 * drains interleaved round by round (the kinds in a rotating order), so that the load of a shared
 * machine, which moves over minutes, weighs on both alike; each round's big ÷ empty is a ratio of
 * drains a few seconds apart. One drain of each database first, not counted: the first drains
 * after writing millions of rows meet the server's after-load work (checkpoint, vacuum, flushing).
 */
async function soakDriver(driver, size, log, db, keep, serverUrl) {
  const open = DRIVERS[driver];
  const empty = await open(`${db}_empty`, size, serverUrl);
  try {
    const big = await open(db, size, serverUrl);
    try {
      const fillSeconds = Math.round(await big.fill());
      log(`${driver} filled`, { seconds: fillSeconds });
      await drain(empty.store, size.drain);
      await drain(big.store, size.drain);
      const runs = { empty: [], big: [], withPrune: [] };
      const kinds = ['empty', 'big', 'withPrune'];
      for (let round = 0; round < size.rounds; round++) {
        for (let k = 0; k < kinds.length; k++) {
          const kind = kinds[(round + k) % kinds.length];
          if (kind === 'empty') {
            // Truly empty at every drain: the archive rows of the last one go.
            await empty.clear();
            await empty.upkeep();
            runs.empty.push(await drain(empty.store, size.drain));
          } else {
            await big.upkeep();
            runs[kind].push(await drain(big.store, size.drain, { prune: kind === 'withPrune' }));
          }
          log(`${driver} round ${round + 1} ${kind}`, { rowsPerS: runs[kind].at(-1).rowsPerS });
        }
      }
      const ratio = (kind) =>
        Math.round(median(runs[kind].map((r, i) => r.rowsPerS / runs.empty[i].rowsPerS)) * 100) / 100;
      return {
        empty: pooled(runs.empty),
        big: pooled(runs.big),
        withPrune: pooled(runs.withPrune, { prune: true }),
        // The median over rounds of each round's ratio to that round's empty drain.
        ratios: { big: ratio('big'), withPrune: ratio('withPrune') },
        fillSeconds,
      };
    } finally {
      await big.close(keep);
    }
  } finally {
    await empty.close(keep);
  }
}

/** Per driver: opens a database of its own with the bus tables; `fill` writes the big tables. */
const DRIVERS = {
  async postgres(name, size, serverUrl) {
    const adminUrl = serverUrl ?? pgUrl(PG.adminDb);
    const dbUrl = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).href;
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.unsafe(`CREATE DATABASE ${name}`);
    await admin.end();
    const client = postgres(dbUrl, { max: 8, onnotice: () => {} });
    const drizzled = drizzlePg(client);
    await migratePg(drizzled);
    if (size.autovacuum === 'tuned') {
      // The hot table's settings of docs/tuning.md: vacuum after a fixed number of dead rows, not
      // a share of a table that a backlog of delayed rows makes big.
      await client.unsafe(`ALTER TABLE bus_events SET (${HOT_TABLE_AUTOVACUUM})`);
    }
    // A server with autovacuum off (some test setups) never vacuums the hot table: its dead rows
    // pile up drain after drain, which no production server does. There, the hot table is
    // vacuumed (and analyzed) before each drain, as autovacuum would between them.
    const [{ autovacuum }] = await client.unsafe('SHOW autovacuum');
    const vacuumHere = autovacuum !== 'on';
    size.upkeep = vacuumHere
      ? 'VACUUM ANALYZE of the hot table before each drain (server autovacuum off)'
      : 'autovacuum';
    return {
      store: postgresStore(drizzled, { listen: false }),
      async clear() {
        await client.unsafe('TRUNCATE bus_events_archive');
      },
      async upkeep() {
        if (vacuumHere) await client.unsafe('VACUUM ANALYZE bus_events');
      },
      async fill() {
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
        return (performance.now() - fillStarted) / 1000;
      },
      async close(keep) {
        await client.end({ timeout: 5 });
        if (!keep) {
          const dropper = postgres(adminUrl, { max: 1, onnotice: () => {} });
          await dropper.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
          await dropper.end();
        }
      },
    };
  },

  async mysql(name, size, serverUrl) {
    const server = serverUrl
      ? { uri: serverUrl }
      : { host: MYSQL.host, port: MYSQL.port, user: MYSQL.user, password: MYSQL.password };
    const admin = await mysql.createConnection(server);
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
    await admin.end();
    const pool = mysql.createPool({ ...server, database: name, connectionLimit: 8 });
    const drizzled = drizzleMysql(pool);
    await migrateMysql(drizzled);
    return {
      store: mysqlStore(drizzled),
      async clear() {
        await pool.query('TRUNCATE TABLE bus_events_archive');
      },
      // InnoDB purges deleted rows on its own, whatever the settings.
      async upkeep() {},
      async fill() {
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
        return (performance.now() - fillStarted) / 1000;
      },
      async close(keep) {
        await pool.end();
        if (!keep) {
          const dropper = await mysql.createConnection(server);
          await dropper.query(`DROP DATABASE IF EXISTS ${name}`);
          await dropper.end();
        }
      },
    };
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
    report.drivers[driver] = await soakDriver(driver, size, log, database, keep, urls[driver]);
  return report;
}

function table(report) {
  const pct = (a, b) => `${Math.round((a / b) * 100)}%`;
  const ms = (x) => x.toFixed(1);
  const out = [
    `Soak: ${report.size.archived.toLocaleString('en')} archived and ${report.size.live.toLocaleString('en')} live rows ` +
      `(95% delayed); ${report.size.rounds} drain(s) of ${report.size.drain.toLocaleString('en')} rows per line at 24 slots, ` +
      'batch 100, archive all, the kinds interleaved round by round (median rate and range; "vs empty" is the median of ' +
      "each round's ratio to that round's empty drain; claim latency of every claim, pooled)." +
      (report.size.upkeep ? ` PostgreSQL upkeep: ${report.size.upkeep}.` : ''),
    '',
    '| driver | tables | drain rows/s | vs empty | claim p50 / p99 ms | settle p50 / p99 ms | prune rows/s (target 2,000) | prune p50 / p99 ms |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [driver, r] of Object.entries(report.drivers)) {
    for (const [label, x, ratio] of [
      ['empty', r.empty, 1],
      ['big', r.big, r.ratios.big],
      ['big + prune', r.withPrune, r.ratios.withPrune],
    ]) {
      out.push(
        `| ${driver} | ${label} | ${x.rowsPerS.toLocaleString('en')} (${x.rowsPerSRange.map((v) => v.toLocaleString('en')).join(' – ')}) | ${pct(ratio, 1)} | ${ms(x.claim.p50)} / ${ms(x.claim.p99)} | ${ms(x.settle.p50)} / ${ms(x.settle.p99)} | ` +
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
      rounds: { type: 'string', default: '5' },
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
