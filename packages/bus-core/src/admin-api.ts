import type {
  ArchivedEventRow,
  ArchiveStatus,
  EventRow,
  LiveState,
  PauseRow,
  QueueCounts,
  RowFilter,
  WorkerRow,
} from './contract/inspect.js';
import type { QueueLimits } from './flow/limits.js';

/**
 * Which rows an admin action touches: `ids`, a `filter`, or both (every given one must match).
 * A target with neither (or an empty filter) would touch every row: it is refused with
 * `INVALID_ARGUMENT` unless `all: true` says so explicitly.
 */
export interface AdminTarget<F = AdminLiveFilter> {
  /** At most 10 000 ids; strings that cannot be row ids are reported as unknown. */
  ids?: readonly string[];
  filter?: F;
  /** Required to act on every row (no ids, no filter field). */
  all?: boolean;
}

/** Filters of live rows for admin actions and lists. */
export interface AdminLiveFilter extends RowFilter {
  state?: LiveState;
}

/** Filters of archived rows for redrive. */
export interface AdminArchiveFilter extends RowFilter {
  /** `failed` and `cancelled` by default; a completed row can be redriven only when named here. */
  statuses?: readonly ArchiveStatus[];
}

/** What an admin action did. */
export interface AdminReport {
  /** Rows touched. */
  count: number;
  /** The ids touched, when the target named ids (a filter reports only the count). */
  ids: string[];
  /** Target ids that matched nothing (unknown, already finished, or not in the required state). */
  unknown: string[];
}

/** Options of the writing admin actions. */
export interface AdminWriteOptions<TTx> {
  /** Run in the caller's transaction (like `publishTxn`): a rollback undoes the action. */
  tx?: TTx;
}

/** One queue as the dashboard and `bus stats` show it. */
export interface QueueOverview extends QueueCounts {
  /** The whole queue is paused. */
  paused: boolean;
  /** Handlers of the queue paused on their own. */
  pausedHandlers: string[];
  /** The queue's stored flow-control limits; `null` when it has none. */
  limits: QueueLimits | null;
}

/** A queue's stored flow-control limits, as `bus.admin.limits()` lists them. */
export interface QueueLimitsOverview {
  queue: string;
  limits: QueueLimits;
  /** When they were last written (database time). */
  updatedAt: Date;
}

/** One recurring schedule as the dashboard and `bus schedules` show it. */
export interface ScheduleOverview {
  name: string;
  /** The expression (or interval) the database holds, as the latest deploy wrote it. */
  signature: string | null;
  paused: boolean;
  /** The latest tick published, or `null`. */
  lastTickAt: Date | null;
  /**
   * The next tick: computed from the code on `bus.admin` (`null` for a schedule no longer
   * declared), the one recorded at the last tick on `createAdmin` (which has no code).
   */
  nextTickAt: Date | null;
}

/** One row looked up by id, live or archived. */
export type FoundRow = { where: 'live'; row: EventRow } | { where: 'archive'; row: ArchivedEventRow };

/**
 * One place for every operator action and view, so the CLI, the dashboard and user code do the
 * same thing the same way. Available as `bus.admin`, or without a bus (no handlers registered)
 * from `createAdmin({ store })`.
 */
export interface BusAdmin<TTx = unknown> {
  /**
   * Cancels live rows: a row not started is removed (archived as `cancelled` unless the queue's
   * archive policy drops failures); a running row is removed the same way and its holder's
   * `ctx.signal` aborts within about a second, and whatever the holder returns afterwards cannot
   * settle it (the fence).
   *
   * @example
   * await bus.admin.cancel({ filter: { queue: 'email', state: 'available' } }, { reason: 'bad batch' });
   */
  cancel(target: AdminTarget, options?: AdminWriteOptions<TTx> & { reason?: string }): Promise<AdminReport>;

  /**
   * Re-publishes archived rows (failed and cancelled by default) under their own ids with fresh
   * attempts, keeping queue, handler, payload, priority and retry budget.
   *
   * @example
   * await bus.admin.redrive({ filter: { queue: 'email', statuses: ['failed'] } });
   */
  redrive(target: AdminTarget<AdminArchiveFilter>, options?: AdminWriteOptions<TTx>): Promise<AdminReport>;

