import type { ArchivePolicy } from './archive-policy.js';
import type { LimitsRow } from './contract/flow.js';
import type { PauseRow } from './contract/inspect.js';
import { CONTRACT_LIMITS } from './contract/limits.js';
import type { Subscription } from './contract/listen.js';
import type { QueueStore } from './contract/store.js';
import { BusError, describeError } from './errors.js';
import { limitsSignature } from './flow/limits.js';
import type { EventHandler } from './handler.js';
import type { Logger } from './logger.js';
import { QueueGauges } from './otel/metrics.js';
import { assertPoolSize } from './pool-budget.js';
import type { ResolvedQueueConfig } from './queue-config.js';
import { QueueWorker } from './queue-worker.js';
import type { Registry } from './registry.js';
import { Rescuer } from './rescuer.js';
import { Settler } from './settler.js';
import { retryConflicts } from './store-retry.js';
import type { Telemetry } from './telemetry.js';

/** What the controller needs from its bus. */
export interface ControllerDeps {
  store: QueueStore<unknown>;
  registry: Registry;
  queues: readonly ResolvedQueueConfig[];
  logger: Logger;
  telemetry: Telemetry;
  workerId: string;
  rescueInterval: number;
  archiveRetention: number | null;
  assertReady(): void;
  markShutDown(): void;
  /** Called once the workers run (the bus starts its schedules here). */
  onStarted?(): void;
}

/** Options of `startWorkers`. */
export interface StartWorkersOptions {
  /** Run only these configured queues in this process (default: all of them). */
  queues?: string[];
}

const PRUNE_LIMIT = 10_000;
// Queue gauges read the counts at most this often, however often the metrics SDK collects.
const GAUGE_INTERVAL_MS = 10_000;
/** How often every process reads the stored pauses: the bound on how long a pause takes to hold. */
export const PAUSE_POLL_MS = 1000;
/** How often a running process records its heartbeat (`admin.recordWorker`). */
export const WORKER_HEARTBEAT_MS = 10_000;

/**
 * Runs the workers of every configured queue in this process; the guide's
 * `DatabaseWorkerController`. Signal handling stays with the app.
 *
 * @example
 * await bus.controller.startWorkers();
 * process.once('SIGTERM', async () => {
 *   bus.controller.shutdown();
 *   await bus.controller.awaitTerminationWithTimeout(60_000);
 * });
 */
export class WorkerController {
  readonly #workers = new Map<string, QueueWorker>();
  #state: 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' = 'idle';
  #subscription: Subscription | undefined;
  #timers: ReturnType<typeof setTimeout>[] = [];
  #settler: Settler | undefined;
  #rescuer: Rescuer | undefined;
  #gauges: QueueGauges | undefined;
  #termination: Promise<boolean> | undefined;

  constructor(private readonly deps: ControllerDeps) {}

