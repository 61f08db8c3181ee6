// The environment of a run and the markdown report written to docs/benchmarks.md.
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import IORedis from 'ioredis';
import mysql from 'mysql2/promise';
import postgres from 'postgres';
import { MYSQL, median, PG, packageVersion, pgUrl, REDIS } from './util.mjs';

async function safe(fn) {
  try {
    return await fn();
  } catch (error) {
    return `unavailable (${String(error?.message ?? error).slice(0, 60)})`;
  }
}

export async function collectEnvironment(repoRoot) {
  const pgVersion = await safe(async () => {
    const sql = postgres(pgUrl(PG.adminDb), { max: 1, onnotice: () => {} });
    const [row] = await sql`SHOW server_version`;
    await sql.end();
    return `PostgreSQL ${row.server_version.split(' ')[0]}`;
  });
  const mysqlVersion = await safe(async () => {
    const conn = await mysql.createConnection({
      host: MYSQL.host,
      port: MYSQL.port,
      user: MYSQL.user,
      password: MYSQL.password,
    });
    const [rows] = await conn.query('SELECT VERSION() AS v');
    await conn.end();
    const v = rows[0].v;
    return /mariadb/i.test(v) ? `MariaDB ${v.split('-')[0]}` : `MySQL ${v}`;
  });
  const redisVersion = await safe(async () => {
    const redis = new IORedis({
      host: REDIS.host,
      port: REDIS.port,
      lazyConnect: true,
      maxRetriesPerRequest: 1,
    });
    await redis.connect();
    const info = await redis.info('server');
    redis.disconnect();
    return `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'}`;
  });
  const git = await safe(() => {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'packages'], { cwd: repoRoot })
      .toString()
      .trim();
    return dirty ? `${head} + uncommitted changes in packages/` : head;
  });
  const versions = {};
  for (const name of [
    'bus-core',
    'bus-postgres',
    'bus-mysql',
    'graphile-worker',
    'pg-boss',
    'bullmq',
    'ioredis',
    'pg',
    'postgres',
    'mysql2',
    'drizzle-orm',
  ]) {
    versions[name] = packageVersion(name);
  }
  return {
    date: new Date().toISOString(),
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    pg: pgVersion,
    mysql: mysqlVersion,
    redis: redisVersion,
    git,
    versions,
    loadStart: loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
  };
}

// ---------------------------------------------------------------- formatting

