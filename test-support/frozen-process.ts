/**
 * The frozen-process scenario of issue 12, item 4, for every driver: a worker OS process is
 * stopped (SIGSTOP) with handlers running for longer than twice its lease, then continued
 * (SIGCONT). Its rows must be rescued and run by another worker (this test process) meanwhile;
 * once awake, its late completions are refused by the fence, its long handlers are aborted with
 * LEASE_LOST, and it goes back to work without a storm of errors.
 *
 * The worker runs the built dist of bus-core and the driver (`node --input-type=module -e`, from
 * the driver's folder so that its packages resolve), and reports on stdout, one JSON line each.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { expect } from 'vitest';
import {
  type ArchivedEventRow,
  createBus,
  defineEvent,
  type HandlerContext,
  type QueueStore,
  Registry,
} from '../packages/bus-core/src/index.js';
import { waitFor } from '../packages/bus-testing/src/wait.js';
import { type WorkerDriver, workerStopSource, workerStoreSource } from './worker-store-source.js';

/** The worker's program: the frozen queue's handler, reporting starts, aborts, completions and logs. */
function workerSource(driver: WorkerDriver): string {
  return `
    const env = process.env;
    const say = (message) => process.stdout.write(JSON.stringify(message) + '\\n');
    const { createBus, defineEvent, Registry } = await import('bus-core');
    ${workerStoreSource(driver, 6)}
    const FrozenEvent = defineEvent('frozen.event');
    class FrozenHandler {
      static handlerName = 'frozen.handler';
      static settings = { queueName: 'frozen', maxRetries: 5, executionTimeout: 60_000 };
      static calculateScheduledAt() { return 0; }
      async handle(payload, ctx) {
        say({ start: ctx.id, attempt: ctx.attempt });
        await new Promise((resolve, reject) => {
          const timer = setTimeout(resolve, payload.ms);
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            say({ aborted: ctx.id, reason: String(ctx.signal.reason?.code ?? ctx.signal.reason) });
            reject(ctx.signal.reason);
          }, { once: true });
        });
        say({ done: ctx.id, attempt: ctx.attempt });
      }
    }
    const registry = new Registry();
    registry.register(FrozenEvent, FrozenHandler);
    const line = (level) => (message, fields) => say({ log: level, message, id: fields?.id });
    const bus = createBus({
      store, registry, workerId: env.WORKER_ID, rescueInterval: 200,
      logger: { debug() {}, info() {}, warn: line('warn'), error: line('error') },
      queues: [{ queueName: 'frozen', workers: 8, batchSize: 8, sleepInterval: 50, archivePolicy: 'all',
                 leaseDuration: Number(env.LEASE_MS) }],
    });
    await bus.init();
    await bus.controller.startWorkers();
    say({ ready: true });
    ${workerStopSource()}`;
}

interface WorkerLine {
  ready?: boolean;
  start?: string;
  done?: string;
  aborted?: string;
  attempt?: number;
  reason?: string;
  log?: 'warn' | 'error';
  message?: string;
  id?: string;
}

/** What the driver's test gives. */
export interface FrozenProcessOptions {
  driver: WorkerDriver;
  /** The driver's package folder (the worker resolves bus-core and the driver from it). */
  cwd: string;
  /** The worker's environment: BUS_URL (and BUS_SCHEMA on PostgreSQL). */
  env: Record<string, string>;
  /** A store on the same tables, for this process's own worker. */
  store: QueueStore<any>;
  /** Lease of both workers (ms). */
  leaseMs?: number;
}

/** What happened, for the test to assert on and print. */
export interface FrozenProcessReport {
  /** Rows leased to the frozen process when it was stopped. */
  held: string[];
  /** Of those, the ones whose handler was running in it. */
  running: string[];
  /** Rows the test's own worker completed, with the attempt. */
  completedHere: Map<string, number>;
  /** The frozen process's lines after SIGCONT. */
  afterWake: WorkerLine[];
  /** Its settle refusals after SIGCONT (late completions the fence refused), by row id. */
  refused: Set<string>;
  /** Its aborted runs after SIGCONT, by row id: the reason code. */
  aborted: Map<string, string>;
  /** Its completions after SIGCONT (late ones, and new rows once back at work). */
  doneAfterWake: string[];
  /** Its error log lines after SIGCONT. */
  errorsAfterWake: WorkerLine[];
  /** New rows it completed after waking, all of them attempt 1. */
  newWorkAfterWake: number;
  /** Milliseconds it was stopped. */
  frozenMs: number;
  /** Exit code on SIGTERM. */
  exitCode: number | null;
  /** Live rows at the end (0 when drained). */
  leftLive: number;
}

