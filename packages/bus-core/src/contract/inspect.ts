/** How an archived row ended. */
export type ArchiveStatus = 'completed' | 'failed';

/** Filters of `StoreInspection.listEvents`; the core always sets `limit`. */
export interface ListEventsParams {
  /** Only rows of this queue. */
  queue?: string;
  /** Only these ids (1 to `maxIds`, each a valid row id); absent: any id. */
  ids?: string[];
  /** Only ids greater than this one (keyset paging): a valid row id. */
  afterId?: string;
  /** Rows at most: an integer from 1 to `maxListLimit`. */
  limit: number;
}

/** Filters of `StoreInspection.listArchive`; the core always sets `limit`. */
export interface ListArchiveParams extends ListEventsParams {
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
  createdAt: Date;
  /** The publisher's trace context as inserted (`null` when none). */
  traceContext?: string | null;
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
  /** The due time of the oldest row that is available now (`null` when none): its wait is now minus this. */
  oldestAvailableAt?: Date | null;
}

/**
 * Read-only views of a store's tables, apart from the hot path so that a dashboard or a test
 * can read without being a worker. Nothing here writes or locks.
 */
export interface StoreInspection {
  /** Live rows matching every given filter, in id order, at most `limit`. */
  listEvents(params: ListEventsParams): Promise<EventRow[]>;
  /** Archived rows matching every given filter, in id order, at most `limit`. */
  listArchive(params: ListArchiveParams): Promise<ArchivedEventRow[]>;
  /**
   * One entry per queue that has live or archived rows, in queue-name order; `available` and
   * `scheduled` are judged against the database's now.
   */
  countByQueue(): Promise<QueueCounts[]>;
}
