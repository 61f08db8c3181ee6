import type { StoreTx } from './store.js';

/** One schedule as the core declares it to the store. */
export interface DeclaredSchedule {
  /** The schedule's name: 1 to `maxNameLength` characters. */
  name: string;
  /** What decides the ticks (expression, time zone or interval), as text of at most `maxErrorChars`. */
  signature: string;
}

/** Params of `StoreSchedules.sync`. */
export interface SyncSchedulesParams {
  /** The schedules declared in this process's code (0 to `maxBatch`, each name once). */
  schedules: DeclaredSchedule[];
}

/** A schedule's state in the database. */
export interface ScheduleRow {
  name: string;
  /** The signature the last `sync` that changed it wrote. */
  signature: string;
  paused: boolean;
  /** Ticks after this instant are due (set at creation and when the signature changes). */
  anchorAt: Date;
  /** The latest tick published, or `null`. */
  lastTickAt: Date | null;
  /** The next tick the core computed when it last published one, or `null`. */
  nextTickAt: Date | null;
}

/** Params of `StoreSchedules.recordTick`. */
export interface RecordTickParams<TTx = StoreTx> {
  name: string;
  /** The tick being published. */
  tickAt: Date;
  /** The next tick after it, or `null` when there is none. */
  nextTickAt: Date | null;
  /** The signature the tick was computed with. */
  signature: string;
  /** The transaction that publishes the tick's rows. */
  tx?: TTx;
}

/** Params of `StoreSchedules.setPaused`. */
export interface SetSchedulePausedParams {
  name: string;
  paused: boolean;
}

/**
 * Recurring schedules' state (pause, anchor, last and next tick), shared by every process. The
 * core decides which ticks are due (from `now()`, the state and the expression) and publishes
 * each tick with a unique key; the store keeps the state.
 */
export interface StoreSchedules<TTx = StoreTx> {
  /**
   * Creates a row for each declared schedule missing from the table (not paused, anchor = the
   * database's now, no ticks yet); for an existing row whose signature differs, sets the
   * signature and moves the anchor to now (the new expression's ticks start after now; the last
   * tick is kept). Rows of schedules not declared are left as they are.
   */
  sync(params: SyncSchedulesParams): Promise<void>;

  /** Every schedule row, by name. */
  list(): Promise<ScheduleRow[]>;

  /**
   * Records a tick, inside `tx` when given, only when the schedule exists, is not paused, has
   * `signature`, and its last tick is `null` or earlier than `tickAt`: sets the last tick to
   * `tickAt` and the next to `nextTickAt`. Returns whether it did (the row stays locked by `tx`
   * until its end, so concurrent recorders of one schedule run one after the other).
   */
  recordTick(params: RecordTickParams<TTx>): Promise<boolean>;

  /** Sets the paused flag of a schedule; returns whether the schedule exists. */
  setPaused(params: SetSchedulePausedParams): Promise<boolean>;
}
