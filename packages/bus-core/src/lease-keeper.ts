import { CONTRACT_LIMITS } from './contract/limits.js';
import type { QueueStore } from './contract/store.js';
import { BusError, describeError } from './errors.js';
import { abortRun, type HeldRow } from './held-row.js';
import type { Logger } from './logger.js';
import { inBatches, retryConflicts } from './store-retry.js';

/** How often a queue with running rows asks whether they are still its own (cancel detection). */
export const CANCEL_CHECK_MS = 1000;

/** What the lease keeper of one queue needs. */
export interface LeaseKeeperDeps {
  store: QueueStore<unknown>;
  workerId: string;
  queueName: string;
  leaseMs: number;
  logger: Logger;
  /** Every row the queue holds now: buffered and running. */
  held(): Iterable<HeldRow>;
  /** Rows running now: the cancel check runs only while there are some. */
  running(): number;
  /** A row whose lease was found taken: drop it from the buffer, or let its run end unwritten. */
  lost(held: HeldRow): void;
}

/**
 * Keeps the leases of a queue's rows alive (buffered and running alike) by extending them every
 * third of the lease, so an expired lease means a dead process, not a slow handler. A row whose
 * lease another worker took is detached and its run aborted with `LEASE_LOST`. While rows run,
 * it also checks every second (`checkLeases`, a read) whether they are still held, so that a row
 * an operator cancelled has its run aborted with `CANCELLED` within about a second.
 */
export class LeaseKeeper {
  #timer: ReturnType<typeof setInterval> | undefined;
  #checkTimer: ReturnType<typeof setInterval> | undefined;
  #checking = false;

  constructor(private readonly deps: LeaseKeeperDeps) {}

  /** Starts the heartbeat and the cancel check. */
  start(): void {
    this.#timer = setInterval(() => void this.extend(), Math.floor(this.deps.leaseMs / 3));
    this.#checkTimer = setInterval(() => void this.check(), CANCEL_CHECK_MS);
  }

  /** Stops the heartbeat and the cancel check. */
  stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#checkTimer);
  }

  /** One heartbeat: extends every held row's lease, and detaches those another worker took. */
  async extend(): Promise<void> {
    const held = [...this.deps.held()].filter((h) => !h.detached);
    if (held.length === 0) return;
    const sentAt = Date.now();
    try {
      const kept = new Set<string>();
      for (const batch of inBatches(held, CONTRACT_LIMITS.maxBatch)) {
        const ids = await retryConflicts(() =>
          this.deps.store.extendLeases({
            workerId: this.deps.workerId,
            events: batch.map((h) => ({ id: h.row.id, attempt: h.row.attempts })),
            leaseMs: this.deps.leaseMs,
          }),
        );
        for (const id of ids) kept.add(id);
      }
      const gone: HeldRow[] = [];
      for (const h of held) {
        if (h.detached) continue;
        if (kept.has(h.row.id)) h.leaseUntil = sentAt + this.deps.leaseMs;
        else gone.push(h);
      }
      await this.#drop(gone);
    } catch (error) {
      this.deps.logger.warn('heartbeat failed', { queue: this.deps.queueName, error: describeError(error) });
    }
  }

  /**
   * One cancel check: reads which held rows still pass the fence (nothing is written), and
   * detaches the others. Skipped while no row runs, and while the previous check is in flight.
   */
  async check(): Promise<void> {
    if (this.#checking || this.deps.running() === 0) return;
    const held = [...this.deps.held()].filter((h) => !h.detached);
    if (held.length === 0) return;
    this.#checking = true;
    try {
      const kept = new Set<string>();
      for (const batch of inBatches(held, CONTRACT_LIMITS.maxBatch)) {
        const ids = await retryConflicts(() =>
          this.deps.store.checkLeases({
            workerId: this.deps.workerId,
            events: batch.map((h) => ({ id: h.row.id, attempt: h.row.attempts })),
          }),
        );
        for (const id of ids) kept.add(id);
      }
      // A row that finished while the check was in flight has left the held set: not lost.
      const still = new Set(this.deps.held());
      await this.#drop(held.filter((h) => !h.detached && still.has(h) && !kept.has(h.row.id)));
    } catch (error) {
      this.deps.logger.warn('cancel check failed', {
        queue: this.deps.queueName,
        error: describeError(error),
      });
    } finally {
      this.#checking = false;
    }
  }

  // Rows no longer held. While this worker's lease is unexpired nobody can rescue the row, so one
  // that left the hot table was cancelled; after it expired (a stalled or frozen process), the
  // row was rescued and may have finished elsewhere: its lease was lost, whatever came after.
  async #drop(gone: HeldRow[]): Promise<void> {
    if (gone.length === 0) return;
    const now = Date.now();
    for (const h of gone) h.detached = true;
    const live = await this.#stillLive(gone);
    for (const h of gone) {
      const { id } = h.row;
      const reason =
        live !== undefined && !live.has(id) && h.leaseUntil > now
          ? new BusError('CANCELLED', `row ${id} was cancelled while it ran`, { value: id })
          : new BusError('LEASE_LOST', `row ${id} lost its lease; another worker may run it`, { value: id });
      abortRun(h, reason);
      this.deps.lost(h);
    }
  }

  // Which of the rows are still in the hot table; undefined when the lookup failed (the abort
  // then says LEASE_LOST, the cautious reading).
  async #stillLive(rows: HeldRow[]): Promise<Set<string> | undefined> {
    try {
      const live = new Set<string>();
      for (const batch of inBatches(rows, CONTRACT_LIMITS.maxIds)) {
        const found = await this.deps.store.inspect.listEvents({
          ids: batch.map((h) => h.row.id),
          limit: batch.length,
        });
        for (const r of found) live.add(r.id);
      }
      return live;
    } catch (error) {
      this.deps.logger.warn('could not look up rows that left this worker', {
        queue: this.deps.queueName,
        error: describeError(error),
      });
      return undefined;
    }
  }
}
