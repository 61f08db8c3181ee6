import type { SetLimitsParams } from './flow.js';
import type { ArchiveStatus, LiveState, RowFilter } from './inspect.js';
import type { StoreTx } from './store.js';

/** Params of `StoreAdmin.cancel`: the rows are chosen by `ids` and/or `filter` (the core never sends neither). */
export interface CancelParams<TTx = StoreTx> {
  /** Only these ids (1 to `maxIds`, each a valid row id). */
  ids?: string[];
  /** Only rows matching every given field. */
  filter?: RowFilter & { state?: LiveState };
  /** Rows cancelled at most in this call: an integer from 1 to `maxBatch` (the core loops). */
  limit: number;
  /** Whether the archive keeps the cancelled rows (status `cancelled`), decided by the core. */
  archive: boolean;
  /** Written as the archived row's last error: at most `maxErrorChars` characters, without U+0000. */
  reason: string;
  /** The caller's transaction: the cancel commits or rolls back with it. */
  tx?: TTx;
}

/** Params of `StoreAdmin.redrive`: archived rows chosen by `ids` and/or `filter`. */
export interface RedriveParams<TTx = StoreTx> {
  ids?: string[];
  filter?: RowFilter;
  /** Only archived rows with one of these statuses (1 or more; the core sends `failed` and/or `cancelled`). */
  statuses: ArchiveStatus[];
  /** Rows moved at most in this call: an integer from 1 to `maxBatch` (the core loops). */
  limit: number;
  tx?: TTx;
}

/** Params of `StoreAdmin.runNow`. */
export interface RunNowParams<TTx = StoreTx> {
  /** 1 to `maxIds` valid row ids. */
  ids: string[];
  tx?: TTx;
}

/** Params of `StoreAdmin.pause` and `StoreAdmin.resume`. */
export interface PauseParams<TTx = StoreTx> {
  /** A queue name (1 to `maxNameLength` characters). */
  queue: string;
  /** One handler of the queue; absent or `null`: the whole queue. */
  handlerName?: string | null;
  tx?: TTx;
}

/** Params of `StoreAdmin.recordWorker`. */
export interface RecordWorkerParams {
  /** 1 to `maxWorkerIdLength` characters. */
  workerId: string;
  /** The queues the process works (0 or more names). */
  queues: string[];
  /** Host name and pid, as text of at most `maxNameLength` characters. */
  info: string;
}

/**
 * The writes an operator makes (cancel, redrive, run now, pause), apart from the hot path. The
 * core validates every value against `CONTRACT_LIMITS` first, and loops over `limit`-sized calls
 * for bulk work, so each call is one short transaction.
 */
export interface StoreAdmin<TTx = StoreTx> {
  /**
   * Removes up to `limit` live rows matching `ids` and `filter` from the hot table, leased or not,
   * lowest id first, without waiting on rows another transaction has locked (they are skipped
   * and left for a later call); when `archive`, they enter the archive in the same transaction
   * with status `cancelled`, last error `reason`, finished at now. Returns the removed ids. A
   * holder of a removed row finds its fence broken: its settle and lease calls leave the row out.
   */
  cancel(params: CancelParams<TTx>): Promise<string[]>;

  /**
   * Moves up to `limit` archived rows matching `ids`, `filter` and `statuses` back into the hot
   * table, lowest id first, under their own ids: same queue, event, handler, payload (and JSON),
   * max retries, priority, created at and trace context; `attempts` 0, `snoozes` 0, no lease, due
   * at now, last error kept. Removes them from the archive in the same transaction. Returns the
   * moved ids. Wakes listeners as `insert` does when `capabilities.notify`.
   */
  redrive(params: RedriveParams<TTx>): Promise<string[]>;

  /**
   * Makes each unleased live row of `ids` due at now (its scheduled time moves to now; a row due
   * already is unchanged). Returns the ids whose row is unleased and live. Wakes listeners.
   */
  runNow(params: RunNowParams<TTx>): Promise<string[]>;

  /**
   * Records the queue (or one handler of it) as paused since now; pausing what is paused already
   * keeps the first time. Returns whether it was not paused before.
   */
  pause(params: PauseParams<TTx>): Promise<boolean>;

  /**
   * Removes the pause of exactly that queue (or that handler: resuming a handler does not resume
   * its paused queue). Returns whether it was paused. Wakes listeners of the queue.
   */
  resume(params: PauseParams<TTx>): Promise<boolean>;

  /**
   * Records a heartbeat of a worker process: inserts it (started and last seen at now) or updates
   * its queues, info and last seen time.
   */
  recordWorker(params: RecordWorkerParams): Promise<void>;

  /** Deletes a worker process's record (it stopped cleanly). */
  removeWorker(params: { workerId: string }): Promise<void>;

  /**
   * Stores the queue's flow-control limits with updated at = now, or deletes its row when
   * `limits` is `null`, as `SetLimitsParams.signature` says (a deleted row forgets its signature).
   * A new row starts with no key cursor; an update keeps it. Returns whether it wrote.
   */
  setLimits(params: SetLimitsParams<TTx>): Promise<boolean>;
}
