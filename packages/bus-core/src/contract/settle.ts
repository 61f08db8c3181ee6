import type { StoreTx } from './store.js';

/** A row finished successfully. */
export interface CompletedOutcome {
  kind: 'completed';
  id: string;
  /** The attempt the worker holds (`ClaimedEvent.attempts`). */
  attempt: number;
  /** Whether the archive keeps it (the queue's archive policy, decided by the core). */
  archive: boolean;
}

/** A failed attempt that runs again after `delayMs`. */
export interface RetryOutcome {
  kind: 'retry';
  id: string;
  attempt: number;
  /** An integer from 0 to `maxDelayMs`, after the database's now at settle. */
  delayMs: number;
  /** At most `maxErrorChars` characters, without U+0000. */
  error: string;
}

/** A row that failed for good. */
export interface FailedOutcome {
  kind: 'failed';
  id: string;
  attempt: number;
  archive: boolean;
  /** At most `maxErrorChars` characters, without U+0000. */
  error: string;
}

/**
 * A row put off without using an attempt (the handler threw `snooze(ms)`): due at now + `delayMs`,
 * lease cleared, `attempts` set to `attempt - 1`, `snoozes` + 1, last error unchanged.
 */
export interface SnoozeOutcome {
  kind: 'snooze';
  id: string;
  attempt: number;
  /** An integer from 0 to `maxDelayMs`, after the database's now at settle. */
  delayMs: number;
}

/**
 * A row that will not run again because it was cancelled (the handler threw `cancelRun(reason)`):
 * like `failed`, but archived with status `cancelled`.
 */
export interface CancelledOutcome {
  kind: 'cancelled';
  id: string;
  attempt: number;
  archive: boolean;
  /** The reason: at most `maxErrorChars` characters, without U+0000. */
  error: string;
}

/** One decision of the core about a row a worker holds. */
export type SettleOutcome =
  | CompletedOutcome
  | RetryOutcome
  | FailedOutcome
  | SnoozeOutcome
  | CancelledOutcome;

/** Params of `QueueStore.settle`. */
export interface SettleParams<TTx = StoreTx> {
  /** The worker that holds every row of `outcomes`. */
  workerId: string;
  /** 1 to `maxBatch` outcomes, each id once. */
  outcomes: SettleOutcome[];
  /** The handler's transaction (transactional completion): the outcome commits with its writes. */
  tx?: TTx;
}

/** What `settle` applied. */
export interface SettleResult {
  /** The ids whose fence held, each once, in any order; a refused outcome is simply absent. */
  settled: string[];
}
