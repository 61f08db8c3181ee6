import { type AttemptResult, runAttempt } from './attempt.js';
import { ClaimLoop } from './claim-loop.js';
import type { ClaimedEvent } from './contract/claim.js';
import type { StoredLimits } from './contract/flow.js';
import { CONTRACT_LIMITS } from './contract/limits.js';
import type { SettleOutcome } from './contract/settle.js';
import type { QueueStore } from './contract/store.js';
import { BusError, describeError } from './errors.js';
import { limitsSignature } from './flow/limits.js';
import type { EventHandler } from './handler.js';
import { abortRun, type HeldRow, heldRow } from './held-row.js';
import { LeaseKeeper } from './lease-keeper.js';
import type { Logger } from './logger.js';
import { recordEnded, recordStarted } from './otel/metrics.js';
import { fail, processSpan } from './otel/spans.js';
import { PrefetchTarget, rowsAheadWithin } from './prefetch.js';
import type { ResolvedQueueConfig } from './queue-config.js';
import type { Registry } from './registry.js';
import type { Settler } from './settler.js';
import { inBatches, retryConflicts } from './store-retry.js';
import type { SettledInfo, Telemetry } from './telemetry.js';

/** Retries a queue keeps wake-up times for; beyond them, the poll finds the rest. */
const MAX_RETRY_WAKES = 10_000;
const RETRY_WAKE_MARGIN_MS = 5;

/** What a queue worker needs from the bus. */
export interface QueueWorkerDeps {
  store: QueueStore<unknown>;
  registry: Registry;
  instances: ReadonlyMap<string, EventHandler<unknown>>;
  settler: Settler;
  logger: Logger;
  telemetry: Telemetry;
  workerId: string;
}

/**
 * Runs one queue in this process. A row goes one way: the claim loop leases a batch, the rows wait
 * in a small buffer, a free handler slot takes the next one, the attempt runs it and decides its
 * outcome, and the settler writes it. The lease keeper heartbeats every row held, buffered or
 * running, so buffered rows keep their lease and a lost one is dropped.
 */
export class QueueWorker {
  /** Claimed rows waiting for a slot, in claim order; `#head` is the next one. */
  #buffer: HeldRow[] = [];
  #head = 0;
  readonly #running = new Set<HeldRow>();
  readonly #claims: ClaimLoop;
  readonly #leases: LeaseKeeper;
  readonly #prefetch: PrefetchTarget;
  #loop: Promise<void> | undefined;
  #handingBack: Promise<void> = Promise.resolve();
  #stopped = false;
  #idle: (() => void) | undefined;
  /** Local times (ms, ascending) when this process's retries become due before the next poll. */
  #retriesDue: number[] = [];
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** The handlers of this queue that this process runs, in registration order. */
  readonly #handlerNames: readonly string[];
  /** `#handlerNames` minus the paused ones: what the claim asks for (empty: no claim). */
  #claimable: readonly string[];
  /** The queue's stored flow-control limits (`null`: none): claims go through them. */
  #limits: StoredLimits | null;
  /** Rows whose handlers ended and whose outcomes the settler has not written yet. */
  readonly #settling = new Set<string>();

