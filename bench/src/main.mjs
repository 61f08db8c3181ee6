// The benchmark orchestrator: runs every system in its own child process, alternating systems,
// several rounds, and writes medians, min–max and ratios to docs/benchmarks.md.
//
//   node bench/src/main.mjs            full run (the issue's sizes)
//   node bench/src/main.mjs --smoke    tiny counts, every system and the whole sweep, < 90 s
// Flags: --scale F (multiplies every count), --rounds N, --only a,b (system ids),
// --workloads publish,drain,latency,txn,backlog,publish-unique, --slots 10,24 (the sweep), --out FILE, --batch N.
// Env: BENCH_COUNT (events per drain); BENCH_BEFORE (a build of bench/src/before.mjs: adds the
// unlimited drain before flow control); BENCH_FLOW_RATE_PG / _MYSQL / _LOW, BENCH_FLOW_HANDLER_MS.
// Opt-in systems (`optIn`: the slot-bound `-h20` flow-control drains, `-limit-rate-low`) run only
// when --only names them.
//
// The drain is a concurrency sweep: every queue system drains at the same numbers of handler
// slots (SWEEP), in the same run, and the report compares them per N. A system's best setting is
// never set against another's default.
import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { collectEnvironment, renderReport } from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');

const { values: flags } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    scale: { type: 'string' },
    rounds: { type: 'string' },
    only: { type: 'string' },
    workloads: { type: 'string' },
    out: { type: 'string' },
    batch: { type: 'string' },
    slots: { type: 'string' },
    'backlog-rounds': { type: 'string' },
    render: { type: 'string' },
  },
});

const SOAK_HEADING = '## Soak: big tables and retention';

/**
 * `markdown` with the soak's section (written by hand from `pnpm soak`, a separate run) carried
 * over from the file it replaces, so a bench run does not drop it.
 */
function withSoakSection(file, markdown) {
  let old = '';
  try {
    old = readFileSync(file, 'utf8');
  } catch {
    return markdown;
  }
  const start = old.indexOf(SOAK_HEADING);
  if (start < 0 || markdown.includes(SOAK_HEADING)) return markdown;
  const next = old.indexOf('\n## ', start + SOAK_HEADING.length);
  const section = old.slice(start, next < 0 ? undefined : next + 1).trimEnd();
  return `${markdown.trimEnd()}\n\n${section}\n`;
}

/** Handler slots of the drain sweep. */
const SWEEP = [10, 24, 100, 1000];

const FULL = {
  // Events per publish + drain of one system at one N (a slow system drains fewer: see drainShare
  // and drainCapMs).
  count: 50_000,
  // No drain may hold the shared machine longer than this: a configuration that has not finished
  // reports the rate it kept until then, and later rounds size its count from that rate so that
  // it drains for about drainTargetMs.
  drainCapMs: 60_000,
  drainTargetMs: 40_000,
  batch: 1000,
  latencyCount: 1000,
  latencyIntervalMs: 10,
  txnCount: 5000,
  txnClients: 16,
  backlogSmall: 10_000,
  backlogBig: 1_000_000,
  backlogK: 10_000,
  backlogReps: 3,
  // Two rounds keep the full run near 25 minutes on 2 cores with the sweep (37 drains a round).
  rounds: 2,
  latencyRounds: 2,
  txnRounds: 2,
};
// The smoke run (CI) exercises every system and both ends of the sweep at tiny counts, < 90 s.
const SMOKE = {
  count: 300,
  sweep: [10, 1000],
  drainCapMs: 20_000,
  drainTargetMs: 10_000,
  batch: 500,
  latencyCount: 30,
  latencyIntervalMs: 10,
  txnCount: 160,
  txnClients: 16,
  backlogSmall: 500,
  backlogBig: 3000,
  backlogK: 500,
  backlogReps: 1,
  rounds: 1,
  latencyRounds: 1,
  txnRounds: 1,
};