const FrozenEvent = defineEvent<{ n: number; ms: number }>('frozen.event');

/**
 * Runs the scenario: 16 rows for the frozen process (half short, half long handlers), SIGSTOP
 * while they run, 2.5 leases of sleep while this process's worker rescues and runs them,
 * SIGCONT, then 40 new rows to show the woken process works again.
 *
 * @example
 * const report = await runFrozenProcess({ driver: 'mysql', cwd, env: { BUS_URL: t.url }, store });
 */
export async function runFrozenProcess(options: FrozenProcessOptions): Promise<FrozenProcessReport> {
  const leaseMs = options.leaseMs ?? 1500;
  const lines: WorkerLine[] = [];
  const child: ChildProcess = spawn(
    process.execPath,
    ['--input-type=module', '-e', workerSource(options.driver)],
    {
      cwd: options.cwd,
      env: { ...process.env, ...options.env, WORKER_ID: 'frozen-worker', LEASE_MS: String(leaseMs) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as WorkerLine);
    } catch {
      stderr.push(text);
    }
  });
  createInterface({ input: child.stderr! }).on('line', (text) => stderr.push(text));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const bus = (() => {
    const registry = new Registry();
    const completedHere = new Map<string, number>();
    class FrozenHandler {
      static readonly handlerName = 'frozen.handler';
      static readonly settings = { queueName: 'frozen', maxRetries: 5, executionTimeout: 60_000 };
      static calculateScheduledAt(): number {
        return 0;
      }
      async handle(_payload: { ms: number }, ctx: HandlerContext): Promise<void> {
        // Here every row is short: the point is that it runs here at all.
        await new Promise((resolve) => setTimeout(resolve, 5));
        completedHere.set(ctx.id, ctx.attempt);
      }
    }
    registry.register(FrozenEvent, FrozenHandler);
    const instance = createBus({
      store: options.store,
      registry,
      workerId: 'test-process',
      rescueInterval: 200,
      queues: [
        {
          queueName: 'frozen',
          workers: 8,
          batchSize: 8,
          sleepInterval: 50,
          archivePolicy: 'all',
          leaseDuration: leaseMs,
        },
      ],
    });
    // Publishes come from a bus of their own that runs no workers, so that they still work
    // after this process's worker has shut down.
    const publisher = createBus({
      store: options.store,
      registry,
      queues: [{ queueName: 'frozen', workers: 1, batchSize: 1, sleepInterval: 1000, archivePolicy: 'all' }],
    });
    return { instance, publisher, completedHere };
  })();
  try {
    await waitFor(() => lines.some((l) => l.ready), {
      timeoutMs: 30_000,
      message: `the worker process to start (${stderr.join('\n')})`,
    });
    await bus.instance.init();
    await bus.publisher.init();
    // Only the frozen process works at first, so it holds every row.
    await bus.publisher.publishBatch(
      FrozenEvent,
      Array.from({ length: 16 }, (_, n) => ({ n, ms: n % 2 === 0 ? 300 : 20_000 })),
    );
    await waitFor(() => lines.filter((l) => l.start !== undefined).length >= 8, {
      timeoutMs: 10_000,
      message: 'the worker process to run 8 handlers',
    });
    child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    const live = await options.store.inspect.listEvents({ limit: 100 });
    const held = live.filter((r) => r.lockedBy === 'frozen-worker').map((r) => r.id);
    const started = new Set(lines.filter((l) => l.start !== undefined).map((l) => l.start!));
    const finished = new Set(lines.filter((l) => l.done !== undefined).map((l) => l.done!));
    const running = held.filter((id) => started.has(id) && !finished.has(id));

    // While it is stopped, this process rescues its rows (after the lease) and runs them.
    await bus.instance.controller.startWorkers();
    await waitFor(() => held.every((id) => bus.completedHere.has(id)), {
      timeoutMs: 20_000,
      message: 'the frozen process rows to run here',
    });
    const sleep = Math.max(0, stoppedAt + 2.5 * leaseMs - Date.now());
    await new Promise((resolve) => setTimeout(resolve, sleep));
    const frozenMs = Date.now() - stoppedAt;
    // Stop this worker: from now on only the woken process can take new rows.
    bus.instance.controller.shutdown();
    await bus.instance.controller.awaitTerminationWithTimeout(10_000);

    const wakeIndex = lines.length;
    child.kill('SIGCONT');
    // Its late runs end (short ones complete and are refused, long ones are aborted): wait until
    // every handler it was running has reported, then give it new work.
    await waitFor(
      () => {
        const after = lines.slice(wakeIndex);
        return running.every((id) => after.some((l) => l.done === id || l.aborted === id));
      },
      { timeoutMs: 15_000, message: 'the woken process to end its late runs' },
    );
    const fresh = await bus.publisher.publishBatch(
      FrozenEvent,
      Array.from({ length: 40 }, (_, n) => ({ n: 100 + n, ms: 5 })),
    );
    const freshIds = new Set(fresh);
    await waitFor(
      () => lines.slice(wakeIndex).filter((l) => l.done !== undefined && freshIds.has(l.done)).length === 40,
      {
        timeoutMs: 15_000,
        message: 'the woken process to complete 40 new rows',
      },
    );
    child.kill('SIGTERM');
    const exitCode = await exit;
    const afterWake = lines.slice(wakeIndex);
    return {
      held,
      running,
      completedHere: bus.completedHere,
      afterWake,
      refused: new Set(
        afterWake
          .filter((l) => l.log === 'warn' && /settle refused/.test(l.message ?? ''))
          .map((l) => String(l.id)),
      ),
      aborted: new Map(
        afterWake.filter((l) => l.aborted !== undefined).map((l) => [l.aborted!, l.reason ?? '']),
      ),
      doneAfterWake: afterWake.filter((l) => l.done !== undefined).map((l) => l.done!),
      errorsAfterWake: afterWake.filter((l) => l.log === 'error'),
      newWorkAfterWake: afterWake.filter(
        (l) => l.done !== undefined && freshIds.has(l.done) && l.attempt === 1,
      ).length,
      frozenMs,
      exitCode,
      leftLive: (await options.store.inspect.listEvents({ limit: 100 })).length,
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    bus.instance.controller.shutdown();
  }
}