  constructor(
    readonly config: ResolvedQueueConfig,
    private readonly deps: QueueWorkerDeps,
  ) {
    this.#handlerNames = deps.registry
      .handlers()
      .filter((h) => h.settings.queueName === config.queueName && deps.instances.has(h.name))
      .map((h) => h.name);
    this.#claimable = this.#handlerNames;
    this.#limits = config.limits;
    this.#prefetch = new PrefetchTarget(config.prefetch, config.workers, config.batchSize);
    this.#claims = new ClaimLoop({
      store: deps.store,
      workerId: deps.workerId,
      config,
      logger: deps.logger,
      settler: deps.settler,
      room: () => this.#room(),
      handlers: () => this.#claimable,
      limited: () => this.#limits !== null,
      // A limited claim does not count these as running: their handlers have ended.
      finished: () => [...this.#settling].slice(0, CONTRACT_LIMITS.maxIds),
      accept: (rows, leaseUntil) => this.#accept(rows, leaseUntil),
    });
    this.#leases = new LeaseKeeper({
      store: deps.store,
      workerId: deps.workerId,
      queueName: config.queueName,
      leaseMs: config.leaseDuration,
      logger: deps.logger,
      held: () => this.#held(),
      running: () => this.#running.size,
      lost: (held) => this.#lost(held),
    });
  }

  /** Starts the claim loop and the heartbeat. */
  start(): void {
    this.#loop = this.#claims.run();
    this.#leases.start();
  }

  /** Ends the claim loop's idle sleep: rows may have arrived (see `ClaimLoop.wake`). */
  wake(afterCommit = false): void {
    this.#claims.wake(afterCommit);
  }

  /** Stops claiming and hands buffered rows back at once; running handlers go on. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#claims.stop();
    this.#handBack(this.#takeBuffer(), 'buffered rows at shutdown');
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
    await this.#until(deadline, this.#loop);
    await this.#until(deadline, this.#handingBack);
    while (this.#running.size > 0 && Date.now() < deadline) {
      await this.#until(
        deadline,
        new Promise<void>((resolve) => {
          this.#idle = resolve;
        }),
      );
    }
    this.#leases.stop();
    const left = [...this.#running];
    if (left.length === 0) return true;
    for (const held of left) {
      held.detached = true;
      abortRun(held, new BusError('HANDLER_ABORTED', 'the worker is shutting down', { value: held.row.id }));
    }
    try {
      const released = new Set(await this.#release(left));
      for (const held of left) this.#report(held, 'released', released.has(held.row.id));
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

  async #until(deadline: number, work: Promise<unknown> | undefined): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      work,
      new Promise((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer);
  }

  *#held(): Iterable<HeldRow> {
    for (let i = this.#head; i < this.#buffer.length; i++) yield this.#buffer[i]!;
    yield* this.#running;
  }

  // How many rows the claim loop may take now. Rows held in all: the slots plus the prefetch
  // target. With rows still buffered it waits until a batch (or half the room) is free, so a
  // fast queue makes full claims instead of one small claim per finished row.
  #room(): number {
    const { workers, batchSize } = this.config;
    const capacity = workers + rowsAheadWithin(this.#limits, this.#prefetch.rows, workers);
    const buffered = this.#buffer.length - this.#head;
    const free = capacity - buffered - this.#running.size;
    if (free <= 0) return 0;
    if (buffered === 0) return free;
    return free >= Math.min(batchSize, Math.ceil(capacity / 2)) ? free : 0;
  }

  #accept(rows: ClaimedEvent[], leaseUntil: number): void {
    // A claim that was in flight when a pause arrived: its rows of paused handlers go back.
    const paused: HeldRow[] = [];
    const partial = this.#claimable.length !== this.#handlerNames.length;
    for (const row of rows) {
      const held = heldRow(row, leaseUntil);
      if (partial && !this.#claimable.includes(row.handlerName)) paused.push(held);
      else this.#buffer.push(held);
    }
    if (paused.length > 0) this.#handBack(paused, 'rows of a paused queue or handler');
    this.#fill();
  }

  /**
   * Applies the pauses stored for this queue: a paused queue claims nothing, a paused handler's
   * rows are not claimed, and rows of either that wait in the buffer go back at once (running
   * ones finish). On resume the claim loop wakes. Returns whether anything changed.
   */
  applyPauses(queuePaused: boolean, pausedHandlers: ReadonlySet<string>): boolean {
    const claimable = queuePaused ? [] : this.#handlerNames.filter((h) => !pausedHandlers.has(h));
    const before = this.#claimable;
    if (claimable.length === before.length && claimable.every((h, i) => h === before[i])) return false;
    this.#claimable = claimable;
    const allowed = new Set(claimable);
    const drop = this.#buffer.slice(this.#head).filter((h) => !h.detached && !allowed.has(h.row.handlerName));
    if (drop.length > 0) {
      const dropped = new Set(drop);
      this.#buffer = this.#buffer.slice(this.#head).filter((h) => !dropped.has(h));
      this.#head = 0;
      this.#handBack(drop, 'buffered rows of a paused queue or handler');
    }
    const { queueName } = this.config;
    if (claimable.length === 0) this.deps.logger.info('queue paused: not claiming', { queue: queueName });
    else if (claimable.length < this.#handlerNames.length) {
      this.deps.logger.info('handlers paused: not claiming their rows', {
        queue: queueName,
        paused: this.#handlerNames.filter((h) => !allowed.has(h)),
      });
    } else this.deps.logger.info('queue resumed', { queue: queueName });
    if (claimable.some((h) => !before.includes(h))) this.#claims.wake();
    return true;
  }

  /**
   * Follows the queue's stored limits (the controller reads them about every second). Returns
   * whether they changed.
   */
  applyLimits(limits: StoredLimits | null): boolean {
    const before = this.#limits;
    const same =
      limits === null || before === null
        ? limits === before
        : limitsSignature(limits) === limitsSignature(before);
    if (same) return false;
    this.#limits = limits;
    if ((before === null) !== (limits === null)) {
      this.deps.logger.info(
        limits !== null ? 'queue limits found: claiming within them' : 'queue limits removed',
        {
          queue: this.config.queueName,
        },
      );
    }
    this.#claims.wake();
    return true;
  }

  /** The handler names this process claims rows of (registered here, not paused). */
  get claimableHandlers(): readonly string[] {
    return this.#claimable;
  }

  /** Hands buffered rows to free slots; a row whose lease is about to end goes back instead. */
  #fill(): void {
    const { workers, leaseDuration } = this.config;
    // Made only when a row is late: this runs once per finished row.
    let late: HeldRow[] | undefined;
    while (this.#running.size < workers && this.#head < this.#buffer.length) {
      const held = this.#buffer[this.#head++]!;
      if (held.detached) continue;
      // Less than a heartbeat left: the heartbeats are failing, and a run now could outlast the
      // lease and overlap another worker's run of the same row.
      if (held.leaseUntil - Date.now() < leaseDuration / 3) {
        if (late === undefined) late = [];
        late.push(held);
        continue;
      }
      this.#start(held);
    }
    if (this.#head === this.#buffer.length) {
      this.#buffer = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
      this.#buffer = this.#buffer.slice(this.#head);
      this.#head = 0;
    }
    if (late !== undefined) this.#handBack(late, 'buffered rows whose lease was about to expire');
  }

  // A buffered row whose lease another worker took leaves the buffer now, not when a slot frees.
  #lost(held: HeldRow): void {
    if (held.startedAt === undefined) {
      this.#buffer = this.#buffer.slice(this.#head).filter((h) => h !== held);
      this.#head = 0;
    }
    this.#claims.nudge();
  }

  #takeBuffer(): HeldRow[] {
    const rows = this.#buffer.slice(this.#head).filter((h) => !h.detached);
    this.#buffer = [];
    this.#head = 0;
    for (const h of rows) h.detached = true;
    return rows;
  }

  #handBack(rows: HeldRow[], what: string): void {
    if (rows.length === 0) return;
    for (const h of rows) h.detached = true;
    const done = this.#release(rows).then(
      () => undefined,
      (error: unknown) =>
        this.deps.logger.warn(`could not hand back ${what}; they run again after their lease expires`, {
          queue: this.config.queueName,
          rows: rows.length,
          error: describeError(error),
        }),
    );
    this.#handingBack = Promise.all([this.#handingBack, done]).then(() => undefined);
    this.#claims.nudge();
  }

  async #release(rows: HeldRow[]): Promise<string[]> {
    const released: string[] = [];
    for (const batch of inBatches(rows, CONTRACT_LIMITS.maxBatch)) {
      const ids = await retryConflicts(() =>
        this.deps.store.release({
          workerId: this.deps.workerId,
          events: batch.map((h) => ({ id: h.row.id, attempt: h.row.attempts })),
        }),
      );
      released.push(...ids);
    }
    return released;
  }

  #start(held: HeldRow): void {
    held.startedAt = Date.now();
    this.#running.add(held);
    const { row } = held;
    recordStarted(row, {
      claimToStartMs: held.startedAt - held.claimedAt,
      publishToStartMs: held.startedAt - row.createdAt.getTime(),
    });
    processSpan(row, async (span) => {
      const result = await runAttempt(held, {
        registry: this.deps.registry,
        instances: this.deps.instances,
        settler: this.deps.settler,
        logger: this.deps.logger,
        archivePolicy: this.config.archivePolicy,
      });
      const outcome = result.kind === 'outcome' ? result.outcome.kind : 'completed';
      span.setAttribute('bus.outcome', outcome);
      // A snooze or a cancel is the handler's decision, not an error of the run.
      if (
        result.kind === 'outcome' &&
        (result.outcome.kind === 'retry' || result.outcome.kind === 'failed')
      ) {
        fail(span, result.error ?? result.outcome.error.split('\n', 1)[0]);
      }
      recordEnded(row, outcome, Date.now() - held.startedAt!);
      // Inside the span, so the lines it logs (a failed attempt) carry its trace and span ids.
      this.#finish(held, result);
      span.end();
    }).catch((error: unknown) => {
      this.deps.logger.error('unexpected error while running a row', {
        id: held.row.id,
        error: describeError(error),
      });
      this.#free(held);
    });
  }

  #finish(held: HeldRow, result: AttemptResult): void {
    this.#prefetch.observe(Date.now() - held.startedAt!);
    this.#free(held);
    if (held.detached) return;
    if (result.kind === 'completed-in-transaction') this.#report(held, 'completed', true);
    else this.#settle(held, result.outcome);
  }

  #free(held: HeldRow): void {
    this.#running.delete(held);
    if (!this.#stopped) this.#fill();
    // Wake the claim loop only when it has room to claim: not once per finished row.
    if (this.#room() > 0) this.#claims.nudge();
    if (this.#running.size === 0) this.#idle?.();
  }

  #settle(held: HeldRow, outcome: SettleOutcome): void {
    if (outcome.kind === 'retry' || outcome.kind === 'failed') {
      this.deps.logger.warn(outcome.kind === 'retry' ? 'attempt failed; will retry' : 'row failed for good', {
        id: outcome.id,
        handler: held.row.handlerName,
        attempt: outcome.attempt,
        error: outcome.error.split('\n', 1)[0],
      });
    } else if (outcome.kind === 'cancelled') {
      this.deps.logger.info('row cancelled by its handler', {
        id: outcome.id,
        handler: held.row.handlerName,
        attempt: outcome.attempt,
        reason: outcome.error.split('\n', 1)[0],
      });
    } else if (outcome.kind === 'snooze') {
      this.deps.logger.debug('row snoozed', {
        id: outcome.id,
        handler: held.row.handlerName,
        delayMs: outcome.delayMs,
        snoozes: held.row.snoozes + 1,
      });
    }
    // Not awaited: the slot is already free; the write is batched.
    const written = this.deps.settler.add(outcome);
    this.#settling.add(outcome.id);
    const settled = (): void => {
      this.#settling.delete(outcome.id);
    };
    void written.then(settled, settled);
    // Nothing announces a retry when it becomes due: wake the claim loop then, rather than let a
    // 2 s backoff wait out a 60 s poll.
    if (
      (outcome.kind === 'retry' || outcome.kind === 'snooze') &&
      outcome.delayMs < this.config.sleepInterval
    ) {
      const delay = outcome.delayMs;
      void written.then((applied) => {
        if (applied) this.#wakeAt(Date.now() + delay);
      });
    }
    if (this.deps.telemetry.settled) {
      const ended = Date.now();
      const error = outcome.kind === 'completed' || outcome.kind === 'snooze' ? undefined : outcome.error;
      void written.then((applied) => this.#report(held, outcome.kind, applied, ended, error));
    }
  }

  // One timer for the earliest due retry; when it fires, the next one is armed.
  #wakeAt(at: number): void {
    if (this.#stopped || this.#retriesDue.length >= MAX_RETRY_WAKES) return;
    let i = this.#retriesDue.length;
    while (i > 0 && this.#retriesDue[i - 1]! > at) i--;
    this.#retriesDue.splice(i, 0, at);
    if (i === 0) this.#armRetryTimer();
  }

  #armRetryTimer(): void {
    clearTimeout(this.#retryTimer);
    const next = this.#retriesDue[0];
    if (next === undefined || this.#stopped) return;
    // A few ms late, so the row is due by the database's clock too when the claim asks.
    this.#retryTimer = setTimeout(
      () => {
        const now = Date.now();
        while (this.#retriesDue.length > 0 && this.#retriesDue[0]! <= now) this.#retriesDue.shift();
        this.#claims.wake();
        this.#armRetryTimer();
      },
      Math.max(0, next - Date.now()) + RETRY_WAKE_MARGIN_MS,
    );
  }

  #report(
    held: HeldRow,
    outcome: SettledInfo['outcome'],
    applied: boolean,
    ended = Date.now(),
    error?: string,
  ): void {
    const settled = this.deps.telemetry.settled;
    if (!settled) return;
    const { row } = held;
    try {
      settled({
        id: row.id,
        queue: row.queue,
        eventName: row.eventName,
        handlerName: row.handlerName,
        attempt: row.attempts,
        outcome,
        applied,
        durationMs: ended - (held.startedAt ?? ended),
        ...(error === undefined ? {} : { error }),
      });
    } catch (hookError) {
      this.deps.logger.warn('telemetry hook threw', { error: describeError(hookError) });
    }
  }
}