const cfg = { ...(flags.smoke ? SMOKE : FULL) };
if (flags.scale) {
  const f = Number(flags.scale);
  for (const key of ['count', 'latencyCount', 'txnCount', 'backlogSmall', 'backlogBig', 'backlogK']) {
    cfg[key] = Math.max(10, Math.round(cfg[key] * f));
  }
}
if (process.env.BENCH_COUNT) cfg.count = Number(process.env.BENCH_COUNT);
if (flags.rounds) {
  cfg.rounds = Number(flags.rounds);
  cfg.latencyRounds = Math.min(cfg.latencyRounds, cfg.rounds);
  cfg.txnRounds = Math.min(cfg.txnRounds, cfg.rounds);
}
if (flags.batch) cfg.batch = Number(flags.batch);
cfg.sweep = flags.slots ? flags.slots.split(',').map(Number) : (cfg.sweep ?? SWEEP);
if (flags['backlog-rounds']) cfg.backlogReps = Number(flags['backlog-rounds']);
cfg.smoke = flags.smoke;

const ALL_WORKLOADS = ['publish', 'drain', 'latency', 'txn', 'backlog', 'publish-unique'];
const workloads = flags.workloads ? flags.workloads.split(',') : ALL_WORKLOADS;

// ---------------------------------------------------------------- flow control (issue 14)

/** Partition keys of the keyed flow-control drains (round-robin over the payloads). */
const FLOW_KEYS = 200;
/** Handler slots of the flow-control drains, and the global limit: the same effective concurrency. */
const FLOW_SLOTS = 24;
/**
 * Starts per second of the rate-limited drain: about half the unlimited drain at 24 slots on
 * this machine (bus-pg-none ~25,000/s, bus-my-none ~13,500/s before flow control), so that the
 * limit would set the pace if a limited claim kept up with the plain one (at the first
 * measurement it did not: a few thousand rows a second; `-limit-rate-low` is a rate it reaches).
 * The smoke run's 300 events get 200/s, so the limit holds back most of them there too.
 * BENCH_FLOW_RATE_PG / BENCH_FLOW_RATE_MYSQL override.
 */
const FLOW_RATE = {
  pg: Number(process.env.BENCH_FLOW_RATE_PG ?? (cfg.smoke ? 200 : 12_000)),
  mysql: Number(process.env.BENCH_FLOW_RATE_MYSQL ?? (cfg.smoke ? 200 : 6_500)),
};
/** The opt-in `-limit-rate-low` drains: a rate well under what the limited claim reaches. */
const FLOW_RATE_LOW = Number(process.env.BENCH_FLOW_RATE_LOW ?? 1000);
/**
 * A limited drain that turns out slow must not hold the run for minutes: these caps are tighter
 * than the other drains' (a stopped drain reports the rate it kept, as everywhere), so the eight
 * flow-control drains add about 3 minutes to the full run even at a few hundred rows a second.
 */
const FLOW_CAP = { drainCapMs: 8_000, drainTargetMs: 5_000 };
/**
 * The slot-bound variant (opt-in, `--only`): a handler that takes FLOW_HANDLER_MS, so the 24
 * slots, not the claim, bound the unlimited drain (24 / 20 ms = 1,200/s at most) and "the same
 * effective concurrency" means the same rows running at once. About 6,000 events: ~5 s a drain.
 */
const FLOW_HANDLER_MS = Number(process.env.BENCH_FLOW_HANDLER_MS ?? 20);
const FLOW_SLOW = { drainShare: 0.12, handlerMs: FLOW_HANDLER_MS };

/**
 * BENCH_BEFORE=DIR (a tree `node bench/src/before.mjs` built: bus-core and the drivers at a commit
 * before flow control) adds `bus-pg-before` and `bus-my-before`: the unlimited drain at 24 slots
 * with that build, in the same rounds, for the issue's "no limits: as fast as before" ratio.
 */
const BEFORE = process.env.BENCH_BEFORE ? resolve(process.cwd(), process.env.BENCH_BEFORE) : null;
/** What `before.mjs` recorded about the build in `dir` (its commit), for the report. */
function beforeBuild(dir) {
  try {
    return { dir, ...JSON.parse(readFileSync(join(dir, 'before.json'), 'utf8')) };
  } catch {
    return { dir, commit: 'unknown (no before.json)' };
  }
}
const beforeEnv = (driverPackage, driverEnv) =>
  BEFORE && {
    BENCH_BUS_CORE_MODULE: join(BEFORE, 'packages/bus-core/dist/index.js'),
    [driverEnv]: join(BEFORE, `packages/${driverPackage}/dist/index.js`),
  };

/**
 * The flow-control drains of one driver, each at 24 slots among the N = 24 group of every round
 * (so each ratio to `baseline`, the same driver's unlimited drain, comes from one run).
 * `flow` names the kind of limit for the report.
 */
