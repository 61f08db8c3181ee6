import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ArchivePolicy,
  type Bus,
  createBus,
  globalRegistry,
  isBusError,
  type Logger,
  type QueueCounts,
} from 'bus-core';
import { createDashboard, isLoopbackRequest, toNodeListener } from 'bus-dashboard';
import { type DatabaseTarget, databaseTarget, describeTarget, openDatabase } from './database.js';
import type { AppDatabase, AppStats, NewUser } from './db/types.js';
import { DemoError, firstLine } from './errors.js';
import { SendEmailEvent } from './events.js';
import { checkFail, checkRate, checkUsers, DEFAULTS } from './flags.js';
import { HANDLERS } from './handlers.js';
import { DEFAULT_DATA_DIR } from './paths.js';
import { QUEUES, RESCUE_INTERVAL } from './queues.js';
import { provideServices } from './services.js';
import { Tally } from './tally.js';
import {
  type CountedBy,
  type DemoOutput,
  type DemoSummary,
  fitLine,
  type LiveState,
  type QueueSummary,
  type QueueView,
  renderLive,
  renderProgress,
  renderSummary,
} from './view.js';

/** Options of `runDemo`; the CLI fills them from its flags and `DATABASE_URL`. */
export interface DemoOptions {
  /** Sign-ups to make (default 200). */
  users?: number;
  /** Sign-ups per second (default 50). */
  rate?: number;
  /** Share of send attempts the fake mail service rejects, 0 to 1 (default 0.1). */
  fail?: number;
  /** `postgres://…` or `mysql://…`; unset or empty for the embedded PGlite. */
  databaseUrl?: string;
  /** The folder of the embedded PGlite (default apps/demo/.data). */
  dataDir?: string;
  /** Aborting it stops the run gracefully (the CLI aborts it on Ctrl+C). */
  signal?: AbortSignal;
  /** Where the live view and the summary go; `null` or unset prints nothing. */
  output?: DemoOutput | null;
  /** Redraw the view in place (default: when `output.isTTY`); else print progress lines. */
  live?: boolean;
  /** Ms between refreshes of the view (default 250). */
  refreshMs?: number;
  /** Ms that running handlers get to finish at shutdown before they are aborted (default 10 000). */
  shutdownTimeoutMs?: number;
  /**
   * Serve the bus dashboard on 127.0.0.1 while the demo runs, mounted in this process (the CLI
   * asks for port 4680; a port in use falls back to a free one, 0 picks one). Off when unset.
   */
  dashboard?: { port: number } | false;
}

const FIRST_NAMES = [
  'ada',
  'grace',
  'alan',
  'edsger',
  'barbara',
  'donald',
  'margaret',
  'ken',
  'frances',
  'dennis',
];
const LAST_NAMES = [
  'lovelace',
  'hopper',
  'turing',
  'dijkstra',
  'liskov',
  'knuth',
  'hamilton',
  'thompson',
  'allen',
];
/**
 * Sign-ups in flight at once (each is one short transaction). PGlite runs one query at a time, so
 * there sign-ups go one by one: when the database is saturated the sign-up rate gives way, and
 * the workers still get their turn.
 */
const MAX_IN_FLIGHT = { pglite: 1, postgres: 8, mysql: 8 } as const;
/** Consecutive failed refreshes after which the database counts as lost. */
const MAX_REFRESH_FAILURES = 5;

/** The user of sign-up number `i` of run `runId`; emails are unique across runs. */
export function demoUser(runId: string, i: number): NewUser {
  const first = FIRST_NAMES[i % FIRST_NAMES.length]!;
  const last = LAST_NAMES[Math.floor(i / FIRST_NAMES.length) % LAST_NAMES.length]!;
  const cap = (s: string) => s[0]!.toUpperCase() + s.slice(1);
  return { name: `${cap(first)} ${cap(last)}`, email: `${first}.${last}.${runId}.${i}@example.com` };
}

const keepsCompleted = (policy: ArchivePolicy) => policy === 'all' || policy === 'completed';
const keepsFailed = (policy: ArchivePolicy) => policy === 'all' || policy === 'failed';

