// Shared helpers of the benchmark: connection settings, payloads, timing and statistics.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const PG = {
  host: process.env.BENCH_PG_HOST ?? '127.0.0.1',
  port: Number(process.env.BENCH_PG_PORT ?? 5432),
  user: process.env.BENCH_PG_USER ?? 'postgres',
  password: process.env.BENCH_PG_PASSWORD ?? '',
  adminDb: process.env.BENCH_PG_ADMIN_DB ?? 'test',
};

export const MYSQL = {
  host: process.env.BENCH_MYSQL_HOST ?? '127.0.0.1',
  port: Number(process.env.BENCH_MYSQL_PORT ?? 3306),
  user: process.env.BENCH_MYSQL_USER ?? 'root',
  password: process.env.BENCH_MYSQL_PASSWORD ?? '',
  database: process.env.BENCH_MYSQL_DB ?? 'bench',
};

export const REDIS = {
  host: process.env.BENCH_REDIS_HOST ?? '127.0.0.1',
  port: Number(process.env.BENCH_REDIS_PORT ?? 6379),
};

export function pgUrl(database) {
  const auth = PG.password ? `${PG.user}:${encodeURIComponent(PG.password)}` : PG.user;
  return `postgres://${auth}@${PG.host}:${PG.port}/${database}`;
}

/** The payload every system carries: small, like a typical event. */
export function payloadOf(i) {
  return { n: i, email: `user${i}@example.com`, kind: 'signup' };
}

/** Monotonic clock in microseconds; CLOCK_MONOTONIC is shared by every process on the machine. */
export function nowUs() {
  return Number(process.hrtime.bigint() / 1000n);
}

export function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Peak resident set size of this process so far, in MB (VmHWM). */
export function peakRssMb() {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.memoryUsage().rss / 1048576;
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Waits until `check()` resolves true, polling every `everyMs`; throws after `timeoutMs`. */
export async function until(check, { everyMs = 2, timeoutMs = 600_000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Calls `fn(start, end)` over [0, count) in slices of `size`. */
export async function inChunks(count, size, fn) {
  for (let start = 0; start < count; start += size) {
    await fn(start, Math.min(count, start + size));
  }
}

/** A counter that resolves a promise when it reaches `target`. */
export function completionCounter(target) {
  let count = 0;
  let resolve;
  let reachedAt = 0;
  const reached = new Promise((r) => {
    resolve = r;
  });
  if (target <= 0) resolve();
  return {
    hit() {
      count++;
      if (count === target) {
        reachedAt = nowMs();
        resolve();
      }
    },
    get count() {
      return count;
    },
    get reachedAt() {
      return reachedAt;
    },
    reached,
  };
}

/** Runs `total` tasks with `concurrency` workers; each task's latency in ms is returned. */
export async function concurrently(total, concurrency, task) {
  let next = 0;
  const latencies = new Array(total);
  const lanes = Array.from({ length: concurrency }, async (_, lane) => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const t0 = nowMs();
      await task(i, lane);
      latencies[i] = nowMs() - t0;
    }
  });
  await Promise.all(lanes);
  return latencies;
}

export function latencySummary(latencies) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
    n: sorted.length,
  };
}

/** The installed version of a dependency, found from its entry point (works with `exports`). */
export function packageVersion(name) {
  const require = createRequire(import.meta.url);
  let dir;
  try {
    dir = dirname(require.resolve(name));
  } catch {
    return 'not installed';
  }
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8'));
      if (pkg.name === name) return pkg.version;
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

/** Milliseconds of CPU (user + system) this process used since `start` (a process.cpuUsage()). */
export function cpuMsSince(start) {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

/**
 * Calls `send(i, t)` `count` times, one every `intervalMs`, where `t` is the enqueue timestamp
 * (µs, CLOCK_MONOTONIC) to carry in the payload. Returns how long the calls took.
 */
export async function paced(count, intervalMs, send) {
  const calls = [];
  const start = nowMs();
  for (let i = 0; i < count; i++) {
    const wait = start + i * intervalMs - nowMs();
    if (wait > 0) await sleep(wait);
    const t0 = nowMs();
    await send(i, nowUs());
    calls.push(nowMs() - t0);
  }
  const s = latencySummary(calls);
  return { sent: count, callP50: s.p50, callP99: s.p99 };
}

/**
 * Waits for `counter` to reach its target, or for `deadlineMs` (from now) to pass, whichever is
 * first. Returns true when the deadline cut the wait short: a slow configuration then reports the
 * rate it kept over the deadline instead of holding the shared machine for minutes.
 */
export async function reachedBy(counter, deadlineMs) {
  if (!deadlineMs) {
    await counter.reached;
    return false;
  }
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve(true), deadlineMs);
  });
  const partial = await Promise.race([counter.reached.then(() => false), late]);
  clearTimeout(timer);
  return partial;
}