const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
const ms = (n) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : '—');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '—');
const pct = (a, b) =>
  Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${Math.round((a / b) * 100)}%` : '—';

function stat(results, id, metric) {
  const values = results[id]?.[metric] ?? [];
  if (values.length === 0) return { med: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  return { med: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length };
}

function table(headers, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join(
    '\n',
  );
}

// ---------------------------------------------------------------- the report

export function renderReport({ cfg, env, results, failures, systems, elapsed, workloads }) {
  const S = (id, metric) => stat(results, id, metric);
  const label = (id) => systems.find((s) => s.id === id)?.label ?? id;
  const has = (id, metric) => (results[id]?.[metric]?.length ?? 0) > 0;
  const range = (s, f) => (s.n > 1 ? `${f(s.min)} – ${f(s.max)}` : s.n === 1 ? 'one run' : '—');
  const out = [];

  out.push('# Benchmarks');
  out.push('');
  out.push(
    `Measured by \`pnpm bench\` (the \`bench/\` package) on ${env.date.slice(0, 10)}: bus against ` +
      'graphile-worker, pg-boss and BullMQ and against a raw-SQL floor, each system in its own Node process, ' +
      'systems alternating, ' +
      `${cfg.rounds} round${cfg.rounds > 1 ? 's' : ''} (latency ${cfg.latencyRounds}, transactional publish ${cfg.txnRounds}; backlog one round of ${cfg.backlogReps} repetitions). Each figure is the median over the rounds with min – max beside it; ` +
      'ratios compare medians from this same run. No-op handlers throughout. The machine has 2 cores shared by ' +
      'the databases, the measured process and whatever else runs there (see the load average): absolute rates ' +
      'move with that load, the ratios much less.' +
      (cfg.smoke ? ' **This is a smoke run with tiny counts: its figures mean nothing.**' : ''),
  );
  out.push('');
  out.push('## Machine and versions');
  out.push('');
  out.push(
    table(
      ['', ''],
      [
        ['CPU', env.cpu],
        ['memory', env.memory],
        ['Node', env.node],
        ['databases', `${env.pg} · ${env.mysql} · ${env.redis} (local, default settings)`],
        [
          'bus',
          `bus-core ${env.versions['bus-core']}, bus-postgres ${env.versions['bus-postgres']}, bus-mysql ${env.versions['bus-mysql']} at ${env.git}`,
        ],
        [
          'peers',
          `graphile-worker ${env.versions['graphile-worker']}, pg-boss ${env.versions['pg-boss']}, bullmq ${env.versions.bullmq} with ioredis ${env.versions.ioredis}`,
        ],
        [
          'clients',
          `postgres.js ${env.versions.postgres}, pg ${env.versions.pg}, mysql2 ${env.versions.mysql2}, drizzle-orm ${env.versions['drizzle-orm']}`,
        ],
        [
          'load average',
          `${env.loadStart} at start, ${env.loadEnd ?? '?'} at end (2 cores: other work on the machine shows here)`,
        ],
        [
          'sizes',
          `${int(cfg.count)} events per publish/drain, published in batches of ${int(cfg.batch)}; latency ${int(cfg.latencyCount)} events at one per ${cfg.latencyIntervalMs} ms; ${int(cfg.txnCount)} transactions from ${cfg.txnClients} clients; backlog ${int(cfg.backlogK)} rows taken with ${int(cfg.backlogSmall)} vs ${int(cfg.backlogBig)} waiting, ${cfg.backlogReps} repetition(s)`,
        ],
        ['duration', Number.isFinite(elapsed) ? `${Math.round(elapsed)} s` : '—'],
      ],
    ),
  );
  out.push('');

  // -------------------------------------------------------------- targets
  const busNone = S('bus-pg-none', 'drain').med;
  const busAll = S('bus-pg-all', 'drain').med;
  const gwDrain = S('graphile', 'drain').med;
  const floorDrain = S('pg-floor', 'drain').med;
  const busPub = S('bus-pg-none', 'publish').med;
  const gwPub = S('graphile', 'publish').med;
  const busP50 = S('bus-pg-none', 'latP50').med;
  const busP99 = S('bus-pg-none', 'latP99').med;
  const gwP50 = S('graphile', 'latP50').med;
  const gwP99 = S('graphile', 'latP99').med;
  const busTxn = S('bus-pg-none', 'txnP50').med;
  const baseTxn = S('pg-baseline', 'txnP50').med;
  const floorTxn = S('pg-floor', 'txnP50').med;
  const busStatements = S('bus-pg-none', 'txnStatements').med;
  const small = S('bus-pg-none', 'backlogSmall').med;
  const big = S('bus-pg-none', 'backlogBig').med;
  const myDrain = S('bus-my-none', 'drain').med;
  const myFloorDrain = S('my-floor', 'drain').med;
  const myPub = S('bus-my-none', 'publish').med;
  const myFloorPub = S('my-floor', 'publish').med;
  const rssPg = S('bus-pg-none', 'rss').med;
  const rssPgAll = S('bus-pg-all', 'rss').med;
  const rssMy = S('bus-my-none', 'rss').med;
  const verdict = (ok) => (ok === undefined ? 'not measured' : ok ? '**holds**' : '**missed**');
  const check = (cond, ...values) => (values.every(Number.isFinite) ? cond() : undefined);
  const oneRoundTrip = floorTxn - baseTxn;

  out.push('## Targets of issue 6');
  out.push('');
  out.push(
    table(
      ['target', 'measured', 'verdict'],
      [
        [
          'drain, archive `none` ≥ 2× graphile-worker (aim 2.5×)',
          `${int(busNone)}/s vs ${int(gwDrain)}/s = ${ratio(busNone, gwDrain)}`,
          verdict(check(() => busNone >= 2 * gwDrain, busNone, gwDrain)),
        ],
        [
          'drain, archive `none` ≥ 60% of the raw floor',
          `${int(busNone)}/s vs ${int(floorDrain)}/s = ${pct(busNone, floorDrain)}`,
          verdict(check(() => busNone >= 0.6 * floorDrain, busNone, floorDrain)),
        ],
        [
          'drain, archive `all` ≥ 1.5× graphile-worker',
          `${int(busAll)}/s vs ${int(gwDrain)}/s = ${ratio(busAll, gwDrain)}`,
          verdict(check(() => busAll >= 1.5 * gwDrain, busAll, gwDrain)),
        ],
        [
          "bulk publish ≥ 2× graphile-worker's `addJobs`",
          `${int(busPub)}/s vs ${int(gwPub)}/s = ${ratio(busPub, gwPub)}`,
          verdict(check(() => busPub >= 2 * gwPub, busPub, gwPub)),
        ],
        [
          "latency p50 and p99 no worse than graphile-worker's (aim p50 ≤ 1 ms)",
          `p50 ${ms(busP50)} ms vs ${ms(gwP50)} ms; p99 ${ms(busP99)} ms vs ${ms(gwP99)} ms`,
          verdict(check(() => busP50 <= gwP50 && busP99 <= gwP99, busP50, gwP50, busP99, gwP99)),
        ],
        [
          'transactional publish costs ≤ one extra round trip (one statement, and no more time than one plain INSERT adds)',
          `${Number.isFinite(busStatements) ? `${busStatements.toFixed(2)} statement(s) added per transaction; ` : ''}` +
            `txn p50 ${ms(busTxn)} ms vs ${ms(baseTxn)} ms without publishing (a plain INSERT adds ${ms(oneRoundTrip)} ms, ` +
            `an INSERT with NOTIFY ${ms(S('pg-floor-notify', 'txnP50').med - baseTxn)} ms)`,
          verdict(
            check(
              () => busStatements <= 1 && busTxn - baseTxn <= Math.max(oneRoundTrip, 0) * 1.5 + 0.5,
              busStatements,
              busTxn,
              baseTxn,
              floorTxn,
            ),
          ),
        ],
        [
          'backlog: drain rate with 1M waiting ≥ 80% of the rate with 10k',
          `${int(big)}/s vs ${int(small)}/s = ${pct(big, small)}`,
          verdict(check(() => big >= 0.8 * small, big, small)),
        ],
        [
          'MySQL: drain ≥ 75% of the MySQL floor',
          `${int(myDrain)}/s vs ${int(myFloorDrain)}/s = ${pct(myDrain, myFloorDrain)}`,
          verdict(check(() => myDrain >= 0.75 * myFloorDrain, myDrain, myFloorDrain)),
        ],
        [
          'MySQL: bulk publish ≥ 60% of the MySQL floor',
          `${int(myPub)}/s vs ${int(myFloorPub)}/s = ${pct(myPub, myFloorPub)}`,
          verdict(check(() => myPub >= 0.6 * myFloorPub, myPub, myFloorPub)),
        ],
        [
          'peak RSS of the worker process during a 100k drain < 150 MB',
          `${int(rssPg)} MB (archive none), ${int(rssPgAll)} MB (all), ${int(rssMy)} MB (MySQL)`,
          verdict(check(() => Math.max(rssPg, rssPgAll, rssMy) < 150, rssPg, rssPgAll, rssMy)),
        ],
      ],
    ),
  );
  out.push('');
  if (cfg.count !== 100_000)
    out.push(`(Sizes differ from the issue's: ${int(cfg.count)} events per drain.)\n`);

  // -------------------------------------------------------------- per-workload tables
  const pgIds = ['bus-pg-none', 'bus-pg-all', 'graphile', 'pgboss', 'bullmq', 'pg-floor'];
  const myIds = ['bus-my-none', 'bus-my-all', 'my-floor'];

  function rateTable(title, metric, ids, reference, note, cpuMetric) {
    const rows = ids
      .filter((id) => has(id, metric))
      .map((id) => {
        const s = S(id, metric);
        const ref = S(reference, metric).med;
        const row = [
          label(id),
          `${int(s.med)}/s`,
          range(s, int),
          id === reference ? '1.00×' : ratio(ref, s.med),
        ];
        if (cpuMetric) row.push(`${int(S(id, cpuMetric).med)} ms`);
        return row;
      });
    if (rows.length === 0) return;
    out.push(`### ${title}`);
    out.push('');
    if (note) out.push(note, '');
    const headers = ['system', 'median', 'min – max', `${label(reference)} ÷ this`];
    if (cpuMetric) headers.push('worker CPU per 1,000 events');
    out.push(table(headers, rows));
    out.push('');
  }

  out.push('## PostgreSQL (and BullMQ on Redis)');
  out.push('');
  rateTable(
    'Bulk publish, 100k events through each batch API',
    'publish',
    pgIds,
    'bus-pg-none',
    `bus \`publishBatch\`, graphile-worker \`addJobs\`, pg-boss \`insert\`, BullMQ \`addBulk\`, the floor one \`INSERT … SELECT FROM unnest(…)\`; batches of ${int(cfg.batch)}, one call at a time.`,
  );
  rateTable(
    'Drain, 100k queued events, one worker process',
    'drain',
    pgIds,
    'bus-pg-none',
    'From starting the workers until the last completion is durable (the table holds no live row). pg-boss keeps completed jobs, so for it "live" means created/retry/active. ' +
      'The last column is the CPU time (user + system) of the worker process per 1,000 events, which the load of the machine disturbs less than wall time.',
    'drainCpu',
  );
  {
    const rows = [...pgIds, ...myIds]
      .filter((id) => has(id, 'rss'))
      .map((id) => {
        const s = S(id, 'rss');
        return [label(id), `${int(s.med)} MB`, range(s, int)];
      });
    if (rows.length) {
      out.push('### Peak RSS of the worker process during the drain');
      out.push('');
      out.push('VmHWM of the draining process (it only drains; publishing ran in another process).');
      out.push('');
      out.push(table(['system', 'median', 'min – max'], rows));
      out.push('');
    }
  }
  {
    const ids = [...pgIds, 'bus-my-none'].filter((id) => has(id, 'latP50'));
    if (ids.length) {
      const ref = S('bus-pg-none', 'latP50').med;
      const ref99 = S('bus-pg-none', 'latP99').med;
      out.push('### Latency, idle workers, one event every 10 ms');
      out.push('');
      out.push(
        'Enqueue-to-start: from just before the publishing call in a separate publisher process to the start of the handler in the worker process (CLOCK_MONOTONIC, shared by both). ' +
          `bus-postgres, graphile-worker, pg-boss and the floor wake on LISTEN/NOTIFY; BullMQ blocks on Redis; bus-mysql polls every ${process.env.BENCH_BUS_MYSQL_SLEEP ?? 20} ms.`,
      );
      out.push('');
      out.push(
        table(
          ['system', 'p50', 'p50 min – max', 'p99', 'p99 min – max', 'this ÷ bus p50', 'this ÷ bus p99'],
          ids.map((id) => {
            const a = S(id, 'latP50');
            const b = S(id, 'latP99');
            return [
              label(id),
              `${ms(a.med)} ms`,
              range(a, ms),
              `${ms(b.med)} ms`,
              range(b, ms),
              ratio(a.med, ref),
              ratio(b.med, ref99),
            ];
          }),
        ),
      );
      out.push('');
    }
  }
  {
    const ids = [
      'pg-baseline',
      'pg-floor',
      'pg-floor-notify',
      'bus-pg-none',
      'graphile',
      'pgboss',
      'bullmq',
      'my-baseline',
      'my-floor',
      'bus-my-none',
    ].filter((id) => has(id, 'txnRate'));
    if (ids.length) {
      out.push(`### Transactional publish, one event per transaction, ${cfg.txnClients} concurrent clients`);
      out.push('');
      out.push(
        "Each transaction inserts the app's own row (`app_users`) and publishes one event in the same transaction: " +
          "bus `publishTxn(tx, …)`, graphile-worker `SELECT graphile_worker.add_job(…)` on the transaction's client, pg-boss `send(…, { db })` bound to it, the floor one `INSERT`. " +
          '"app insert only" is the same transaction without publishing, so the difference is what publishing costs. ' +
          'BullMQ cannot join an SQL transaction: its row is a plain `add()` from 16 clients, for reference. "statements" counts what the publish added inside the transaction.',
      );
      out.push('');
      out.push(
        table(
          ['system', 'txn/s', 'min – max', 'p50', 'p99', 'p50 − app insert only', 'statements'],
          ids.map((id) => {
            const r = S(id, 'txnRate');
            const p50 = S(id, 'txnP50').med;
            const p99 = S(id, 'txnP99').med;
            const base =
              id.startsWith('my-') || id.startsWith('bus-my')
                ? S('my-baseline', 'txnP50').med
                : S('pg-baseline', 'txnP50').med;
            const st = S(id, 'txnStatements').med;
            const baseline = id.endsWith('baseline');
            return [
              label(id),
              int(r.med),
              range(r, int),
              `${ms(p50)} ms`,
              `${ms(p99)} ms`,
              baseline || id === 'bullmq' ? '—' : `${ms(p50 - base)} ms`,
              Number.isFinite(st) ? st.toFixed(2) : baseline ? '0' : id.includes('floor') ? '1' : '—',
            ];
          }),
        ),
      );
      out.push('');
      const rtt = S('pg-floor', 'rttP50').med;
      if (Number.isFinite(rtt))
        out.push(
          `A bare \`SELECT 1\` round trip under the same 16-client load: p50 ${ms(rtt)} ms on PostgreSQL, ${ms(S('my-floor', 'rttP50').med)} ms on MariaDB.\n`,
        );
    }
  }
  {
    const ids = ['bus-pg-none', 'pg-floor', 'bus-my-none', 'my-floor'].filter(
      (id) => has(id, 'backlogBig') || has(id, 'backlogSmall'),
    );
    if (ids.length) {
      out.push(`### Backlog: does claim stay fast as the table grows?`);
      out.push('');
      out.push(
        `Rate of taking the first ${int(cfg.backlogK)} rows (to the last handler start) with ${int(cfg.backlogSmall)} vs ${int(cfg.backlogBig)} rows waiting; ` +
          `fresh worker process each time, ${cfg.backlogReps} repetition(s) each (the big backlog filled once, so later repetitions see the dead rows of earlier ones).`,
      );
      out.push('');
      out.push(
        table(
          ['system', `${int(cfg.backlogSmall)} waiting`, `${int(cfg.backlogBig)} waiting`, 'big ÷ small'],
          ids.map((id) => {
            const a = S(id, 'backlogSmall');
            const b = S(id, 'backlogBig');
            return [
              label(id),
              `${int(a.med)}/s (${range(a, int)})`,
              `${int(b.med)}/s (${range(b, int)})`,
              pct(b.med, a.med),
            ];
          }),
        ),
      );
      out.push('');
    }
  }

  out.push('## MySQL (MariaDB): bus-mysql against the raw floor');
  out.push('');
  out.push(
    'No Node peer runs on MySQL, so bus-mysql is measured against hand-written SQL on the same table shape.',
  );
  out.push('');
  rateTable(
    'Bulk publish',
    'publish',
    myIds,
    'bus-my-none',
    'The floor: one multi-row `INSERT … VALUES (…), (…)` per batch.',
  );
  rateTable(
    'Drain',
    'drain',
    myIds,
    'bus-my-none',
    'The floor: claim 500 in a short READ COMMITTED transaction (`SELECT id … FOR UPDATE SKIP LOCKED`, then `UPDATE … WHERE id IN (…)`, two statements per round trip), batch `DELETE`, the delete overlapping the next claim.',
    'drainCpu',
  );

  out.push('## How each system is configured');
  out.push('');
  out.push(
    [
      `- **bus-postgres**: postgres.js + Drizzle, one queue with \`workers: ${process.env.BENCH_BUS_WORKERS ?? 1000}\`, \`batchSize: ${process.env.BENCH_BUS_BATCH ?? 500}\`, \`sleepInterval: 1000\`, LISTEN/NOTIFY on; archive \`none\` or \`all\`.`,
      `- **bus-mysql**: mysql2 pool + Drizzle, the same queue with \`sleepInterval: ${process.env.BENCH_BUS_MYSQL_SLEEP ?? 20}\` (no NOTIFY on MySQL).`,
      `- **graphile-worker**: \`concurrency: 24\`, \`localQueue: { size: ${process.env.BENCH_GRAPHILE_LOCAL_QUEUE ?? 500} }\`, \`completeJobBatchDelay: 0\`, \`failJobBatchDelay: 0\`, pool of 26, LISTEN on (its default).`,
      `- **pg-boss**: \`useListenNotify: true\`, queue \`notify: true\`; \`work({ batchSize: ${process.env.BENCH_PGBOSS_BATCH ?? 500}, localConcurrency: ${process.env.BENCH_PGBOSS_LOCAL ?? 2}, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 })\` with a batch handler; \`schedule: false\`.`,
      '- **BullMQ**: `Worker` with `concurrency: 100`, `removeOnComplete`/`removeOnFail` on jobs and worker.',
      '- **raw floors**: see `bench/src/systems/pg-floor.mjs` and `mysql-floor.mjs`: a table of the same shape as `bus_events`, a partial index of available rows on PostgreSQL (`WHERE locked_until IS NULL`), `(queue, locked_until, priority, scheduled_at, id)` on MariaDB.',
      '- Engines: graphile-worker 0.18 and pg-boss 12 declare Node ≥ 22 in `engines`; pnpm only warns, and both run on Node 20 as measured here.',
    ].join('\n'),
  );
  out.push('');
  if (failures.length > 0) {
    out.push('## Failures in this run');
    out.push('');
    for (const f of failures)
      out.push(`- ${f.system} ${f.what}: \`${f.message.split('\n')[0].slice(0, 300)}\``);
    out.push('');
  }
  out.push(
    `Reproduce: \`pnpm bench\` (full, ~15 min) or \`pnpm bench:smoke\` (tiny, < 1 min); workloads: ${workloads.join(', ')}.`,
  );
  out.push('');
  return out.join('\n');
}