/**
 * Instead of bus's default console logger, this one keeps what the demo shows: errors (claim or settle
 * failures, …), rescues of expired leases, and outcomes bus refused to record because the worker
 * had lost the row's lease (the tally takes those runs back).
 */
class RecordingLogger implements Logger {
  errors = 0;
  last: string | undefined;
  rescued = 0;

  constructor(private readonly tally: Tally) {}

  debug(): void {}
  info(): void {}
  warn(message: string, fields?: Record<string, unknown>): void {
    if (message.startsWith('rescued') && typeof fields?.rescued === 'number') this.rescued += fields.rescued;
    if (
      message.startsWith('settle refused') &&
      typeof fields?.id === 'string' &&
      typeof fields.attempt === 'number'
    ) {
      this.tally.refused(fields.id, fields.attempt);
    }
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.errors++;
    this.last = fields?.error === undefined ? message : `${message}: ${firstLine(String(fields.error))}`;
  }
}

/** Redraws the live view in place on a terminal, or prints a progress line every 2 s. */
class View {
  #lines = 0;
  #lastProgress = 0;

  constructor(
    private readonly output: DemoOutput | null,
    private readonly live: boolean,
    private readonly color: boolean,
  ) {}

  update(state: LiveState, force = false): void {
    if (this.output === null) return;
    if (this.live) {
      const columns = this.output.columns ?? 0;
      const width = columns > 20 ? columns - 1 : Number.POSITIVE_INFINITY;
      const frame = renderLive(state, this.color).map((line) => fitLine(line, width));
      const up = this.#lines > 0 ? `\x1b[${this.#lines}F\x1b[J` : '\x1b[?25l';
      this.output.write(`${up}${frame.join('\n')}\n`);
      this.#lines = frame.length;
    } else if (force || state.elapsedMs - this.#lastProgress >= 2000) {
      this.#lastProgress = state.elapsedMs;
      this.output.write(`${renderProgress(state)}\n`);
    }
  }