  /**
   * Makes unleased rows that are scheduled later due now.
   *
   * @example
   * await bus.admin.runNow(['42']);
   */
  runNow(ids: readonly string[], options?: AdminWriteOptions<TTx>): Promise<AdminReport>;

  /**
   * Pauses a queue (or one handler of it) in every process within about a second; running rows
   * finish. Stored in the database, so it holds across restarts. An unknown queue is refused
   * with `UNKNOWN_QUEUE`.
   *
   * @example
   * await bus.admin.pause('email');
   */
  pause(
    queue: string,
    options?: AdminWriteOptions<TTx> & { handlerName?: string },
  ): Promise<{ changed: boolean }>;

  /**
   * Resumes a paused queue (or handler).
   *
   * @example
   * await bus.admin.resume('email');
   */
  resume(
    queue: string,
    options?: AdminWriteOptions<TTx> & { handlerName?: string },
  ): Promise<{ changed: boolean }>;

  /**
   * Stores a queue's flow-control limits (docs/flow-control.md), or removes them with `null`;
   * every process claims within them in about a second. A bad limit is `INVALID_LIMITS`. They
   * last until the next such call, or until a process starts with different `limits` in its
   * queue configuration.
   *
   * @example
   * await bus.admin.setLimits('mail', { concurrency: 5, rate: { limit: 50, periodMs: 30_000 } });
   */
  setLimits(
    queue: string,
    limits: QueueLimits | null,
    options?: AdminWriteOptions<TTx>,
  ): Promise<{ changed: boolean }>;

  /**
   * Every queue's stored limits, in queue-name order.
   *
   * @example
   * for (const l of await bus.admin.limits()) console.log(l.queue, l.limits);
   */
  limits(): Promise<QueueLimitsOverview[]>;

  /** Every queue with rows, a pause or a recent worker, with its counts and paused state. */
  queues(): Promise<QueueOverview[]>;

  /** Paused queues and handlers. */
  pauses(): Promise<PauseRow[]>;

  /**
   * Every recurring schedule, by name, with its last and next tick (the same rows as
   * `bus.schedules.list()`).
   *
   * @example
   * for (const s of await bus.admin.schedules()) console.log(s.name, s.paused, s.nextTickAt);
   */
  schedules(): Promise<ScheduleOverview[]>;

  /**
   * Pauses a recurring schedule in every process (`bus.schedules.pause`); `changed` is false when
   * it was paused already. An unknown name is refused with `UNKNOWN_SCHEDULE`.
   *
   * @example
   * await bus.admin.pauseSchedule('nightly-report');
   */
  pauseSchedule(name: string): Promise<{ changed: boolean }>;

  /**
   * Resumes a paused schedule (`bus.schedules.resume`); ticks due meanwhile follow its missed-tick policy.
   *
   * @example
   * await bus.admin.resumeSchedule('nightly-report');
   */
  resumeSchedule(name: string): Promise<{ changed: boolean }>;

  /** Live rows, filtered and keyset-paged (`afterId`, `newestFirst`, `limit` up to 10 000, default 100). */
  events(filter?: AdminLiveFilter & AdminPage): Promise<EventRow[]>;

  /** Archived rows, filtered and keyset-paged. */
  archive(filter?: RowFilter & { status?: ArchiveStatus } & AdminPage): Promise<ArchivedEventRow[]>;

  /** One row by id, live or archived; `null` when neither has it. */
  event(id: string): Promise<FoundRow | null>;

  /** Worker processes whose heartbeat is at most `seenWithinMs` old (default 60 s). */
  workers(options?: { seenWithinMs?: number }): Promise<WorkerRow[]>;

  /** Deletes archive rows finished more than `olderThanMs` ago; returns how many. */
  purgeArchive(options: { olderThanMs: number }): Promise<number>;

  /** The database's clock. */
  now(): Promise<Date>;
}

/** Keyset paging of admin lists. */
export interface AdminPage {
  afterId?: string;
  newestFirst?: boolean;
  limit?: number;
}