function flowSystems(prefix, module, db, driverLabel, baseline) {
  const rate = FLOW_RATE[db];
  const common = { module, db, baseline, slots: [FLOW_SLOTS], does: ['publish', 'drain'], ...FLOW_CAP };
  const systems = [
    {
      // The unlimited drain holding no rows beyond its 24 slots (`prefetch: 0`), as a limited
      // queue does: the same rows leased at once, the other reading of "the same effective
      // concurrency" for no-op handlers.
      id: `${prefix}-p0`,
      label: `${driverLabel}, no limits, prefetch 0`,
      flow: 'noprefetch',
      opts: { archive: 'none', prefetch: 0 },
    },
    {
      id: `${prefix}-limit-global`,
      label: `${driverLabel}, limits { concurrency: ${FLOW_SLOTS} }`,
      flow: 'global',
      opts: { archive: 'none', limits: { concurrency: FLOW_SLOTS } },
    },
    {
      id: `${prefix}-limit-key`,
      label: `${driverLabel}, ${FLOW_KEYS} keys, limits { keyConcurrency: 1 }`,
      flow: 'key',
      opts: { archive: 'none', keys: FLOW_KEYS, limits: { keyConcurrency: 1 } },
    },
    {
      id: `${prefix}-limit-fair`,
      label: `${driverLabel}, ${FLOW_KEYS} keys, limits { fair: true }`,
      flow: 'fair',
      opts: { archive: 'none', keys: FLOW_KEYS, limits: { fair: true } },
    },
    {
      id: `${prefix}-limit-rate`,
      label: `${driverLabel}, limits { rate: ${rate.toLocaleString('en-US')}/s }`,
      flow: 'rate',
      rateLimit: rate,
      opts: { archive: 'none', limits: { rate: { limit: rate, periodMs: 1000 } } },
    },
    {
      // Opt-in: a rate the limited claim reaches, so the limit, not the claim, sets the pace.
      id: `${prefix}-limit-rate-low`,
      label: `${driverLabel}, limits { rate: ${FLOW_RATE_LOW.toLocaleString('en-US')}/s }`,
      flow: 'rate',
      rateLimit: FLOW_RATE_LOW,
      optIn: true,
      opts: { archive: 'none', limits: { rate: { limit: FLOW_RATE_LOW, periodMs: 1000 } } },
    },
  ].map((s) => ({ ...common, ...s }));
  // The slot-bound variant: the unlimited drain and the global and per-key limits with a handler
  // that takes FLOW_HANDLER_MS (opt-in: named in --only).
  const slow = `${prefix}-h${FLOW_HANDLER_MS}`;
  const slowOpts = { archive: 'none', handlerMs: FLOW_HANDLER_MS };
  systems.push(
    ...[
      {
        id: slow,
        label: `${driverLabel}, ${FLOW_HANDLER_MS} ms handler, no limits`,
        flow: 'unlimited',
        opts: slowOpts,
      },
      {
        // The slot-bound unlimited drain with no rows beyond its slots, as a limited queue holds.
        id: `${slow}-p0`,
        label: `${driverLabel}, ${FLOW_HANDLER_MS} ms handler, no limits, prefetch 0`,
        flow: 'noprefetch',
        opts: { ...slowOpts, prefetch: 0 },
      },
      {
        id: `${slow}-limit-global`,
        label: `${driverLabel}, ${FLOW_HANDLER_MS} ms handler, limits { concurrency: ${FLOW_SLOTS} }`,
        flow: 'global',
        opts: { ...slowOpts, limits: { concurrency: FLOW_SLOTS } },
      },
      {
        id: `${slow}-limit-key`,
        label: `${driverLabel}, ${FLOW_HANDLER_MS} ms handler, ${FLOW_KEYS} keys, limits { keyConcurrency: 1 }`,
        flow: 'key',
        opts: { ...slowOpts, keys: FLOW_KEYS, limits: { keyConcurrency: 1 } },
      },
    ].map((s) => ({ ...common, ...FLOW_SLOW, baseline: slow, optIn: true, ...s })),
  );
  const env = beforeEnv(
    module,
    module === 'bus-postgres' ? 'BENCH_BUS_POSTGRES_MODULE' : 'BENCH_BUS_MYSQL_MODULE',
  );
  if (env)
    systems.push({
      ...common,
      id: prefix === 'bus-pg' ? 'bus-pg-before' : 'bus-my-before',
      label: `${driverLabel} before flow control, archive none`,
      flow: 'before',
      env,
      opts: { archive: 'none' },
      does: ['publish', 'drain'],
      drainCapMs: undefined,
      drainTargetMs: undefined,
    });
  return systems;
}