  print(lines: string[]): void {
    if (this.output === null) return;
    if (this.live && this.#lines > 0) this.output.write('\x1b[?25h\n');
    this.#lines = 0;
    this.output.write(`${lines.join('\n')}\n`);
  }

  close(): void {
    if (this.output !== null && this.live) this.output.write('\x1b[?25h');
  }
}

function liveRows(c: QueueCounts | undefined): number {
  return c === undefined ? 0 : c.available + c.scheduled + c.running;
}

/**
 * Runs the demo: opens the database (PGlite unless `databaseUrl` says otherwise), migrates it,
 * starts bus's workers, signs up `users` users at `rate` per second while showing the queues,
 * waits until every row is finished (or `signal` aborts), shuts down gracefully and returns a
 * summary that reconciles what was published with what completed, failed, or is left.
 *
 * Problems the user can fix (an unreachable database, bad options) throw a `DemoError` with a
 * one-line message.
 *
 * @example
 * const summary = await runDemo({ users: 20, rate: 100, fail: 0.2, output: process.stdout });
 * console.log(summary.reconciled);
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoSummary> {
  const users = checkUsers(options.users ?? DEFAULTS.users);
  const rate = checkRate(options.rate ?? DEFAULTS.rate);
  const failRate = checkFail(options.fail ?? DEFAULTS.fail);
  const target: DatabaseTarget = databaseTarget(options.databaseUrl, options.dataDir ?? DEFAULT_DATA_DIR);
  const output = options.output ?? null;
  const refreshMs = options.refreshMs ?? 250;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000;
  const live = options.live ?? output?.isTTY === true;
  const view = new View(output, live, output?.isTTY === true && !process.env.NO_COLOR);
  const startedAt = performance.now();

  // Ctrl+C (the caller's signal) and a fatal error both stop the run through `stop`.
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) stop.abort();

  const say = (line: string) => output?.write(`${line}\n`);
  const firstStart = target.kind === 'pglite' && !existsSync(join(target.dataDir, 'pglite', 'PG_VERSION'));
  say(
    `bus demo: opening ${describeTarget(target)}${firstStart ? ' (the first start creates the database: allow it some seconds)' : ''}…`,
  );
  const db: AppDatabase = await openDatabase(target);
  try {
    say(`applying migrations: the demo's own tables (drizzle-kit) and bus's tables (migrate of the driver)…`);
    try {
      await db.migrate();
    } catch (error) {
      throw new DemoError(`migrating ${db.label} failed: ${firstLine(error)}`, { cause: error });
    }
    return await runOn(db);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    view.close();
    await db.close().catch(() => undefined);
  }

  async function runOn(db: AppDatabase): Promise<DemoSummary> {
    const tally = new Tally();
    const logger = new RecordingLogger(tally);
    const withdraw = provideServices({ db, tally, mailer: { failRate } });
    try {
      const bus: Bus<unknown> = createBus({
        store: db.store,
        queues: QUEUES,
        logger,
        rescueInterval: RESCUE_INTERVAL,
      });
      try {
        await bus.init();
      } catch (error) {
        throw new DemoError(`${db.label} is not usable: ${firstLine(error)}`, { cause: error });
      }
      const dashboard = options.dashboard ? await serveDashboard(bus, options.dashboard.port) : undefined;
      try {
        if (dashboard) say(`dashboard: ${dashboard.url} (served while the demo runs)`);
        return await runBus(db, bus, tally, logger);
      } finally {
        await dashboard?.close();
      }
    } finally {
      withdraw();
    }
  }

  async function runBus(
    db: AppDatabase,
    bus: Bus<unknown>,
    tally: Tally,
    logger: RecordingLogger,
  ): Promise<DemoSummary> {
    // How many rows one sign-up publishes into each queue: one per handler of the event.
    for (const handler of HANDLERS) {
      if (globalRegistry.handler(handler.handlerName) === undefined) {
        throw new Error(`handler ${handler.handlerName} is not registered`);
      }
    }
    const fanOut = new Map<string, string[]>();
    for (const handler of globalRegistry.handlersOf(SendEmailEvent.name)) {
      fanOut.set(handler.settings.queueName, [
        ...(fanOut.get(handler.settings.queueName) ?? []),
        handler.name,
      ]);
    }

    const countsOf = async () => new Map((await bus.inspect.counts()).map((c) => [c.queue, c]));
    const atStart = await countsOf();
    const runId = Date.now().toString(36);
    let signedUp = 0;
    let signUpsFrom = 0;
    let signUpsUntil: number | undefined;
    let fatal: unknown;
    let phase: LiveState['phase'] = 'starting';
    const history = new Map<string, { t: number; finished: number }[]>();

    const queueView = (
      queue: string,
      policy: ArchivePolicy,
      now: Map<string, QueueCounts>,
      t: number,
    ): QueueView => {
      const start = atStart.get(queue);
      const c = now.get(queue);
      const mine = tally.of(queue);
      const archivedCompleted = (c?.archivedCompleted ?? 0) - (start?.archivedCompleted ?? 0);
      const archivedFailed = (c?.archivedFailed ?? 0) - (start?.archivedFailed ?? 0);
      const completedBy: CountedBy = keepsCompleted(policy) ? 'archive' : 'handlers';
      const failedBy: CountedBy = keepsFailed(policy) ? 'archive' : 'handlers';
      const completed = completedBy === 'archive' ? archivedCompleted : mine.completed;
      const failed = failedBy === 'archive' ? archivedFailed : mine.failedForGood;
      // Finished rows per second over the last two seconds.
      const samples = history.get(queue) ?? [];
      samples.push({ t, finished: completed + failed });
      while (samples.length > 2 && t - samples[0]!.t > 2000) samples.shift();
      history.set(queue, samples);
      const first = samples[0]!;
      const span = (t - first.t) / 1000;
      return {
        queue,
        archivePolicy: policy,
        earlier: liveRows(start),
        published: signedUp * (fanOut.get(queue)?.length ?? 0),
        queued: (c?.available ?? 0) + (c?.scheduled ?? 0),
        running: c?.running ?? 0,
        retrying: c?.retrying ?? 0,
        completed,
        completedBy,
        failed,
        failedBy,
        archived: archivedCompleted + archivedFailed,
        perSecond: span > 0 ? (completed + failed - first.finished) / span : 0,
      };
    };
    const state = (now: Map<string, QueueCounts>): LiveState => {
      const t = performance.now() - startedAt;
      return {
        database: db.label,
        phase,
        elapsedMs: t,
        signedUp,
        usersTarget: users,
        rate,
        actualRate:
          signedUp === 0
            ? 0
            : (signedUp * 1000) / Math.max(1, (signUpsUntil ?? performance.now()) - signUpsFrom),
        failRate,
        queues: QUEUES.map((q) => queueView(q.queueName, q.archivePolicy, now, t)),
        rescued: logger.rescued,
        busErrors: logger.errors,
        lastBusError: logger.last,
      };
    };

    say(
      `starting the workers of the queues ${QUEUES.map((q) => q.queueName).join(', ')}; signing up ${users} users at ${rate}/s…`,
    );
    await bus.controller.startWorkers();
    const processingFrom = performance.now();
    let latest: Map<string, QueueCounts> | undefined;
    try {
      phase = 'signing up';
      signUpsFrom = performance.now();
      let signUpsDone = false;
      const signUps = signUpAll(db, bus, runId, (n) => {
        signedUp += n;
      })
        .catch((error: unknown) => {
          fatal ??= error;
          stop.abort();
        })
        .finally(() => {
          signUpsUntil = performance.now();
          signUpsDone = true;
          phase = 'draining';
        });

      let failures = 0;
      for (;;) {
        let now: Map<string, QueueCounts>;
        const asked = performance.now();
        let took = 0;
        try {
          now = await countsOf();
          latest = now;
          took = performance.now() - asked;
          failures = 0;
        } catch (error) {
          if (++failures >= MAX_REFRESH_FAILURES) {
            fatal ??= new DemoError(`lost ${db.label}: ${firstLine(error)}`, { cause: error });
            stop.abort();
            break;
          }
          await pause(refreshMs, stop.signal);
          continue;
        }
        view.update(state(now));
        if (stop.signal.aborted) break;
        if (signUpsDone && [...now.values()].every((c) => liveRows(c) === 0)) break;
        // Counting scans the tables: on a busy database, look less often rather than add to it.
        await pause(Math.max(refreshMs, 2 * took), stop.signal);
      }
      await signUps;
    } finally {
      // Graceful shutdown, as a service does on SIGTERM: stop claiming, let running handlers
      // finish, abort the rest and hand their rows back for the next run.
      phase = 'stopping';
      if (latest !== undefined) view.update(state(latest), true);
      bus.controller.shutdown();
      await bus.controller.awaitTerminationWithTimeout(shutdownTimeoutMs);
    }
    const processingMs = performance.now() - processingFrom;
    if (fatal !== undefined) {
      if (fatal instanceof DemoError) throw fatal;
      throw new DemoError(`the run failed: ${firstLine(fatal)}`, { cause: fatal });
    }

    let final: Map<string, QueueCounts>;
    let app: AppStats;
    try {
      final = await countsOf();
      app = await db.stats();
    } catch (error) {
      throw new DemoError(`lost ${db.label} before the summary: ${firstLine(error)}`, { cause: error });
    }
    const last = state(final);
    view.update(last, true);
    const summary = summarize(db, last, final, tally, app, processingMs, fanOut, logger);
    view.print(['', ...renderSummary(summary, output?.isTTY === true && !process.env.NO_COLOR)]);
    return summary;
  }

  /** Signs up `users` users at `rate` per second, a few transactions in flight at once. */
  async function signUpAll(db: AppDatabase, bus: Bus<unknown>, runId: string, done: (n: number) => void) {
    const interval = 1000 / rate;
    const t0 = performance.now();
    const inFlight = new Set<Promise<void>>();
    let failed: unknown;
    for (let i = 0; i < users && !stop.signal.aborted && failed === undefined; i++) {
      const wait = t0 + i * interval - performance.now();
      if (wait > 0) await pause(wait, stop.signal);
      if (stop.signal.aborted) break;
      if (inFlight.size >= MAX_IN_FLIGHT[db.kind]) await Promise.race(inFlight);
      const p: Promise<void> = db
        .signUp(bus, demoUser(runId, i))
        .then(
          () => done(1),
          (error: unknown) => {
            failed ??= error;
          },
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
    if (failed !== undefined) {
      throw new DemoError(`a sign-up failed: ${firstLine(failed)}`, { cause: failed });
    }
  }

  function summarize(
    db: AppDatabase,
    last: LiveState,
    final: Map<string, QueueCounts>,
    tally: Tally,
    app: AppStats,
    processingMs: number,
    fanOut: Map<string, string[]>,
    logger: RecordingLogger,
  ): DemoSummary {
    const problems: string[] = [];
    const queues: QueueSummary[] = last.queues.map((q) => {
      const mine = tally.of(q.queue);
      const left = liveRows(final.get(q.queue));
      let reconciled = q.earlier + q.published === q.completed + q.failed + left;
      if (!reconciled) {
        problems.push(
          `${q.queue}: ${q.earlier} earlier + ${q.published} published ≠ ${q.completed} completed + ${q.failed} failed + ${left} left`,
        );
      }
      // Where the archive keeps a kind of row, the handlers' own count must agree with it.
      if (q.completedBy === 'archive' && q.completed !== mine.completed) {
        reconciled = false;
        problems.push(
          `${q.queue}: the archive gained ${q.completed} completed rows, the handlers completed ${mine.completed}`,
        );
      }
      if (q.failedBy === 'archive' && q.failed !== mine.failedForGood) {
        reconciled = false;
        problems.push(
          `${q.queue}: the archive gained ${q.failed} failed rows, the handlers failed ${mine.failedForGood} for good`,
        );
      }
      return {
        queue: q.queue,
        archivePolicy: q.archivePolicy,
        handlers: fanOut.get(q.queue) ?? [],
        earlier: q.earlier,
        published: q.published,
        completed: q.completed,
        completedBy: q.completedBy,
        failed: q.failed,
        failedBy: q.failedBy,
        left,
        archived: q.archived,
        retries: mine.failedAttempts - mine.failedForGood,
        handedBack: mine.handedBack,
        lostLeases: mine.refused,
        perSecond: processingMs > 0 ? ((q.completed + q.failed) * 1000) / processingMs : 0,
        reconciled,
      };
    });
    const sum = (f: (q: QueueSummary) => number) => queues.reduce((n, q) => n + f(q), 0);
    const totals = {
      earlier: sum((q) => q.earlier),
      published: sum((q) => q.published),
      completed: sum((q) => q.completed),
      failed: sum((q) => q.failed),
      left: sum((q) => q.left),
      archived: sum((q) => q.archived),
    };
    const drained = totals.left === 0;
    // The business view of the same numbers: once the `high` queue is empty and none of its rows
    // ever failed (its archive keeps every failure), every user has the welcome credit.
    const high = final.get('high');
    if (drained && app.credited !== app.users && (high?.archivedFailed ?? 0) === 0) {
      problems.push(
        `${app.users - app.credited} users have no welcome credit although the high queue is empty`,
      );
    }
    return {
      database: db.label,
      kind: db.kind,
      interrupted: options.signal?.aborted === true && !drained,
      durationMs: performance.now() - startedAt,
      users: { requested: users, signedUp: last.signedUp, rate, actualRate: last.actualRate },
      failRate,
      queues,
      totals,
      app,
      drained,
      reconciled: problems.length === 0,
      problems,
      busErrors: logger.errors,
      lastBusError: logger.last,
    };
  }
}

/** Sleeps `ms`, or less when `signal` aborts; never rejects. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  await sleep(ms, undefined, { signal }).catch((error: unknown) => {
    if (!(error instanceof Error && error.name === 'AbortError') && !isBusError(error)) throw error;
  });
}

/**
 * The bus dashboard mounted the way an app mounts it: its fetch handler on node:http, in this
 * process, on 127.0.0.1 only, taking requests addressed to a loopback host name (the demo's
 * `authorize`; a real app checks its own sessions).
 */
async function serveDashboard(
  bus: Bus<unknown>,
  port: number,
): Promise<{ url: string; close(): Promise<void> }> {
  const dashboard = createDashboard({ admin: bus.admin, authorize: isLoopbackRequest, title: 'bus demo' });
  const server: Server = createServer(toNodeListener(dashboard));
  const listen = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await listen(port);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    await listen(0);
  }
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