  /**
   * Builds every handler (running async factories), then starts claiming on each queue, the
   * lease rescuer and, when the store can, the wake-up listener.
   */
  async startWorkers(options: StartWorkersOptions = {}): Promise<void> {
    const { store, registry, logger, workerId } = this.deps;
    this.deps.assertReady();
    if (this.#state !== 'idle') {
      throw new BusError('INVALID_ARGUMENT', `startWorkers was already called (state ${this.#state})`, {
        value: this.#state,
      });
    }
    const queues = this.#selectQueues(options.queues);
    assertPoolSize(store.capabilities.poolSize, queues, registry.handlers());
    this.#state = 'starting';
    const instances = new Map<string, EventHandler<unknown>>();
    const selected = new Set(queues.map((q) => q.queueName));
    for (const handler of registry.handlers()) {
      if (!selected.has(handler.settings.queueName)) continue;
      try {
        instances.set(handler.name, await handler.build());
      } catch (cause) {
        this.#state = 'idle';
        throw new BusError(
          'FACTORY_FAILED',
          `building handler ${handler.name} failed: ${describeError(cause)}`,
          {
            cause,
            value: handler.name,
          },
        );
      }
    }
    this.#settler = new Settler(store, workerId, logger);
    this.#rescuer = new Rescuer(
      store,
      new Map<string, ArchivePolicy>(queues.map((q) => [q.queueName, q.archivePolicy])),
    );
    for (const config of queues) {
      const names = registry
        .handlers()
        .filter((h) => h.settings.queueName === config.queueName && instances.has(h.name));
      if (names.length > CONTRACT_LIMITS.maxHandlers) {
        this.#state = 'idle';
        throw new BusError(
          'INVALID_QUEUE_CONFIG',
          `queue ${config.queueName} has ${names.length} handlers; one process claims for at most ${CONTRACT_LIMITS.maxHandlers} per queue`,
          { value: config.queueName },
        );
      }
      this.#workers.set(
        config.queueName,
        new QueueWorker(config, {
          store,
          registry,
          instances,
          settler: this.#settler,
          logger,
          telemetry: this.deps.telemetry,
          workerId,
        }),
      );
    }
    // Before the first claim: a process started while its queue is paused must not claim, and one
    // whose queue is limited claims within the limits from the start.
    try {
      for (const config of queues) {
        if (config.limits === null) continue;
        const limits = config.limits;
        await retryConflicts(() =>
          store.admin.setLimits({ queue: config.queueName, limits, signature: limitsSignature(limits) }),
        );
      }
      this.#applyPauses(await retryConflicts(() => store.inspect.listPauses()));
      this.#applyLimits(await retryConflicts(() => store.inspect.listLimits()));
    } catch (cause) {
      this.#workers.clear();
      this.#state = 'idle';
      throw new BusError(
        'STORE_FAILED',
        `startWorkers could not read the paused and limited queues: ${describeError(cause).split('\n', 1)[0]}`,
        {
          cause,
        },
      );
    }
    if (store.capabilities.notify) {
      this.#subscription = await store.listen({
        onWake: (queue) => this.wake(queue),
        onError: (error) =>
          logger.warn('wake-up listener failed; polling until it reconnects', {
            error: describeError(error),
          }),
      });
    }
    // Listed (and its queues known to `pause`) once startWorkers resolves.
    await this.#heartbeat();
    for (const worker of this.#workers.values()) worker.start();
    this.#gauges = new QueueGauges(
      queues.map((q) => q.queueName),
      async () => ({ counts: await store.inspect.countByQueue(), now: await store.now() }),
      GAUGE_INTERVAL_MS,
      (error) => logger.warn('reading queue counts for the gauges failed', { error: describeError(error) }),
    );
    this.#state = 'running';
    this.#every(this.deps.rescueInterval, () => this.#rescue());
    this.#every(PAUSE_POLL_MS, () => this.refreshPauses(), PAUSE_POLL_MS);
    this.#every(WORKER_HEARTBEAT_MS, () => this.#heartbeat(), WORKER_HEARTBEAT_MS);
    if (this.deps.archiveRetention !== null) {
      const retention = this.deps.archiveRetention;
      this.#every(Math.min(retention, 60_000), () => this.#prune(retention));
    }
    this.deps.onStarted?.();
    logger.info('workers started', { workerId, queues: queues.map((q) => q.queueName) });
  }

  /**
   * Wakes the idle claim loop of `queue` (or all) now; publish calls this in-process. With
   * `afterCommit` the rows may not be committed yet, so the queue re-polls for a short while.
   */
  wake(queue?: string, options: { afterCommit?: boolean } = {}): void {
    const workers = queue === undefined ? this.#workers.values() : [this.#workers.get(queue)];
    for (const worker of workers) worker?.wake(options.afterCommit === true);
  }

  /**
   * Reads the stored pauses now and applies them to this process's queues (the watcher does it
   * about every second; `bus.admin.pause`/`resume` call it so their own process follows at once).
   * A failed read is logged and the last known pauses stay.
   */
  async refreshPauses(): Promise<void> {
    if (this.#state !== 'running' && this.#state !== 'starting') return;
    try {
      this.#applyPauses(await retryConflicts(() => this.deps.store.inspect.listPauses()));
      this.#applyLimits(await retryConflicts(() => this.deps.store.inspect.listLimits()));
    } catch (error) {
      this.deps.logger.warn('reading the paused and limited queues failed; keeping the last known ones', {
        error: describeError(error),
      });
    }
  }

  #applyLimits(rows: readonly LimitsRow[]): void {
    const byQueue = new Map(rows.map((r) => [r.queue, r]));
    for (const [name, worker] of this.#workers) worker.applyLimits(byQueue.get(name) ?? null);
  }

  #applyPauses(rows: readonly PauseRow[]): void {
    for (const [name, worker] of this.#workers) {
      let queuePaused = false;
      const handlers = new Set<string>();
      for (const row of rows) {
        if (row.queue !== name) continue;
        if (row.handlerName === null) queuePaused = true;
        else handlers.add(row.handlerName);
      }
      worker.applyPauses(queuePaused, handlers);
    }
  }

  // A heartbeat for `bus.admin.workers()` and the dashboard: never fatal.
  async #heartbeat(): Promise<void> {
    try {
      await retryConflicts(() =>
        this.deps.store.admin.recordWorker({
          workerId: this.deps.workerId,
          queues: [...this.#workers.keys()],
          info: workerInfo(),
        }),
      );
    } catch (error) {
      this.deps.logger.warn('recording the worker heartbeat failed', { error: describeError(error) });
    }
  }

  /** Stops claiming new rows and refuses new publishes; running handlers go on. */
  shutdown(): void {
    this.deps.markShutDown();
    if (this.#state === 'idle') this.#state = 'stopped';
    if (this.#state !== 'running' && this.#state !== 'starting') return;
    this.#state = 'stopping';
    for (const timer of this.#timers) clearTimeout(timer);
    for (const worker of this.#workers.values()) worker.stop();
  }

  /**
   * Waits up to `timeoutMs` for running handlers, then aborts the rest and hands their rows back
   * so another worker takes them at once. Resolves `true` when all finished in time.
   */
  awaitTerminationWithTimeout(timeoutMs: number): Promise<boolean> {
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      return Promise.reject(
        new BusError('INVALID_ARGUMENT', `timeout must be a non-negative number of ms (got ${timeoutMs})`, {
          value: timeoutMs,
        }),
      );
    }
    this.shutdown();
    this.#termination ??= this.#terminate(Date.now() + timeoutMs);
    return this.#termination;
  }

  /** How many handlers are running now, per queue. */
  running(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, worker] of this.#workers) out[name] = worker.runningCount;
    return out;
  }

  async #terminate(deadline: number): Promise<boolean> {
    const results = await Promise.all([...this.#workers.values()].map((w) => w.terminate(deadline)));
    await this.#settler?.idle();
    await this.#subscription?.close().catch(() => undefined);
    this.#gauges?.close();
    if (this.#workers.size > 0) {
      await retryConflicts(() => this.deps.store.admin.removeWorker({ workerId: this.deps.workerId })).catch(
        (error: unknown) =>
          this.deps.logger.warn('removing the worker record failed; it ages out of the list', {
            error: describeError(error),
          }),
      );
    }
    this.#state = 'stopped';
    this.deps.logger.info('workers stopped', { workerId: this.deps.workerId });
    return results.every(Boolean);
  }

  #selectQueues(names: string[] | undefined): readonly ResolvedQueueConfig[] {
    if (names === undefined) return this.deps.queues;
    return names.map((name) => {
      const config = this.deps.queues.find((q) => q.queueName === name);
      if (!config) {
        throw new BusError('QUEUE_NOT_CONFIGURED', `startWorkers: queue ${name} has no configuration`, {
          value: name,
        });
      }
      return config;
    });
  }

  // A timer that re-arms itself after each run, so a slow run never overlaps the next.
  #every(intervalMs: number, run: () => Promise<void>, firstDelay = 0): void {
    const arm = (delay: number) => {
      const timer = setTimeout(async () => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        await run();
        if (this.#state === 'running') arm(intervalMs * (0.9 + Math.random() * 0.2));
      }, delay);
      this.#timers.push(timer);
    };
    arm(firstDelay);
  }

  async #rescue(): Promise<void> {
    try {
      const { retried, failed } = await this.#rescuer!.run(() => this.#state === 'running');
      const rescued = retried + failed;
      if (rescued > 0) {
        this.deps.logger.warn('rescued rows whose lease expired', { retried, failed });
        if (retried > 0) this.wake();
        try {
          this.deps.telemetry.rescued?.(rescued);
        } catch (error) {
          this.deps.logger.warn('telemetry hook threw', { error: describeError(error) });
        }
      }
    } catch (error) {
      this.deps.logger.warn('rescue failed', { error: describeError(error) });
    }
  }

  async #prune(retention: number): Promise<void> {
    try {
      const prune = () => this.deps.store.prune({ olderThanMs: retention, limit: PRUNE_LIMIT });
      while ((await retryConflicts(prune)) === PRUNE_LIMIT) {
        if (this.#state !== 'running') break;
      }
    } catch (error) {
      this.deps.logger.warn('prune failed', { error: describeError(error) });
    }
  }
}

/** Host name and pid, as the worker list shows them (no node: import: bus-core runs anywhere). */
function workerInfo(): string {
  const proc = (
    globalThis as {
      process?: {
        pid?: number;
        env?: Record<string, string | undefined>;
        getBuiltinModule?: (name: string) => { hostname?: () => string } | undefined;
      };
    }
  ).process;
  let host: string | undefined;
  try {
    host = proc?.getBuiltinModule?.('node:os')?.hostname?.();
  } catch {
    host = undefined;
  }
  host ??= proc?.env?.HOSTNAME ?? proc?.env?.COMPUTERNAME ?? 'unknown host';
  return `host ${host} pid ${proc?.pid ?? 'unknown'}`.slice(0, CONTRACT_LIMITS.maxNameLength);
}