/**
 * The systems. `module` is the file in systems/; `opts` go to every task; `does` lists the
 * workloads it takes part in (publish and drain run together: publish fills the queue the drain
 * empties). `slots`: the handler slots it drains at ('sweep' = every N of the sweep; none for the
 * raw floors, which handle rows inline). `drainShare`: the fraction of the drain count a slow
 * system gets, so one drain stays well under drainCapMs. Latency runs at 24 slots.
 */
export const SYSTEMS = [
  {
    id: 'bus-pg-none',
    module: 'bus-postgres',
    db: 'pg',
    label: 'bus-postgres, archive none',
    opts: { archive: 'none' },
    slots: 'sweep',
    does: ['publish', 'drain', 'latency', 'txn', 'backlog', 'publish-unique'],
  },
  {
    id: 'bus-pg-all',
    module: 'bus-postgres',
    db: 'pg',
    label: 'bus-postgres, archive all',
    opts: { archive: 'all' },
    slots: [24],
    does: ['drain'],
  },
  {
    // Telemetry cost: the same drain with an OpenTelemetry SDK registered (bus-pg-none has none).
    id: 'bus-pg-otel-sdk',
    module: 'bus-postgres',
    db: 'pg',
    label: 'bus-postgres, archive none, OpenTelemetry SDK exporting nothing',
    opts: { archive: 'none', otel: 'sdk' },
    slots: [24],
    does: ['drain'],
  },
  {
    id: 'bus-pg-otel-memory',
    module: 'bus-postgres',
    db: 'pg',
    label: 'bus-postgres, archive none, OpenTelemetry SDK with in-memory exporters',
    opts: { archive: 'none', otel: 'memory' },
    slots: [24],
    does: ['drain'],
  },
  {
    // The queue settings the Rust guide shows for its "high" queue, as a user copying them gets.
    id: 'bus-pg-high',
    module: 'bus-postgres',
    db: 'pg',
    label: 'bus-postgres, the Rust guide\'s "high" queue (workers 10, batchSize 10, archive all)',
    opts: { archive: 'all', batchSize: 10 },
    slots: [10],
    does: ['drain'],
  },
  {
    id: 'graphile',
    module: 'graphile',
    db: 'pg',
    label: 'graphile-worker 0.18',
    opts: {},
    slots: 'sweep',
    does: ['publish', 'drain', 'latency', 'txn'],
  },
  {
    id: 'pgboss',
    module: 'pgboss',
    db: 'pg',
    label: 'pg-boss 12',
    opts: {},
    slots: 'sweep',
    does: ['publish', 'drain', 'latency', 'txn'],
  },
  {
    id: 'dbos',
    module: 'dbos',
    db: 'pg',
    label: 'DBOS queues 5.3',
    opts: {},
    slots: 'sweep',
    // ~200–450 jobs/s here, and enqueueing one workflow at a time: 5,000 events at 50k.
    // ~30–170 jobs/s here, enqueued one at a time at ~300/s: 2,000 events at 50k.
    drainShare: 0.1,
    does: ['publish', 'drain', 'latency'],
  },
  {
    id: 'bullmq',
    module: 'bullmq',
    db: 'redis',
    label: 'BullMQ 6 (Redis)',
    opts: {},
    slots: 'sweep',
    does: ['publish', 'drain', 'latency', 'txn'],
  },
  {
    id: 'pg-floor',
    module: 'pg-floor',
    db: 'pg',
    label: 'raw SQL floor, PostgreSQL',
    opts: {},
    does: ['publish', 'drain', 'latency', 'txn', 'backlog'],
  },
  {
    id: 'pg-floor-notify',
    module: 'pg-floor',
    db: 'pg',
    label: 'raw SQL floor + NOTIFY in the transaction',
    opts: { notify: true },
    does: ['txn'],
  },
  {
    id: 'pg-baseline',
    module: 'pg-floor',
    db: 'pg',
    label: 'app insert only, PostgreSQL (no queue row)',
    opts: { baseline: true },
    does: ['txn'],
  },
  ...flowSystems('bus-pg', 'bus-postgres', 'pg', 'bus-postgres', 'bus-pg-none'),
  {
    id: 'bus-my-none',
    module: 'bus-mysql',
    db: 'mysql',
    label: 'bus-mysql, archive none',
    opts: { archive: 'none' },
    slots: 'sweep',
    does: ['publish', 'drain', 'latency', 'txn', 'backlog', 'publish-unique'],
  },
  {
    id: 'bus-my-all',
    module: 'bus-mysql',
    db: 'mysql',
    label: 'bus-mysql, archive all',
    opts: { archive: 'all' },
    slots: [100],
    does: ['drain'],
  },
  ...flowSystems('bus-mysql', 'bus-mysql', 'mysql', 'bus-mysql', 'bus-my-none'),
  {
    id: 'sidequest',
    module: 'sidequest',
    db: 'mysql',
    label: 'Sidequest 1.16 (MariaDB)',
    opts: {},
    slots: 'sweep',
    // ~30–170 jobs/s here, enqueued one at a time at ~300/s: 2,000 events at 50k.
    drainShare: 0.04,
    does: ['publish', 'drain', 'latency'],
  },
  {
    id: 'my-floor',
    module: 'mysql-floor',
    db: 'mysql',
    label: 'raw SQL floor, MariaDB',
    opts: {},
    does: ['publish', 'drain', 'txn', 'backlog'],
  },
  {
    id: 'my-baseline',
    module: 'mysql-floor',
    db: 'mysql',
    label: 'app insert only, MariaDB (no queue row)',
    opts: { baseline: true },
    does: ['txn'],
  },
];

