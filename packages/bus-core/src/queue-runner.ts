import { decodePayload } from './codec.js';
import { BusError, describeError } from './errors.js';
import type { EventHandler, HandlerContext } from './handler.js';
import type { Logger } from './logger.js';
import { completedOutcome, exhaustedByCrashes, failureOutcome } from './outcome.js';
import type { ResolvedQueueConfig } from './queue-config.js';
import type { RegisteredHandler, Registry } from './registry.js';
import type { Settler } from './settler.js';
import type { ClaimedEvent, QueueStore, SettleOutcome } from './store.js';
import type { SettledInfo, Telemetry } from './telemetry.js';

const EXPECT_COMMIT_MS = 2000;

/** What a queue runner needs from the bus. */
export interface QueueRunnerDeps {
  store: QueueStore<unknown>;
  registry: Registry;
  instances: ReadonlyMap<string, EventHandler<unknown>>;
  settler: Settler;
  logger: Logger;
  telemetry: Telemetry;
  workerId: string;
}

interface Running {
  row: ClaimedEvent;
  /** Made on the first read of `ctx.signal`: most handlers never read it, and it is costly. */
  controller: AbortController | undefined;
  /** Why the run was aborted (timeout, shutdown, lease lost); `undefined` while it is not. */
  reason: unknown;
  /** Ends the pending `#invoke` of this row with the abort reason. */
  onAbort: ((reason: unknown) => void) | undefined;
  /** Handed back on shutdown or lease lost: its outcome must not be written. */
  detached: boolean;
  startedAt: number;
}

function abortRun(entry: Running, reason: unknown): void {
  if (entry.reason !== undefined) return;
  entry.reason = reason;
  entry.controller?.abort(reason);
  entry.onAbort?.(reason);
}

function signalOf(entry: Running): AbortSignal {
  if (entry.controller === undefined) {
    entry.controller = new AbortController();
    if (entry.reason !== undefined) entry.controller.abort(entry.reason);
  }
  return entry.controller.signal;
}

/** The handler's context; `signal` is built on first use. */
class RunContext implements HandlerContext<unknown> {
  readonly attempt: number;
  readonly id: string;
  readonly eventName: string;
  readonly handlerName: string;
  readonly queue: string;
  readonly maxRetries: number;
  readonly createdAt: Date;
  tx: unknown = undefined;
  readonly #entry: Running;

  constructor(entry: Running) {
    const row = entry.row;
    this.#entry = entry;
    this.attempt = row.attempts;
    this.id = row.id;
    this.eventName = row.eventName;
    this.handlerName = row.handlerName;
    this.queue = row.queue;
    this.maxRetries = row.maxRetries;
    this.createdAt = row.createdAt;
  }

  get signal(): AbortSignal {
    return signalOf(this.#entry);
  }
}

/**
 * Runs one queue in this process: claims batches while it has free worker slots, runs each row
 * with a timeout and an AbortSignal, hands outcomes to the settler, and heartbeats leases.
 */
export class QueueRunner {
  readonly #running = new Map<string, Running>();
  #stopping = false;
  #woken = false;
  #expectUntil = 0;
  #expectDelay = 2;
  #nudge: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly config: ResolvedQueueConfig,
    private readonly deps: QueueRunnerDeps,
  ) {}

  /** Starts the claim loop and the heartbeat. */
  start(): void {
    this.#loop = this.#claimLoop();
    this.#heartbeat = setInterval(() => void this.#extendLeases(), Math.floor(this.config.leaseDuration / 3));
  }

  /**
   * Ends the current idle sleep: rows may have arrived. `afterCommit` means they may become
   * visible only a little later (a transaction not yet committed): poll again soon for a second.
   */
  wake(afterCommit = false): void {
    if (afterCommit) {
      this.#expectUntil = Date.now() + EXPECT_COMMIT_MS;
      this.#expectDelay = 2;
    }
    this.#woken = true;
    this.#nudge?.();
  }

  /** Stops claiming; running handlers go on. */
  stop(): void {
    this.#stopping = true;
    this.wake();
  }

  /** Rows running now. */
  get runningCount(): number {
    return this.#running.size;
  }

  /**
   * Waits for running handlers until `deadline` (epoch ms), then aborts the rest and hands their
   * rows back. Resolves `true` when every handler finished in time.
   */
  async terminate(deadline: number): Promise<boolean> {
    this.stop();
    // A claim stuck on a dead connection must not hold shutdown past its deadline.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#loop,
      new Promise((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer);
    while (this.#running.size > 0 && Date.now() < deadline) {
      await this.#sleep(Math.max(1, deadline - Date.now()));
    }
    clearInterval(this.#heartbeat);
    const left = [...this.#running.values()];
    if (left.length === 0) return true;
    for (const entry of left) {
      entry.detached = true;
      abortRun(
        entry,
        new BusError('HANDLER_ABORTED', 'the worker is shutting down', { value: entry.row.id }),
      );
    }
    try {
      const released = new Set(
        await this.deps.store.release({
          workerId: this.deps.workerId,
          events: left.map((e) => ({ id: e.row.id, attempt: e.row.attempts })),
        }),
      );
      for (const entry of left) this.#report(entry, 'released', released.has(entry.row.id));
    } catch (error) {
      this.deps.logger.error(
        'could not hand rows back at shutdown; they run again after their lease expires',
        {
          queue: this.config.queueName,
          error: describeError(error),
        },
      );
    }
    return false;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === Number.POSITIVE_INFINITY ? undefined : setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        if (self.#nudge === done) self.#nudge = undefined;
        resolve();
      }
      const previous = this.#nudge;
      this.#nudge = () => {
        previous?.();
        done();
      };
    });
  }

