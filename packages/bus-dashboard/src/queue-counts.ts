import type { QueueOverview } from 'bus-core';
import { isBusError } from 'bus-core';

/**
 * A count that took `d` ms is not started again for `COUNT_SPACING × d` ms after it ended: the
 * dashboard spends at most a tenth of the database's time counting, however big the tables (the
 * rule of bus-core's OpenTelemetry queue gauges).
 */
export const COUNT_SPACING = 9;

/** One finished count: what `admin.queues()` said and the database time it was asked at. */
export interface CountedQueues {
  queues: QueueOverview[];
  /** Database time taken just before the count: the counts are at least this fresh. */
  countedAt: Date;
  tookMs: number;
}

/** What the queues screen can show now, without waiting on the database. */
export interface CountsState {
  /** The latest counts that succeeded; `undefined` until the first one does. */
  counted: CountedQueues | undefined;
  /** The latest count failed (after `counted`, which stays shown): its message. */
  failure: string | undefined;
  /** A count is running now. */
  counting: boolean;
}

/** A timer handle as node's `setTimeout` returns it (tests pass their own). */
export interface TimerHandle {
  unref?(): unknown;
}

/** How `QueueCounts` reads, spaces and keeps time; the clock and timers are injectable for tests. */
export interface QueueCountsOptions {
  /** One count: `admin.queues()` and the database time before it. */
  read: () => Promise<{ queues: QueueOverview[]; countedAt: Date }>;
  /** Least time between the end of a count and the start of the next while someone looks. */
  intervalMs: number;
  /** Least time between counts after `markStale` (an action changed rows); at most `intervalMs`. */
  floorMs: number;
  /** Counting stops this long after the last `want()`. */
  idleMs: number;
  now?: () => number;
  setTimeout?: (run: () => void, ms: number) => TimerHandle;
  clearTimeout?: (timer: TimerHandle) => void;
}

/**
 * The queues screen's counts, taken in the background while somebody looks (the way Oban Web and
 * Sidekiq show metrics): `countByQueue` reads every live and archived row, seconds at a million,
 * so a request answers from the latest counts and says how old they are. One count at a time;
 * after one that took `d` ms the next starts no sooner than max(`intervalMs`, 9 × `d`) after it
 * ended; no count and no timer once nobody asked for `idleMs`, so a dashboard mounted in an app
 * never counts on its own.
 */
export class QueueCounts {
  #counted: CountedQueues | undefined;
  #failure: string | undefined;
  #running: Promise<void> | undefined;
  #timer: TimerHandle | undefined;
  #lastEnd: { at: number; tookMs: number } | undefined;
  #wantedAt = Number.NEGATIVE_INFINITY;
  #stale = false;
  readonly #now: () => number;
  readonly #setTimeout: (run: () => void, ms: number) => TimerHandle;
  readonly #clearTimeout: (timer: TimerHandle) => void;

  constructor(private readonly options: QueueCountsOptions) {
    this.#now = options.now ?? Date.now;
    this.#setTimeout = options.setTimeout ?? ((run, ms) => setTimeout(run, ms));
    this.#clearTimeout = options.clearTimeout ?? ((timer) => clearTimeout(timer as NodeJS.Timeout));
  }

  /** Somebody looks at the counts: count now if the spacing allows, and keep counting a while. */
  want(): void {
    this.#wantedAt = this.#now();
    this.#plan();
  }

  /** Rows changed (cancel, redrive, run now): the next count comes as soon as its spacing allows. */
  markStale(): void {
    this.#stale = true;
    this.#plan();
  }

  /** The counts as they are now. */
  state(): CountsState {
    return { counted: this.#counted, failure: this.#failure, counting: this.#running !== undefined };
  }

  /**
   * Waits up to `ms` for the first count to end (or fail), so a first visit to a small database
   * shows numbers at once; returns at once when a count has ended before.
   */
  async firstCount(ms: number): Promise<void> {
    const running = this.#running;
    if (this.#counted !== undefined || this.#failure !== undefined || running === undefined) return;
    let timer: TimerHandle | undefined;
    const budget = new Promise<void>((resolve) => {
      timer = this.#setTimeout(resolve, ms);
      timer.unref?.();
    });
    await Promise.race([running, budget]);
    if (timer !== undefined) this.#clearTimeout(timer);
  }

  /** Whether a timer waits to start the next count (tests: none is left once idle). */
  get scheduled(): boolean {
    return this.#timer !== undefined;
  }

  // Starts the next count now, or sets one timer for it, or none when it would start after
  // nobody is looking any more (a later `want()` plans again).
  #plan(): void {
    if (this.#running !== undefined) return;
    if (this.#timer !== undefined) {
      this.#clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const now = this.#now();
    const last = this.#lastEnd;
    const gap =
      last === undefined
        ? 0
        : Math.max(this.#stale ? this.options.floorMs : this.options.intervalMs, COUNT_SPACING * last.tookMs);
    const startAt = last === undefined ? now : last.at + gap;
    if (startAt > this.#wantedAt + this.options.idleMs) return;
    if (startAt <= now) {
      this.#count();
      return;
    }
    const timer = this.#setTimeout(() => {
      if (this.#timer !== timer) return;
      this.#timer = undefined;
      this.#plan();
    }, startAt - now);
    timer.unref?.();
    this.#timer = timer;
  }

  #count(): void {
    const started = this.#now();
    // A count that starts after an action sees its rows.
    this.#stale = false;
    let reading: Promise<{ queues: QueueOverview[]; countedAt: Date }>;
    try {
      reading = Promise.resolve(this.options.read());
    } catch (error) {
      reading = Promise.reject(error);
    }
    // Settled in callbacks, which run after this assignment even when `read` threw at once.
    this.#running = reading
      .then(
        ({ queues, countedAt }) => {
          this.#counted = { queues, countedAt, tookMs: this.#now() - started };
          this.#failure = undefined;
        },
        (error: unknown) => {
          this.#failure = messageOf(error);
        },
      )
      .finally(() => {
        const at = this.#now();
        this.#lastEnd = { at, tookMs: at - started };
        this.#running = undefined;
        this.#plan();
      });
  }
}

function messageOf(error: unknown): string {
  if (isBusError(error)) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