const only = flags.only ? new Set(flags.only.split(',')) : null;
if (only)
  for (const id of only)
    if (!SYSTEMS.some((s) => s.id === id))
      throw new Error(
        `--only: no system ${id}${/before$/.test(id) ? ' (set BENCH_BEFORE, see bench/src/before.mjs)' : ''}`,
      );
// An opt-in system (`optIn`) runs only when --only names it.
const systems = SYSTEMS.filter((s) => (only ? only.has(s.id) : !s.optIn));

// ---------------------------------------------------------------- child processes

const CHILD = join(here, 'child.mjs');
const CHILD_TIMEOUT_MS = Number(process.env.BENCH_CHILD_TIMEOUT_MS ?? 600_000);

function spawnChild(system, task, opts) {
  const execArgv = [];
  if (process.env.BENCH_CPU_PROF && task === (process.env.BENCH_CPU_PROF_TASK ?? 'drain')) {
    execArgv.push('--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF);
  }
  const child = fork(
    CHILD,
    [JSON.stringify({ system: system.module, task, opts: { ...system.opts, ...opts } })],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv,
      ...(system.env ? { env: { ...process.env, ...system.env } } : {}),
    },
  );
  const listeners = new Map();
  let settle;
  const result = new Promise((resolveResult, rejectResult) => {
    settle = { resolve: resolveResult, reject: rejectResult };
  });
  const timer = setTimeout(() => {
    child.kill('SIGKILL');
    settle.reject(new Error(`${system.id} ${task}: timed out after ${CHILD_TIMEOUT_MS} ms`));
  }, CHILD_TIMEOUT_MS);
  let done = false;
  child.on('message', (msg) => {
    if (msg.type === 'result') {
      done = true;
      settle.resolve(msg.result);
    } else if (msg.type === 'error') {
      done = true;
      settle.reject(new Error(`${system.id} ${task}: ${msg.message}`));
    } else listeners.get(msg.type)?.(msg);
  });
  child.on('exit', (code, signal) => {
    clearTimeout(timer);
    if (!done)
      settle.reject(new Error(`${system.id} ${task}: exited with ${code ?? signal} before reporting`));
  });
  return {
    result,
    send: (msg) => child.send(msg),
    message: (type) =>
      new Promise((resolveMessage, rejectMessage) => {
        listeners.set(type, resolveMessage);
        result.then(
          () => rejectMessage(new Error(`${system.id} ${task} ended before sending ${type}`)),
          rejectMessage,
        );
      }),
  };
}

const runChild = (system, task, opts = {}) => spawnChild(system, task, opts).result;

// ---------------------------------------------------------------- results

/** results[systemId][metric] = number[] (one per round or repetition). */
const results = {};
const failures = [];
/** configs[systemId][slots] = the settings a system's drain reported (for the report). */
const configs = {};
function record(system, metric, value) {
  results[system.id] ??= {};
  results[system.id][metric] ??= [];
  results[system.id][metric].push(value);
}