  // Sleep after a short claim: the queue's interval, unless a commit is expected soon, then a
  // short doubling delay so a transactional publish is picked up within milliseconds.
  #idleDelay(claimed: number): number {
    const { sleepInterval } = this.config;
    if (claimed > 0 || Date.now() >= this.#expectUntil) return sleepInterval;
    const delay = Math.min(this.#expectDelay, sleepInterval);
    this.#expectDelay = Math.min(this.#expectDelay * 2, 250);
    return delay;
  }

  async #claimLoop(): Promise<void> {
    const { store, workerId, logger } = this.deps;
    const { queueName, workers, batchSize, leaseDuration } = this.config;
    let failures = 0;
    while (!this.#stopping) {
      const free = workers - this.#running.size;
      if (free <= 0) {
        await this.#sleep(Number.POSITIVE_INFINITY);
        continue;
      }
      // Backpressure: claim no further ahead than the settler keeps up, so leases do not
      // run out on rows waiting to be settled.
      if (this.deps.settler.pending > workers + batchSize) {
        await this.deps.settler.progress();
        continue;
      }
      const limit = Math.min(batchSize, free);
      this.#woken = false;
      let rows: ClaimedEvent[];
      try {
        rows = await store.claim({ queue: queueName, limit, workerId, leaseMs: leaseDuration });
        failures = 0;
      } catch (error) {
        failures++;
        logger.error('claim failed; retrying', { queue: queueName, error: describeError(error), failures });
        await this.#sleep(Math.min(100 * 2 ** failures, 30_000));
        continue;
      }
      if (this.#stopping && rows.length > 0) {
        await store
          .release({ workerId, events: rows.map((r) => ({ id: r.id, attempt: r.attempts })) })
          .catch((error: unknown) =>
            logger.warn('release after stop failed', { error: describeError(error) }),
          );
        break;
      }
      for (const row of rows) this.#start(row);
      if (rows.length < limit && !this.#woken) await this.#sleep(this.#idleDelay(rows.length));
    }
  }

  #start(row: ClaimedEvent): void {
    const entry: Running = {
      row,
      controller: undefined,
      reason: undefined,
      onAbort: undefined,
      detached: false,
      startedAt: Date.now(),
    };
    this.#running.set(row.id, entry);
    const done = (): void => {
      this.#running.delete(row.id);
      this.#nudge?.();
    };
    this.#execute(entry).then(done, (error: unknown) => {
      this.deps.logger.error('unexpected error while running a row', {
        id: row.id,
        error: describeError(error),
      });
      done();
    });
  }

  async #execute(entry: Running): Promise<void> {
    const { row } = entry;
    const { registry, instances } = this.deps;
    const exhausted = exhaustedByCrashes(row);
    if (exhausted)
      return this.#settle(entry, this.#failure(row, exhausted, registry.handler(row.handlerName)));

    const handler = registry.handler(row.handlerName);
    const instance = instances.get(row.handlerName);
    if (handler === undefined || instance === undefined) {
      const error = new BusError(
        'UNKNOWN_HANDLER',
        `no handler named ${row.handlerName} is registered in this worker for queue ${row.queue}`,
        { value: row.handlerName },
      );
      return this.#settle(entry, this.#failure(row, error, undefined));
    }
    if (handler.event.name !== row.eventName) {
      const error = new BusError(
        'UNKNOWN_EVENT',
        `row ${row.id} has event ${row.eventName} but handler ${handler.name} handles ${handler.event.name}`,
        { value: row.eventName },
      );
      return this.#settle(entry, this.#failure(row, error, handler));
    }
    let payload: unknown;
    try {
      payload = decodePayload(row.payload);
    } catch (error) {
      return this.#settle(entry, this.#failure(row, error, handler));
    }

    const ctx = new RunContext(entry);
    try {
      if (handler.settings.transactional) {
        await this.#runTransactional(entry, handler, instance, payload, ctx);
        this.#report(entry, 'completed', true);
        return;
      }
      await this.#invoke(entry, handler, instance, payload, ctx);
    } catch (error) {
      return this.#settle(entry, this.#failure(row, error, handler));
    }
    return this.#settle(entry, completedOutcome(row, this.config.archivePolicy));
  }

  // The handler's writes and the completion commit together: if the fence fails, the
  // transaction rolls back and so do the handler's writes.
  async #runTransactional(
    entry: Running,
    handler: RegisteredHandler,
    instance: EventHandler<unknown>,
    payload: unknown,
    ctx: RunContext,
  ): Promise<void> {
    const { store, workerId } = this.deps;
    await store.transaction(async (tx) => {
      ctx.tx = tx;
      await this.#invoke(entry, handler, instance, payload, ctx);
      const { settled } = await store.settle({
        workerId,
        tx,
        outcomes: [completedOutcome(entry.row, this.config.archivePolicy)],
      });
      if (!settled.includes(entry.row.id)) {
        throw new BusError('LEASE_LOST', `row ${entry.row.id} is no longer leased to this worker`, {
          value: entry.row.id,
        });
      }
    });
  }

  #invoke(
    entry: Running,
    handler: RegisteredHandler,
    instance: EventHandler<unknown>,
    payload: unknown,
    ctx: HandlerContext<unknown>,
  ): Promise<void> {
    const timeoutMs = handler.settings.executionTimeout;
    return new Promise<void>((resolve, reject) => {
      let finished = false;
      const finish = (error?: unknown): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        entry.onAbort = undefined;
        if (error === undefined) resolve();
        else reject(error);
      };
      if (entry.reason !== undefined) {
        reject(entry.reason);
        return;
      }
      entry.onAbort = finish;
      const timer = setTimeout(() => {
        abortRun(
          entry,
          new BusError(
            'HANDLER_TIMEOUT',
            `handler ${handler.name} ran longer than its ${timeoutMs} ms executionTimeout`,
            {
              value: timeoutMs,
            },
          ),
        );
      }, timeoutMs);
      let result: unknown;
      try {
        result = instance.handle(payload, ctx);
      } catch (error) {
        finish(asError(error, handler.name));
        return;
      }
      Promise.resolve(result).then(
        () => finish(),
        (error: unknown) => finish(asError(error, handler.name)),
      );
    });
  }

  #failure(row: ClaimedEvent, error: unknown, handler: RegisteredHandler | undefined): SettleOutcome {
    return failureOutcome(row, error, this.config.archivePolicy, handler, (bad) =>
      this.deps.logger.error(
        'calculateScheduledAt returned or threw a bad value; using the default backoff',
        {
          handler: row.handlerName,
          value: describeError(bad),
        },
      ),
    );
  }

  async #settle(entry: Running, outcome: SettleOutcome): Promise<void> {
    if (entry.detached) return;
    if (outcome.kind !== 'completed') {
      this.deps.logger.warn(outcome.kind === 'retry' ? 'attempt failed; will retry' : 'row failed for good', {
        id: outcome.id,
        handler: entry.row.handlerName,
        attempt: outcome.attempt,
        error: outcome.error.split('\n', 1)[0],
      });
    }
    // Not awaited: the worker slot frees as soon as the handler is done; the write is batched.
    const written = this.deps.settler.add(outcome);
    if (this.deps.telemetry.settled) {
      const ended = Date.now();
      const error = outcome.kind === 'completed' ? undefined : outcome.error;
      void written.then((applied) => this.#report(entry, outcome.kind, applied, ended, error));
    }
  }

  #report(
    entry: Running,
    outcome: SettledInfo['outcome'],
    applied: boolean,
    ended = Date.now(),
    error?: string,
  ): void {
    const settled = this.deps.telemetry.settled;
    if (!settled) return;
    const { row } = entry;
    try {
      settled({
        id: row.id,
        queue: row.queue,
        eventName: row.eventName,
        handlerName: row.handlerName,
        attempt: row.attempts,
        outcome,
        applied,
        durationMs: ended - entry.startedAt,
        ...(error === undefined ? {} : { error }),
      });
    } catch (hookError) {
      this.deps.logger.warn('telemetry hook threw', { error: describeError(hookError) });
    }
  }

  async #extendLeases(): Promise<void> {
    const held = [...this.#running.values()].filter((e) => !e.detached);
    if (held.length === 0) return;
    try {
      const kept = new Set(
        await this.deps.store.extendLeases({
          workerId: this.deps.workerId,
          events: held.map((e) => ({ id: e.row.id, attempt: e.row.attempts })),
          leaseMs: this.config.leaseDuration,
        }),
      );
      for (const entry of held) {
        if (kept.has(entry.row.id) || this.#running.get(entry.row.id) !== entry) continue;
        entry.detached = true;
        abortRun(
          entry,
          new BusError('LEASE_LOST', `row ${entry.row.id} lost its lease; another worker may run it`, {
            value: entry.row.id,
          }),
        );
      }
    } catch (error) {
      this.deps.logger.warn('heartbeat failed', {
        queue: this.config.queueName,
        error: describeError(error),
      });
    }
  }
}

function asError(error: unknown, handlerName: string): unknown {
  if (error instanceof Error) return error;
  return new BusError(
    'HANDLER_FAILED',
    `handler ${handlerName} threw a non-Error value: ${describeError(error)}`,
    {
      value: error,
    },
  );
}
