/** Params of `QueueStore.claim`. */
export interface ClaimParams {
  /** One queue name. */
  queue: string;
  /** Rows to take at most: an integer from 1 to `maxBatch`. */
  limit: number;
  /** The claiming worker, recorded as the lease holder (1 to `maxWorkerIdLength` characters). */
  workerId: string;
  /** The lease: an integer number of ms (at least 1; the core passes 1000 or more) after the database's now. */
  leaseMs: number;
}

/** A row handed to a worker by `claim`. */
export interface ClaimedEvent {
  id: string;
  queue: string;
  eventName: string;
  handlerName: string;
  payload: Uint8Array;
  /** Attempts including this one (the claim counted it): the fence of every later call. */
  attempts: number;
  maxRetries: number;
  priority: number;
  createdAt: Date;
  /** The row's `trace_context` as inserted; `null` or absent when none. */
  traceContext?: string | null;
}