function log(...args) {
  console.log(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...args);
}

const fmt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : String(n));

async function guarded(system, what, fn) {
  try {
    await fn();
  } catch (error) {
    const message = String(error?.message ?? error)
      .split('\n')
      .slice(0, 6)
      .join('\n');
    log(`FAILED ${system.id} ${what}: ${message}`);
    failures.push({ system: system.id, what, message });
  }
}

// ---------------------------------------------------------------- workloads

/** The handler slots a system drains at in this run ([undefined] for the floors). */
function slotsOf(system) {
  if (system.slots === 'sweep') return cfg.sweep;
  if (Array.isArray(system.slots)) return system.slots;
  return [undefined];
}

const at = (metric, slots) => (slots === undefined ? metric : `${metric}@${slots}`);

/** Drain rate per system and N from earlier rounds: sizes later drains under the cap. */
const lastRate = new Map();

/** The drain cap and target of a system: the run's, or the system's own when tighter. */
function drainLimits(system) {
  return {
    capMs: Math.min(cfg.drainCapMs, system.drainCapMs ?? Number.POSITIVE_INFINITY),
    targetMs: Math.min(cfg.drainTargetMs, system.drainTargetMs ?? Number.POSITIVE_INFINITY),
  };
}

function drainCount(system, slots) {
  let count = Math.max(10, Math.round(cfg.count * (system.drainShare ?? 1)));
  const rate = lastRate.get(`${system.id}@${slots}`);
  // From the rate it kept before: about drainTargetMs of draining, well inside the cap.
  if (rate) count = Math.min(count, Math.max(10, Math.round((rate * drainLimits(system).targetMs) / 1000)));
  return count;
}

async function publishAndDrain(system, slots) {
  const count = drainCount(system, slots);
  const pub = await runChild(system, 'publish', { count, batch: cfg.batch, reset: true });
  const pubRate = (pub.count / pub.ms) * 1000;
  if (system.does.includes('publish')) record(system, 'publish', pubRate);
  if (!workloads.includes('drain') || !system.does.includes('drain')) {
    log(`${system.id}: publish ${fmt(pubRate)}/s`);
    return;
  }
  const { capMs } = drainLimits(system);
  const drain = await runChild(system, 'drain', { count, slots, deadlineMs: capMs });
  const drainRate = (drain.count / drain.ms) * 1000;
  lastRate.set(`${system.id}@${slots}`, drainRate);
  record(system, at('drain', slots), drainRate);
  record(system, at('rss', slots), drain.peakRssMb);
  record(system, at('drainCount', slots), drain.count);
  record(system, at('drainCapped', slots), drain.partial ? 1 : 0);
  if (drain.cpuMs !== undefined) record(system, at('drainCpu', slots), (drain.cpuMs / drain.count) * 1000);
  // A rate-limited drain: the most starts in any window of the limit's period, and the rate after the first.
  if (drain.windowMax !== undefined) {
    record(system, at('windowMax', slots), drain.windowMax);
    record(system, at('steadyRate', slots), drain.steadyRate);
  }
  if (drain.config) {
    configs[system.id] ??= {};
    configs[system.id][slots ?? '-'] = drain.config;
  }
  log(
    `${system.id}${slots === undefined ? '' : ` @${slots}`}: publish ${fmt(pubRate)}/s, drain ${fmt(drainRate)}/s` +
      ` (${fmt(drain.count)} events${drain.partial ? `, stopped at the ${capMs / 1000} s cap` : ''}), peak RSS ${drain.peakRssMb.toFixed(0)} MB` +
      (drain.windowMax !== undefined
        ? `; at most ${fmt(drain.windowMax)} starts in ${drain.windowMs} ms, ${fmt(drain.steadyRate)}/s after the first window`
        : ''),
  );
}

const LATENCY_SLOTS = 24;

async function latency(system) {
  const opts = { count: cfg.latencyCount, intervalMs: cfg.latencyIntervalMs, slots: LATENCY_SLOTS };
  const worker = spawnChild(system, 'latencyWorker', { ...opts, reset: true });
  await worker.message('ready');
  const publisher = await runChild(system, 'latencyPublisher', opts);
  worker.send({ type: 'published', sent: publisher.sent });
  const res = await worker.result;
  record(system, 'latP50', res.p50);
  record(system, 'latP99', res.p99);
  record(system, 'callP50', publisher.callP50);
  log(
    `${system.id}: latency p50 ${res.p50.toFixed(2)} ms, p99 ${res.p99.toFixed(2)} ms (n=${res.n}); publish call p50 ${publisher.callP50.toFixed(2)} ms`,
  );
}

