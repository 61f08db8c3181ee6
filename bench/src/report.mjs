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
    '@dbos-inc/dbos-sdk',
    'sidequest',
    '@sidequest/mysql-backend',
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

export function renderReport({ cfg, env, results, failures, systems, elapsed, workloads, configs = {} }) {
  const S = (id, metric) => stat(results, id, metric);
  const label = (id) => systems.find((s) => s.id === id)?.label ?? id;
  const has = (id, metric) => (results[id]?.[metric]?.length ?? 0) > 0;
  const range = (s, f) => (s.n > 1 ? `${f(s.min)} – ${f(s.max)}` : s.n === 1 ? 'one run' : '—');
  const out = [];

  out.push('# Benchmarks');
  out.push('');
  out.push(
    `Measured by \`pnpm bench\` (the \`bench/\` package) on ${env.date.slice(0, 10)}: bus against ` +
      'graphile-worker, pg-boss, DBOS and BullMQ (and Sidequest on MySQL) and against a raw-SQL floor, each system in its own Node process, ' +
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
          `graphile-worker ${env.versions['graphile-worker']}, pg-boss ${env.versions['pg-boss']}, @dbos-inc/dbos-sdk ${env.versions['@dbos-inc/dbos-sdk']}, bullmq ${env.versions.bullmq} with ioredis ${env.versions.ioredis}, sidequest ${env.versions.sidequest} with @sidequest/mysql-backend ${env.versions['@sidequest/mysql-backend']}`,
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
          `${int(cfg.count)} events per publish/drain (fewer for the slow systems, see the headline), published in batches of ${int(cfg.batch)}; drain sweep over ${(cfg.sweep ?? []).map(int).join(', ')} handler slots, each drain capped at ${int((cfg.drainCapMs ?? Number.NaN) / 1000)} s; latency ${int(cfg.latencyCount)} events at one per ${cfg.latencyIntervalMs} ms; ${int(cfg.txnCount)} transactions from ${cfg.txnClients} clients; backlog ${int(cfg.backlogK)} rows taken with ${int(cfg.backlogSmall)} vs ${int(cfg.backlogBig)} waiting, ${cfg.backlogReps} repetition(s)`,
        ],
        ['duration', Number.isFinite(elapsed) ? `${Math.round(elapsed)} s` : '—'],
      ],
    ),
  );
  out.push('');

  // -------------------------------------------------------------- headline: drain at equal concurrency
  const sweep = cfg.sweep ?? [10, 24, 100, 1000];
  const D = (id, n) => S(id, n === undefined ? 'drain' : `drain@${n}`).med;
  const verdict = (ok) => (ok === undefined ? 'not measured' : ok ? '**holds**' : '**missed**');
  const check = (cond, ...values) => (values.every(Number.isFinite) ? cond() : undefined);
  const capped = (id, n) => (results[id]?.[`drainCapped@${n}`] ?? []).some((x) => x === 1);
  const events = (id, n) => S(id, `drainCount@${n}`).med;

  // The peers at each N on each database, bus first; floors have no slots and sit below.
  const pgPeers = ['graphile', 'pgboss', 'dbos', 'bullmq'];
  const myPeers = ['sidequest'];
  function sweepTable(busId, peers, floorId) {
    const shown = [busId, ...peers].filter((id) => sweep.some((n) => has(id, `drain@${n}`)));
    if (shown.length === 0) return false;
    const cell = (id, n) => {
      if (!has(id, `drain@${n}`)) return '—';
      const notes = [];
      if (events(id, n) < cfg.count) notes.push(`${int(events(id, n))} events`);
      if (capped(id, n)) notes.push(`stopped at ${int(cfg.drainCapMs / 1000)} s`);
      return `${int(D(id, n))}/s${notes.length ? ` (${notes.join(', ')})` : ''}`;
    };
    const rows = shown.map((id) => [label(id), ...sweep.map((n) => cell(id, n))]);
    for (const peer of peers.filter((id) => shown.includes(id)))
      rows.push([`**bus ÷ ${label(peer)}**`, ...sweep.map((n) => ratio(D(busId, n), D(peer, n)))]);
    if (has(floorId, 'drain'))
      rows.push([
        `bus ÷ ${label(floorId)} (${int(D(floorId))}/s, no slots: rows handled inline)`,
        ...sweep.map((n) => pct(D(busId, n), D(floorId))),
      ]);
    out.push(table(['drain rate at N handler slots', ...sweep.map((n) => `N = ${int(n)}`)], rows));
    out.push('');
    return true;
  }

  out.push('## Headline: drain at equal concurrency');
  out.push('');
  out.push(
    `Each system drains a queue of ${int(cfg.count)} no-op events with the same number N of handler slots ` +
      '(jobs that may run at once in the one worker process), in this same run; the ratio rows divide bus by each peer at the same N. ' +
      'bus: `workers` = N, `batchSize` 500' +
      (Object.values(configs['bus-pg-none'] ?? {}).some((c) => c?.prefetch !== undefined)
        ? `, \`prefetch\` ${Object.values(configs['bus-pg-none']).find((c) => c?.prefetch !== undefined).prefetch}`
        : ' (this bus-core has no `prefetch` option)') +
      '; graphile-worker: `concurrency` N with `localQueue` 500 and batched completion; pg-boss: `localConcurrency` 2 × `batchSize` N/2, every job of a batch started at once; ' +
      'DBOS: queue `workerConcurrency` N; BullMQ: worker `concurrency` N; Sidequest: queue `concurrency` and `maxConcurrentJobs` N. ' +
      `A slow system drains fewer events (its count is in the cell) and no drain runs longer than ${int(cfg.drainCapMs / 1000)} s: ` +
      'a drain stopped there reports the rate it kept until then.',
  );
  out.push('');
  out.push('### PostgreSQL (and BullMQ on Redis)');
  out.push('');
  if (!sweepTable('bus-pg-none', pgPeers, 'pg-floor')) out.push('Not measured in this run.\n');
  {
    const high = D('bus-pg-high', 10);
    if (Number.isFinite(high))
      out.push(
        `With the Rust guide's own "high" queue settings (\`workers: 10, batchSize: 10\`, archive all) bus drains ${int(high)}/s: ` +
          `${pct(high, D('bus-pg-none', 10))} of bus at 10 slots with batch 500, ${ratio(high, D('graphile', 10))} graphile-worker at concurrency 10.\n`,
      );
  }
  out.push('### MySQL (MariaDB)');
  out.push('');
  if (!sweepTable('bus-my-none', myPeers, 'my-floor')) out.push('Not measured in this run.\n');

  // -------------------------------------------------------------- targets
  const bus24 = D('bus-pg-none', 24);
  const gw24 = D('graphile', 24);
  const floorDrain = D('pg-floor');
  const bus10 = D('bus-pg-none', 10);
  const bus1000 = D('bus-pg-none', 1000);
  const my100 = D('bus-my-none', 100);
  const myFloorDrain = D('my-floor');
  const busAll24 = D('bus-pg-all', 24);
  const myAll100 = D('bus-my-all', 100);
  const busPub = S('bus-pg-none', 'publish').med;
  const gwPub = S('graphile', 'publish').med;
  const busP50 = S('bus-pg-none', 'latP50').med;
  const busP99 = S('bus-pg-none', 'latP99').med;
  const bullP50 = S('bullmq', 'latP50').med;
  const busTxn = S('bus-pg-none', 'txnP50').med;
  const baseTxn = S('pg-baseline', 'txnP50').med;
  const floorTxn = S('pg-floor', 'txnP50').med;
  const busStatements = S('bus-pg-none', 'txnStatements').med;
  const small = S('bus-pg-none', 'backlogSmall').med;
  const big = S('bus-pg-none', 'backlogBig').med;
  const myPub = S('bus-my-none', 'publish').med;
  const myFloorPub = S('my-floor', 'publish').med;
  const oneRoundTrip = floorTxn - baseTxn;
  // Peak RSS and CPU of bus's worker process over every N it drained at.
  const overSweep = (id, metric, pick) => {
    const v = sweep.map((n) => S(id, `${metric}@${n}`).med).filter(Number.isFinite);
    return v.length ? pick(...v) : Number.NaN;
  };
  const rssPg = overSweep('bus-pg-none', 'rss', Math.max);
  const rssPgAll = S('bus-pg-all', 'rss@24').med;
  const rssMy = overSweep('bus-my-none', 'rss', Math.max);
  const cpuAt = (id, n) => S(id, `drainCpu@${n}`).med;

  out.push('## Targets of issue 11');
  out.push('');
  out.push(
    table(
      ['target', 'measured', 'verdict'],
      [
        [
          'PostgreSQL drain at 24 slots, batch 500 ≥ 2.5× graphile-worker at concurrency 24',
          `${int(bus24)}/s vs ${int(gw24)}/s = ${ratio(bus24, gw24)}`,
          verdict(check(() => bus24 >= 2.5 * gw24, bus24, gw24)),
        ],
        [
          'PostgreSQL drain at 24 slots ≥ 50% of the raw floor',
          `${int(bus24)}/s vs ${int(floorDrain)}/s = ${pct(bus24, floorDrain)}`,
          verdict(check(() => bus24 >= 0.5 * floorDrain, bus24, floorDrain)),
        ],
        [
          'bus drain at 10 slots ≥ 80% of the rate at 1,000 slots (throughput set by the SQL and the batch, not the slots)',
          `${int(bus10)}/s vs ${int(bus1000)}/s = ${pct(bus10, bus1000)}`,
          verdict(check(() => bus10 >= 0.8 * bus1000, bus10, bus1000)),
        ],
        [
          'MySQL drain at 100 slots ≥ 60% of the MySQL floor',
          `${int(my100)}/s vs ${int(myFloorDrain)}/s = ${pct(my100, myFloorDrain)}`,
          verdict(check(() => my100 >= 0.6 * myFloorDrain, my100, myFloorDrain)),
        ],
        [
          'archive `all` ≥ 80% of archive `none` (PostgreSQL at 24 slots; MySQL at 100)',
          `PostgreSQL ${int(busAll24)}/s vs ${int(bus24)}/s = ${pct(busAll24, bus24)}; MySQL ${int(myAll100)}/s vs ${int(my100)}/s = ${pct(myAll100, my100)}`,
          verdict(
            check(() => busAll24 >= 0.8 * bus24 && myAll100 >= 0.8 * my100, busAll24, bus24, myAll100, my100),
          ),
        ],
        [
          "latency p50 on PostgreSQL ≤ BullMQ's (on Redis)",
          `${ms(busP50)} ms vs ${ms(bullP50)} ms`,
          verdict(check(() => busP50 <= bullP50, busP50, bullP50)),
        ],
        [
          'latency p99 ≤ 3× p50 (bus on PostgreSQL)',
          `p99 ${ms(busP99)} ms, p50 ${ms(busP50)} ms: ${ratio(busP99, busP50)}`,
          verdict(check(() => busP99 <= 3 * busP50, busP99, busP50)),
        ],
        [
          'worker CPU per 1,000 events (reported; lower is better)',
          `bus-postgres ${sweep.map((n) => `${int(cpuAt('bus-pg-none', n))} ms @${int(n)}`).join(', ')}; graphile-worker ${int(cpuAt('graphile', 24))} ms @24; bus-mysql ${int(cpuAt('bus-my-none', 100))} ms @100`,
          'reported',
        ],
        [
          'peak RSS of the worker process during a drain < 150 MB (from issue 6)',
          `${int(rssPg)} MB (bus-postgres, highest over the sweep), ${int(rssPgAll)} MB (archive all), ${int(rssMy)} MB (bus-mysql)`,
          verdict(check(() => Math.max(rssPg, rssPgAll, rssMy) < 150, rssPg, rssPgAll, rssMy)),
        ],
        [
          "bulk publish ≥ 2× graphile-worker's `addJobs` (from issue 6)",
          `${int(busPub)}/s vs ${int(gwPub)}/s = ${ratio(busPub, gwPub)}`,
          verdict(check(() => busPub >= 2 * gwPub, busPub, gwPub)),
        ],
        [
          'transactional publish costs ≤ one extra round trip (one statement, and no more time than one plain INSERT adds) (from issue 6)',
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
          'backlog: drain rate with 1M waiting ≥ 80% of the rate with 10k (from issue 6)',
          `${int(big)}/s vs ${int(small)}/s = ${pct(big, small)}`,
          verdict(check(() => big >= 0.8 * small, big, small)),
        ],
        [
          'MySQL: bulk publish ≥ 60% of the MySQL floor (from issue 6)',
          `${int(myPub)}/s vs ${int(myFloorPub)}/s = ${pct(myPub, myFloorPub)}`,
          verdict(check(() => myPub >= 0.6 * myFloorPub, myPub, myFloorPub)),
        ],
      ],
    ),
  );
  out.push('');
  out.push(
    "Issue 6's drain targets compared bus at 1,000 handler slots with graphile-worker at 24 and are gone: " +
      'the sweep above sets every system at the same N. Its latency target (no worse than graphile-worker) is replaced by the one against BullMQ; the latency table still shows graphile-worker.',
  );
  out.push('');
  if (cfg.count !== 50_000)
    out.push(`(Sizes differ from the full run's: ${int(cfg.count)} events per drain.)\n`);

  // -------------------------------------------------------------- flow control (issue 14)
  flowSection({ out, systems, results, configs, cfg, env, S, has, label, range, verdict, check });

  // -------------------------------------------------------------- per-workload tables
  const pgIds = [
    'bus-pg-none',
    'bus-pg-all',
    'bus-pg-high',
    'graphile',
    'pgboss',
    'dbos',
    'bullmq',
    'pg-floor',
  ];
  const myIds = ['bus-my-none', 'bus-my-all', 'sidequest', 'my-floor'];

  // Every drain of the sweep with its spread, size, CPU and memory.
  function drainDetail(title, ids) {
    const rows = [];
    for (const id of ids) {
      for (const n of [undefined, ...sweep, 10, 24, 100]) {
        const key = n === undefined ? 'drain' : `drain@${n}`;
        if (!has(id, key) || rows.some((r) => r.key === `${id}${key}`)) continue;
        const sfx = n === undefined ? '' : `@${n}`;
        const r = S(id, key);
        const c = S(id, `drainCount${sfx}`);
        const cfgText = configs[id]?.[n ?? '-'];
        rows.push({
          key: `${id}${key}`,
          cells: [
            label(id),
            n === undefined ? 'inline' : int(n),
            `${int(r.med)}/s`,
            range(r, int),
            `${int(c.med)}${capped(id, n) ? ' (capped)' : ''}`,
            `${int(S(id, `drainCpu${sfx}`).med)} ms`,
            `${int(S(id, `rss${sfx}`).med)} MB`,
            cfgText ? `\`${JSON.stringify(cfgText).replace(/"/g, '')}\`` : '',
          ],
        });
      }
    }
    if (rows.length === 0) return;
    out.push(`### ${title}`);
    out.push('');
    out.push(
      'From starting the workers until the last completion is durable (the table holds no live row; for pg-boss, DBOS and Sidequest, which keep finished jobs, no job left open). ' +
        'CPU is user + system time of the worker process per 1,000 events, which the load of the machine disturbs less than wall time; RSS is its VmHWM (it only drains; publishing ran in another process). ' +
        'The last column is the configuration the worker process reported.',
    );
    out.push('');
    out.push(
      table(
        ['system', 'slots', 'median', 'min – max', 'events', 'CPU per 1,000', 'peak RSS', 'settings'],
        rows.map((r) => r.cells),
      ),
    );
    out.push('');
  }

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
    `Bulk publish, ${int(cfg.count)} events through each batch API (every publish before a drain)`,
    'publish',
    pgIds,
    'bus-pg-none',
    `bus \`publishBatch\`, graphile-worker \`addJobs\`, pg-boss \`insert\`, BullMQ \`addBulk\`, the floor one \`INSERT … SELECT FROM unnest(…)\`; batches of ${int(cfg.batch)}, one call at a time. ` +
      'DBOS has no batch enqueue: `DBOSClient.enqueueInTransaction` a batch per transaction on 8 connections (and fewer events, see the headline).',
  );
  drainDetail('Every drain of the sweep, PostgreSQL and Redis', pgIds);
  rateTable(
    'Telemetry cost: the drain at 24 handler slots without and with an OpenTelemetry SDK',
    'drain@24',
    ['bus-pg-none', 'bus-pg-otel-sdk', 'bus-pg-otel-memory'],
    'bus-pg-none',
    'The same bus-postgres drain (archive none) three ways, alternating in this run: no SDK registered (the API is a no-op: what every figure above measures), an SDK that makes every span and metric and exports nothing, and an SDK with in-memory exporters (spans batched, metrics read every second). A ratio above 1.00× is what telemetry costs.',
    'drainCpu@24',
  );
  {
    const ids = [...pgIds, 'bus-my-none', 'sidequest'].filter((id) => has(id, 'latP50'));
    if (ids.length) {
      const ref = S('bus-pg-none', 'latP50').med;
      const ref99 = S('bus-pg-none', 'latP99').med;
      out.push('### Latency, idle workers at 24 handler slots, one event every 10 ms');
      out.push('');
      out.push(
        'Enqueue-to-start: from just before the publishing call in a separate publisher process to the start of the handler in the worker process (CLOCK_MONOTONIC, shared by both). ' +
          `bus-postgres, graphile-worker, pg-boss and the floor wake on LISTEN/NOTIFY; BullMQ blocks on Redis; bus-mysql polls every ${process.env.BENCH_BUS_MYSQL_SLEEP ?? 20} ms (its \`sleepInterval\`); ` +
          `DBOS polls its queue every ${process.env.BENCH_DBOS_POLL_MS ?? 50} ms (\`minPollingIntervalMs\`, 1 s by default); Sidequest every ${process.env.BENCH_SIDEQUEST_POLL_MS ?? 100} ms (\`jobPollingInterval\`, its default).`,
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

  out.push('## MySQL (MariaDB): bus-mysql against Sidequest and the raw floor');
  out.push('');
  out.push(
    'Sidequest (its MySQL backend) is the Node peer on MySQL; the floor is hand-written SQL on the same table shape as `bus_events`.',
  );
  out.push('');
  rateTable(
    'Bulk publish',
    'publish',
    myIds,
    'bus-my-none',
    'The floor: one multi-row `INSERT … VALUES (…), (…)` per batch.',
  );
  out.push(
    'The MySQL floor: claim 500 in a short READ COMMITTED transaction (`SELECT id … FOR UPDATE SKIP LOCKED`, then `UPDATE … WHERE id IN (…)`, two statements per round trip), batch `DELETE`, the delete overlapping the next claim.',
  );
  out.push('');
  drainDetail('Every drain of the sweep, MariaDB', myIds);

  out.push('## How each system is configured');
  out.push('');
  out.push(
    [
      `- **bus-postgres**: postgres.js + Drizzle, one queue with \`workers\` = N, \`batchSize: ${process.env.BENCH_BUS_BATCH ?? 500}\`, \`prefetch\` left at bus-core's default \`'auto'\` (see the settings column), \`sleepInterval: 1000\`, LISTEN/NOTIFY on; archive \`none\` or \`all\`. The backlog workload runs at 1,000 slots.`,
      `- **bus-mysql**: mysql2 pool + Drizzle, the same queue with \`sleepInterval: ${process.env.BENCH_BUS_MYSQL_SLEEP ?? 20}\` (no NOTIFY on MySQL).`,
      `- **graphile-worker**: \`concurrency\` = N, \`localQueue: { size: ${process.env.BENCH_GRAPHILE_LOCAL_QUEUE ?? 500} }\`, \`completeJobBatchDelay: 0\`, \`failJobBatchDelay: 0\`, pool of N + 2 up to 30 (with localQueue the slots hold no connection; 1,002 would pass PostgreSQL's max_connections), LISTEN on (its default).`,
      `- **pg-boss**: \`useListenNotify: true\`, queue \`notify: true\`; \`work({ localConcurrency: ${process.env.BENCH_PGBOSS_LOCAL ?? 2}, batchSize: N / ${process.env.BENCH_PGBOSS_LOCAL ?? 2}, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 })\` with a batch handler that starts every job of the batch at once, so at most N run; \`schedule: false\`. (The bench's earlier fixed 2 × 500 was 1,000 slots.)`,
      `- **DBOS**: \`DBOS.registerQueue(…, { workerConcurrency: N, minPollingIntervalMs: ${process.env.BENCH_DBOS_POLL_MS ?? 50} })\`, a registered workflow as the job, system database pool of 10; enqueued through \`DBOSClient\`.`,
      '- **BullMQ**: `Worker` with `concurrency` = N, `removeOnComplete`/`removeOnFail` on jobs and worker.',
      `- **Sidequest**: \`Sidequest.start({ queues: [{ concurrency: N }], maxConcurrentJobs: N, fork: false, runner: 'inline', jobPollingInterval: ${process.env.BENCH_SIDEQUEST_POLL_MS ?? 100} })\` on \`@sidequest/mysql-backend\`, dashboard off; jobs enqueued one \`build(…).enqueue()\` at a time from 32 lanes (it has no batch enqueue); on MariaDB an enqueue now and then deadlocks against its own dispatcher's claim and is retried (the count goes to the log). It declares Node ≥ 22.6 in \`engines\` and runs on Node 20 here.`,
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
    `Reproduce: \`pnpm bench\` (full, ~25 min) or \`pnpm bench:smoke\` (tiny, < 90 s); workloads: ${workloads.join(', ')}.`,
  );
  out.push('');
  return out.join('\n');
}

// ---------------------------------------------------------------- flow control (issue 14)

/** `{ concurrency: 24 }` for a limits object, as the queue configuration spells it. */
function limitsText(limits) {
  if (!limits) return 'none';
  const parts = Object.entries(limits).map(([k, v]) =>
    typeof v === 'object' ? `${k}: { limit: ${int(v.limit)}, periodMs: ${int(v.periodMs)} }` : `${k}: ${v}`,
  );
  return `\`{ ${parts.join(', ')} }\``;
}

/**
 * The cost of each kind of limit beside the unlimited drain of the same driver, at the same 24
 * slots and in the same rounds: per driver the unlimited drain, each limited one with its ratio
 * to it, the rate-limited one as achieved rate ÷ limit, and (with BENCH_BEFORE) the unlimited
 * drain of the build before flow control.
 */
function flowSection({ out, systems, results, configs, cfg, env, S, has, label, range, verdict, check }) {
  // The build before flow control first, beside the unlimited drain it is compared with.
  const flowOf = (baseline) =>
    systems
      .filter((s) => s.flow && s.baseline === baseline && s.id !== baseline)
      .sort((a, b) => (b.flow === 'before') - (a.flow === 'before'));
  const capOf = (id) =>
    Math.min(cfg.drainCapMs, systems.find((s) => s.id === id)?.drainCapMs ?? Number.POSITIVE_INFINITY);
  // Per driver the no-op drains, then (when run) the slot-bound ones with a slow handler.
  const dbTitle = { pg: 'PostgreSQL', mysql: 'MySQL (MariaDB)' };
  const drivers = [
    { db: 'pg', title: dbTitle.pg, baseline: 'bus-pg-none', peer: 'graphile' },
    { db: 'mysql', title: dbTitle.mysql, baseline: 'bus-my-none', peer: null },
    ...systems
      .filter((s) => s.flow === 'unlimited')
      .map((s) => ({
        db: s.db,
        title: `${dbTitle[s.db]}, a ${s.opts.handlerMs} ms handler: the ${s.slots[0]} slots bound the drain`,
        baseline: s.id,
        peer: null,
      })),
  ]
    .map((d, i) => ({ ...d, i }))
    .sort((a, b) => (a.db === b.db ? a.i - b.i : a.db === 'pg' ? -1 : 1))
    .filter((d) => flowOf(d.baseline).some((s) => has(s.id, 'drain@24')));
  if (drivers.length === 0) return;
  const n = 24;
  const drainAt = (id) => S(id, `drain@${n}`);
  const cappedAt = (id) => (results[id]?.[`drainCapped@${n}`] ?? []).filter((x) => x === 1).length;
  const rounds = (id) => results[id]?.[`drainCapped@${n}`]?.length ?? 0;

  out.push('## Flow control (issue 14): what each kind of limit costs');
  out.push('');
  out.push(
    `Every drain here runs at ${n} handler slots (\`workers\` ${n}, \`batchSize\` 500) among the N = ${n} drains of every round, so each ratio divides medians of the same rounds. ` +
      `The global limit is the slots' own number (\`concurrency: ${n}\`), and the keyed drains publish their rows with 200 partition keys round-robin over the payloads ` +
      `(the handler's \`settings.partitionKey\`; 200 keys with \`keyConcurrency: 1\` is an effective concurrency of ${n} too), so a limited drain is set against the unlimited one at the same effective concurrency. ` +
      'A limited queue claims in one transaction that locks its limits row, counts the leased rows (and, with a rate, the recent starts), and, under a global limit, a rate or `fair` alone, holds no rows ahead of its slots (no prefetch; under `keyConcurrency` alone it holds up to `2 × workers` rows ahead of its slots, each buffered row counted against its key): that is what the ratios measure. ' +
      "A leased row counts against a limit until its settle commits, so the settler's batching sits inside the global limit. " +
      'The rate-limited drain is reported against its limit instead: the rate after its first window (a sliding window lets a whole window of starts through at once, so the rate over the whole drain, also given, runs above the limit for a drain of a few seconds), and the most handler starts in any window of the period, which the limit bounds. ' +
      'With no-op handlers the unlimited drain is bound by its claims of 500 rows (and the prefetch), not by its 24 slots. The `-p0` rows are the unlimited drain with `prefetch: 0`: it holds no more rows than its 24 slots, as a limited queue does, which is the other reading of "the same effective concurrency"; each limited drain gives its ratio to that one too. The slot-bound tables (opt-in systems, run when `--only` names the `-h20` ones) give every row a handler that sleeps, so the slots bound the unlimited drain too; `-limit-rate-low` (opt-in too) sets a rate the limited claim reaches.',
  );
  out.push('');
  out.push(
    'The unlimited drain is the same claim statement as before flow control: a queue without a limits row never sends `limited`, and the plain claim does not read the limits table ' +
      '(the workers read the limits rows with the pauses, about once a second). The issue\'s "no limits: ≥ 0.95" compares that drain now with the build before flow control: ' +
      (env.before
        ? `the rows "before flow control" ran it in this run (bus-core and the drivers at ${env.before.commit}, built by \`bench/src/before.mjs\`).`
        : "not run here (set `BENCH_BEFORE` to a build of `bench/src/before.mjs` to run it beside); the unlimited drain is given beside graphile-worker's from the same run, as in the headline, for comparing with earlier runs."),
  );
  out.push('');

  for (const { title, baseline, peer } of drivers) {
    const base = drainAt(baseline);
    const rows = [];
    const cells = (id, limitsCell, ratioCell, target) => {
      const r = drainAt(id);
      const pub = S(id, 'publish');
      return [
        `\`${id}\``,
        limitsCell,
        `${int(r.med)}/s${cappedAt(id) ? ` (${cappedAt(id)} of ${rounds(id)} stopped at ${int(capOf(id) / 1000)} s)` : ''}`,
        range(r, int),
        int(S(id, `drainCount@${n}`).med),
        `${int(S(id, `drainCpu@${n}`).med)} ms`,
        Number.isFinite(pub.med) ? `${int(pub.med)}/s` : '—',
        ratioCell,
        target,
      ];
    };
    const handlerMs = systems.find((s) => s.id === baseline)?.opts?.handlerMs;
    const none = `none${handlerMs ? `, ${handlerMs} ms handler` : ''}`;
    if (has(baseline, `drain@${n}`)) rows.push(cells(baseline, none, '1.00×', ''));
    else rows.push([`\`${baseline}\``, none, `not run at ${n} slots here`, '', '', '', '', '', '']);
    for (const system of flowOf(baseline)) {
      const id = system.id;
      if (!has(id, `drain@${n}`)) continue;
      const med = drainAt(id).med;
      const limits = configs[id]?.[n]?.limits ?? system.opts.limits;
      const keys = configs[id]?.[n]?.keys ?? system.opts.keys;
      const ms = configs[id]?.[n]?.handlerMs ?? system.opts.handlerMs;
      const limitsCell = `${limitsText(limits)}${keys ? `, ${int(keys)} keys` : ''}${ms ? `, ${ms} ms handler` : ''}`;
      if (system.flow === 'rate') {
        // The limit the drain ran with (its reported settings), not this process's default.
        const limit = limits?.rate?.limit ?? system.rateLimit;
        const steady = S(id, `steadyRate@${n}`).med;
        const most = Math.max(...(results[id]?.[`windowMax@${n}`] ?? [Number.NaN]));
        const period = limits?.rate?.periodMs ?? 1000;
        rows.push(
          cells(
            id,
            limitsCell,
            `after the first window ${int(steady)}/s = ${ratio(steady, limit)} of the limit (${int(limit)}/s); whole drain ${ratio(med, limit)}; ${ratio(med, base.med)} of unlimited`,
            // The starts are the handlers', a few ms after the claim the database counted: one
            // claim's rows (at most the slots) near a window's edge may land in the next window.
            `most starts in any ${int(period)} ms ≤ the limit + one claim (${n} rows): ${int(most)}, ${verdict(check(() => most <= limit + n, most, limit))}`,
          ),
        );
      } else if (system.flow === 'before') {
        rows.push(
          cells(
            id,
            'none (no flow control)',
            `unlimited now ÷ this: ${ratio(base.med, med)}`,
            `no limits ≥ 0.95: ${verdict(check(() => base.med >= 0.95 * med, base.med, med))}`,
          ),
        );
      } else if (system.flow === 'noprefetch') {
        rows.push(cells(id, 'none, `prefetch: 0`', ratio(med, base.med), 'reported'));
      } else {
        // Beside the default unlimited drain, the one holding no rows beyond its slots (when run).
        const p0 = systems.find((s) => s.flow === 'noprefetch' && s.baseline === baseline);
        const p0med = p0 && has(p0.id, `drain@${n}`) ? drainAt(p0.id).med : Number.NaN;
        const beside = Number.isFinite(p0med) ? `; ÷ \`prefetch: 0\` ${ratio(med, p0med)}` : '';
        const target =
          system.flow === 'fair'
            ? 'reported'
            : `≥ 0.80: ${verdict(check(() => med >= 0.8 * base.med, med, base.med))}` +
              (Number.isFinite(p0med)
                ? `; against \`prefetch: 0\`: ${verdict(check(() => med >= 0.8 * p0med, med, p0med))}`
                : '');
        rows.push(cells(id, limitsCell, `${ratio(med, base.med)}${beside}`, target));
      }
    }
    out.push(`### ${title}`);
    out.push('');
    out.push(
      table(
        [
          `drain at ${n} slots`,
          'limits',
          'median',
          'min – max',
          'events',
          'worker CPU per 1,000',
          'publish',
          'this ÷ unlimited',
          'target',
        ],
        rows,
      ),
    );
    out.push('');
    if (peer && has(peer, `drain@${n}`) && has(baseline, `drain@${n}`)) {
      const p = drainAt(peer);
      out.push(
        `Unlimited ${label(baseline)} at ${n} slots in this run: ${int(base.med)}/s (${range(base, int)}) beside ${label(peer)}'s ${int(p.med)}/s (${range(p, int)}): ${ratio(base.med, p.med)}.`,
      );
      out.push('');
    }
  }
}
