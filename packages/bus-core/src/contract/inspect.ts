import type { LimitsRow } from './flow.js';
/** How an archived row ended. */
export type ArchiveStatus = 'completed' | 'failed' | 'cancelled';

/**
 * The state of a live row, judged against the database's now: `available` (unleased and due),
 * `scheduled` (unleased, due later) or `running` (leased, whether or not the lease has ended).
 */
export type LiveState = 'available' | 'scheduled' | 'running';

/** Filters shared by the live and the archive lists, cancel and redrive: every given one must match. */
export interface RowFilter {
  /** Only rows of this queue. */
  queue?: string;
  /** Only rows of this event (exact name). */
  eventName?: string;
  /** Only rows of this handler (exact name). */
  handlerName?: string;
  /**
   * Only rows whose last error contains this text (1 to `maxNameLength` characters, matched as
   * plain text, case-sensitive: `%` and `_` are not wildcards).
   */
  errorContains?: string;
}

/** Filters of `StoreInspection.listEvents`; the core always sets `limit`. */
export interface ListEventsParams extends RowFilter {
  /** Only rows in this state. */
  state?: LiveState;
  /** Only these ids (1 to `maxIds`, each a valid row id); absent: any id. */
  ids?: string[];
  /**
   * Keyset paging: only ids after this one in the list's order (greater, or smaller when
   * `newestFirst`): a valid row id.
   */
  afterId?: string;
  /** List in descending id order (newest first) instead of ascending. */
  newestFirst?: boolean;
  /** Rows at most: an integer from 1 to `maxListLimit`. */
  limit: number;
}

/** Filters of `StoreInspection.listArchive`; the core always sets `limit`. */
export interface ListArchiveParams extends RowFilter {
  /** Only these ids (1 to `maxIds`, each a valid row id); absent: any id. */
  ids?: string[];
  /**
   * Keyset paging: only ids after this one in the list's order (greater, or smaller when
   * `newestFirst`): a valid row id.
   */
  afterId?: string;
  /** List in descending id order (newest first) instead of ascending. */
  newestFirst?: boolean;
  /** Rows at most: an integer from 1 to `maxListLimit`. */
  limit: number;
  /** Only rows that ended this way. */
  status?: ArchiveStatus;
}

/** A live row of the hot table. */
export interface EventRow {
  id: string;
  queue: string;
  eventName: string;
  handlerName: string;
  payload: Uint8Array;
  /** The payload as JSON when the store writes its JSON column, else `null`. */
  payloadJson: unknown;
  attempts: number;
  maxRetries: number;
  priority: number;
  scheduledAt: Date;
  lockedUntil: Date | null;
  lockedBy: string | null;
  lastError: string | null;
  /** Times snoozed since published or redriven. */
  snoozes: number;
  createdAt: Date;
  /** The publisher's trace context as inserted (`null` when none). */
  traceContext?: string | null;
  /** The row's partition key (`null` when none). */
  partitionKey?: string | null;
}

/** A row of the archive table. */
export interface ArchivedEventRow {
  id: string;
  queue: string;
  eventName: string;
  handlerName: string;
  payload: Uint8Array;
  payloadJson: unknown;
  attempts: number;
  maxRetries: number;
  priority: number;
  status: ArchiveStatus;
  lastError: string | null;
  createdAt: Date;
  finishedAt: Date;
  /** Copied from the live row when it was archived. */
  traceContext?: string | null;
  /** Copied from the live row when it was archived (`null` when none). */
  partitionKey?: string | null;
}

/** Live and archived counts of one queue. */
export interface QueueCounts {
  queue: string;
  /** Due now and unleased. */
  available: number;
  /** Unleased but due later (delayed publishes and retries waiting out their backoff). */
  scheduled: number;
  /** Leased to a worker. */
  running: number;
  /** Live rows that have failed at least once. */
  retrying: number;
  archivedCompleted: number;
  archivedFailed: number;
  /** Archived with status `cancelled`. */
  archivedCancelled: number;
  /** The due time of the oldest row that is available now (`null` when none): its wait is now minus this. */
  oldestAvailableAt?: Date | null;
}

/**
 * Read-only views of a store's tables, apart from the hot path so that a dashboard or a test
 * can read without being a worker. Nothing here writes or locks.
 */
export interface StoreInspection {
  /** Live rows matching every given filter, in id order (see `newestFirst`), at most `limit`. */
  listEvents(params: ListEventsParams): Promise<EventRow[]>;
  /** Archived rows matching every given filter, in id order (see `newestFirst`), at most `limit`. */
  listArchive(params: ListArchiveParams): Promise<ArchivedEventRow[]>;
  /**
   * One entry per queue that has live or archived rows, in queue-name order; `available` and
   * `scheduled` are judged against the database's now.
   */
  countByQueue(): Promise<QueueCounts[]>;

  /** Paused queues and handlers, in (queue, handler) order. */
  listPauses(): Promise<PauseRow[]>;

  /** Every queue's stored flow-control limits, in queue-name order. */
  listLimits(): Promise<LimitsRow[]>;

  /** Worker processes whose last heartbeat is at most `seenWithinMs` before the database's now, by worker id. */
  listWorkers(params: ListWorkersParams): Promise<WorkerRow[]>;
}

/** A paused queue (`handlerName` null) or one paused handler of a queue. */
export interface PauseRow {
  queue: string;
  /** `null`: the whole queue is paused. */
  handlerName: string | null;
  pausedAt: Date;
}

/** Params of `StoreInspection.listWorkers`. */
export interface ListWorkersParams {
  /** An integer number of ms from 0 to `maxDelayMs`. */
  seenWithinMs: number;
}

/** A worker process as its last heartbeat (`StoreAdmin.recordWorker`) described it. */
export interface WorkerRow {
  workerId: string;
  /** The queues it works, as recorded. */
  queues: string[];
  /** Free text the core records: host name and pid. */
  info: string;
  startedAt: Date;
  lastSeenAt: Date;
}