async function txn(system) {
  const res = await runChild(system, 'txn', { count: cfg.txnCount, clients: cfg.txnClients, reset: true });
  record(system, 'txnRate', (res.count / res.ms) * 1000);
  record(system, 'txnP50', res.p50);
  record(system, 'txnP99', res.p99);
  if (res.rttP50 !== undefined) record(system, 'rttP50', res.rttP50);
  if (res.statements !== undefined) record(system, 'txnStatements', res.statements);
  log(
    `${system.id}: txn ${fmt((res.count / res.ms) * 1000)}/s, p50 ${res.p50.toFixed(2)} ms, p99 ${res.p99.toFixed(2)} ms` +
      (res.statements !== undefined ? `, statements/txn ${res.statements}` : ''),
  );
}

// A unique key's cost on publish, as a ratio to a plain publish in the same process and run.
async function publishUnique(system) {
  const count = Math.max(100, Math.round(cfg.txnCount / 5));
  const res = await runChild(system, 'publishUnique', { count, reset: true });
  const ratio = res.unique / res.plain;
  const batchRatio = res.uniqueBatch / res.plainBatch;
  record(system, 'publishSingleRate', (res.count / res.plain) * 1000);
  record(system, 'publishUniqueRate', (res.count / res.unique) * 1000);
  record(system, 'publishUniqueRatio', ratio);
  record(system, 'publishUniqueBatchRatio', batchRatio);
  log(
    `${system.id}: publish-unique ${fmt((res.count / res.unique) * 1000)}/s vs plain ${fmt((res.count / res.plain) * 1000)}/s ` +
      `(single: ${ratio.toFixed(2)}x the time; batches of 100: ${batchRatio.toFixed(2)}x, ${fmt(res.batchRows)} rows)`,
  );
}

