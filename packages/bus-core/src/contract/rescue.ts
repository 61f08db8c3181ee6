import type { FailedOutcome, RetryOutcome } from './settle.js';

/** Params of `QueueStore.listExpired`. */
export interface ListExpiredParams {
  /** Only rows of these queues (the queues this process works): 1 or more names. */
  queues: string[];
  /** Rows at most: an integer from 1 to `maxBatch`. */
  limit: number;
}

/** A leased row whose lease ended: its holder crashed, stalled or lost its connection. */
export interface ExpiredEvent {
  id: string;
  queue: string;
  eventName: string;
  handlerName: string;
  /** The attempts the row has used, including the one whose lease expired. */
  attempts: number;
  maxRetries: number;
  /** The lease holder that did not finish. */
  workerId: string;
}

/**
 * The core's decision about an expired row: run it again (`retry`) or fail it for good
 * (`failed`), fenced on the holder and attempt it was read with.
 */
export type RescueDecision = (RetryOutcome | FailedOutcome) & {
  /** `ExpiredEvent.workerId`: the holder whose lease expired. */
  workerId: string;
};

/** Params of `QueueStore.rescue`. */
export interface RescueParams {
  /** 1 to `maxBatch` decisions, each id once. */
  decisions: RescueDecision[];
}