/**
 * What a user checks after the frozen-process scenario, for every driver: `rows` are the
 * archived rows of `report.held`, read through the driver's own store.
 */
export function expectFrozenProcessOutcome(report: FrozenProcessReport, rows: ArchivedEventRow[]): void {
  console.info(
    `frozen ${report.frozenMs} ms holding ${report.held.length} rows (${report.running.length} running); ` +
      `after waking: ${report.refused.size} completions refused, ${report.aborted.size} runs aborted ` +
      `(${[...new Set(report.aborted.values())]}), ${report.errorsAfterWake.length} error lines, ${report.newWorkAfterWake} new rows done`,
  );
  expect(report.frozenMs).toBeGreaterThan(2 * 1500);
  expect(report.running.length).toBeGreaterThan(0);
  // Rescued and run here, on a later attempt; the archive keeps this process's outcome, not
  // the frozen one's late completion.
  expect(rows.map((r) => r.id).sort()).toEqual([...report.held].sort());
  for (const r of rows) {
    expect(r.status).toBe('completed');
    expect(report.completedHere.get(r.id), `row ${r.id} ran here`).toBe(r.attempts);
    expect(r.attempts).toBeGreaterThanOrEqual(2);
  }
  // The long runs were still going when it woke: aborted with LEASE_LOST. Short runs that
  // finished after the wake were refused by the fence (or dropped by the heartbeat first).
  expect([...report.aborted.values()].every((reason) => reason === 'LEASE_LOST')).toBe(true);
  expect(report.aborted.size).toBeGreaterThan(0);
  for (const id of report.refused) expect(report.held).toContain(id);
  // No error storm, and it works on: 40 new rows done on their first attempt, clean exit.
  expect(report.errorsAfterWake.length, JSON.stringify(report.errorsAfterWake)).toBeLessThanOrEqual(3);
  expect(report.newWorkAfterWake).toBe(40);
  expect(report.exitCode).toBe(0);
  expect(report.leftLive).toBe(0);
}