async function backlog(system) {
  for (const [label, waiting] of [
    ['Small', cfg.backlogSmall],
    ['Big', cfg.backlogBig],
  ]) {
    const k = Math.min(cfg.backlogK, waiting);
    for (let rep = 0; rep < cfg.backlogReps; rep++) {
      // The big backlog is filled once; each repetition takes k rows off it. The small one is
      // refilled every time, since a repetition empties it.
      if (rep === 0 || label === 'Small') {
        const t0 = Date.now();
        await runChild(system, 'prefill', { count: waiting, batch: Math.max(cfg.batch, 5000), reset: true });
        if (rep === 0)
          log(`${system.id}: prefilled ${fmt(waiting)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
      const res = await runChild(system, 'backlog', { k, waiting });
      const rate = (res.count / res.ms) * 1000;
      record(system, `backlog${label}`, rate);
      if (res.cpuMs !== undefined) record(system, `backlog${label}Cpu`, (res.cpuMs / res.count) * 1000);
      log(`${system.id}: ${fmt(k)} rows with ${fmt(waiting)} waiting: ${fmt(rate)}/s`);
    }
  }
}

// ---------------------------------------------------------------- main

function rotate(list, by) {
  if (list.length === 0) return list;
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

// --render FILE: write the report again from the raw figures of an earlier run (bench/.results/*.json).
async function render(file) {
  const saved = JSON.parse(readFileSync(resolve(process.cwd(), file), 'utf8'));
  const markdown = renderReport({
    cfg: saved.cfg,
    env: saved.env,
    results: saved.results,
    failures: saved.failures,
    systems: SYSTEMS,
    elapsed: saved.elapsed ?? Number.NaN,
    workloads: saved.workloads ?? ALL_WORKLOADS,
    configs: saved.configs ?? {},
  });
  const out = flags.out
    ? resolve(process.cwd(), flags.out)
    : join(repoRoot, saved.cfg.smoke ? 'bench/.results/benchmarks-smoke.md' : 'docs/benchmarks.md');
  writeFileSync(out, withSoakSection(out, markdown));
  log(`rendered ${out} from ${file}`);
}

async function main() {
  if (flags.render) return render(flags.render);
  const started = Date.now();
  log(
    `config ${JSON.stringify(cfg)}; workloads ${workloads.join(',')}; systems ${systems.map((s) => s.id).join(',')}`,
  );
  const env = await collectEnvironment(repoRoot);
  if (BEFORE && systems.some((s) => s.flow === 'before')) env.before = beforeBuild(BEFORE);

  // Installs are independent (one database or key prefix each): run them at once.
  // The install of a module runs with the current build (a system with its own `env`, such as a
  // build from before flow control, installs only when no other system of its module runs).
  const byInstall = [...systems.filter((s) => !s.env), ...systems.filter((s) => s.env)];
  const firstOfModule = byInstall.filter((s, i) => byInstall.findIndex((x) => x.module === s.module) === i);
  await Promise.all(
    firstOfModule.map((system) =>
      guarded(system, 'install', async () => {
        const res = await runChild(system, 'install', {});
        if (res.version) env.versions[system.module] = res.version;
      }),
    ),
  );
  const usable = systems.filter(
    (s) =>
      !failures.some(
        (f) => f.what === 'install' && SYSTEMS.find((x) => x.id === f.system)?.module === s.module,
      ),
  );

  for (let round = 0; round < cfg.rounds; round++) {
    log(`round ${round + 1}/${cfg.rounds}`);
    if (workloads.includes('publish') || workloads.includes('drain')) {
      // Every (system, N) pair, systems alternating within each N, the order rotated per round.
      // The floors (no slots) and the fixed-N systems outside the sweep run among the N = 24 group
      // (the headline's), not apart at the start of a round where the load differs.
      const pairs = [];
      const draining = usable.filter((s) => s.does.includes('drain') || s.does.includes('publish'));
      const anchor = cfg.sweep.includes(24) ? 24 : cfg.sweep[0];
      for (const n of cfg.sweep) {
        for (const system of rotate(draining, round)) {
          const mine = slotsOf(system);
          if (mine.includes(n)) pairs.push([system, n]);
          else if (n === anchor && !mine.some((m) => cfg.sweep.includes(m)))
            for (const m of mine) pairs.push([system, m]);
        }
      }
      for (const [system, slots] of pairs) {
        await guarded(system, `publish/drain${slots === undefined ? '' : ` @${slots}`}`, () =>
          publishAndDrain(system, slots),
        );
      }
    }
    if (workloads.includes('latency') && round < cfg.latencyRounds) {
      for (const system of rotate(
        usable.filter((s) => s.does.includes('latency')),
        round,
      )) {
        await guarded(system, 'latency', () => latency(system));
      }
    }
    if (workloads.includes('txn') && round < cfg.txnRounds) {
      for (const system of rotate(
        usable.filter((s) => s.does.includes('txn')),
        round,
      )) {
        await guarded(system, 'txn', () => txn(system));
      }
    }
  }
  if (workloads.includes('publish-unique')) {
    for (const system of usable.filter((s) => s.does.includes('publish-unique'))) {
      await guarded(system, 'publish-unique', () => publishUnique(system));
    }
  }
  if (workloads.includes('backlog')) {
    for (const system of usable.filter((s) => s.does.includes('backlog'))) {
      await guarded(system, 'backlog', () => backlog(system));
    }
  }

  const elapsed = (Date.now() - started) / 1000;
  env.loadEnd = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  const markdown = renderReport({
    cfg,
    env,
    results,
    failures,
    systems: SYSTEMS,
    elapsed,
    workloads,
    configs,
  });
  const out = flags.out
    ? resolve(process.cwd(), flags.out)
    : cfg.smoke
      ? join(repoRoot, 'bench', '.results', 'benchmarks-smoke.md')
      : join(repoRoot, 'docs', 'benchmarks.md');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, withSoakSection(out, markdown));
  // The raw figures of every run, for comparing runs; not committed.
  const raw = join(
    repoRoot,
    'bench',
    '.results',
    `${cfg.smoke ? 'smoke' : 'full'}-${env.date.replace(/[:.]/g, '-')}.json`,
  );
  mkdirSync(dirname(raw), { recursive: true });
  writeFileSync(
    raw,
    `${JSON.stringify({ cfg, env, results, failures, elapsed, workloads, configs }, null, 2)}\n`,
  );
  log(`wrote ${out} in ${elapsed.toFixed(0)} s${failures.length ? `; ${failures.length} failure(s)` : ''}`);
  if (failures.length > 0) process.exitCode = 1;
}

await main();
