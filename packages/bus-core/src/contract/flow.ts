import type { ClaimedEvent } from './claim.js';
import type { StoreTx } from './store.js';

/**
 * A queue's flow-control limits as a store keeps them (one row per queue, docs/flow-control.md).
 * `null` means no such limit. The core validates every number before a store sees it.
 */
export interface StoredLimits {
  /** Rows of the queue leased at once across every process at most (an integer from 1). */
  concurrency: number | null;
  /** Rows of one partition key leased at once at most (rows without a key are not counted). */
  keyConcurrency: number | null;
  /** Claims (starts) of the queue's rows per sliding `ratePeriodMs` at most. */
  rateLimit: number | null;
  /** The rate window in ms (an integer from 1), set exactly when `rateLimit` is. */
  ratePeriodMs: number | null;
  /** Starts of one partition key's rows per sliding `keyRatePeriodMs` at most. */
  keyRateLimit: number | null;
  /** The per-key rate window in ms, set exactly when `keyRateLimit` is. */
  keyRatePeriodMs: number | null;
  /** Take rows round-robin across partition keys even without a per-key limit. */
  fair: boolean;
}

/** A queue's stored limits, as `StoreInspection.listLimits` returns them. */
export interface LimitsRow extends StoredLimits {
  queue: string;
  /** When the limits were last written (database time). */
  updatedAt: Date;
}

/** Params of `StoreAdmin.setLimits`. */
export interface SetLimitsParams<TTx = StoreTx> {
  /** A queue name (1 to `maxNameLength` characters). */
  queue: string;
  /** The limits to store; `null` deletes the queue's row (no limits). */
  limits: StoredLimits | null;
  /**
   * The signature of the queue configuration the limits come from (at most `maxNameLength`
   * characters). When given, the write happens only if the stored row's signature differs (or
   * there is no row), and stores it; when absent, the write always happens and keeps the stored
   * signature. So a process that starts with an unchanged configuration leaves an operator's
   * run-time change alone, and a deploy that changes the configuration wins.
   */
  signature?: string;
  tx?: TTx;
}

/** A row the limited claim may take, as the store's reads return it. */
export interface ClaimCandidate {
  id: string;
  /** The row's partition key; `null` when it has none. */
  partitionKey: string | null;
}

/** A row the limited claim leased, with its partition key (starts are recorded per key). */
export interface LeasedCandidate {
  event: ClaimedEvent;
  /** The row's partition key; `null` when it has none. */
  partitionKey: string | null;
}

/** Leased rows of a queue, counted per partition key. */
export interface RunningCount {
  /** `null`: the rows without a key. */
  key: string | null;
  count: number;
}

/** Starts the limited claim recorded, per partition key, with their age on the database's clock. */
export interface RecentStarts {
  /** `null`: starts of rows without a key. */
  key: string | null;
  /** How long ago (ms, from 0) these starts were recorded. */
  ageMs: number;
  count: number;
}

/**
 * The statements of one limited claim, run in one transaction of the store (see
 * `claimWithLimits` in `bus-core/driver`, which decides what to take). Each is bound to the
 * claim's queue and `ClaimParams`; "unleased" rows are those the plain claim could take (no
 * lease), "due" ones have their due time at or before the database's now, and every read is
 * limited to rows of `ClaimParams.handlers` unless it says otherwise.
 *
 * `claimWithLimits` may call a step before the one called before it has resolved (the lock and
 * the count, for one): the store must run them on the transaction's connection in call order,
 * each statement starting after the one before it ended, as one connection does. A client that
 * pipelines (postgres.js) then sends them in one round trip, and each still reads what committed
 * before it began: the count taken after the lock.
 */
export interface LimitedClaimSteps {
  /**
   * Locks the queue's limits row until the transaction ends (other limited claims of the queue
   * wait) and returns its limits and key cursor; `null` when the queue has no row.
   */
  lockLimits(): Promise<{ limits: StoredLimits; keyCursor: string | null } | null>;
  /**
   * The queue's leased rows (whether or not the lease has ended), counted per partition key, any
   * handler, except those of `ClaimParams.finished` leased to `ClaimParams.workerId`.
   */
  countRunning(): Promise<RunningCount[]>;
  /** Starts recorded for the queue less than `windowMs` ago (an integer from 1), per key and age. */
  recentStarts(windowMs: number): Promise<RecentStarts[]>;
  /**
   * Leases up to `limit` due, unleased rows in the plain claim's order (priority, due time, id),
   * skipping rows another transaction holds, as the plain claim leases a row (holder, lease end,
   * attempts + 1), and returns them with their keys, in that order.
   */
  leaseReady(params: { limit: number }): Promise<LeasedCandidate[]>;
  /**
   * Up to `limit` of the rows without a partition key among the first `within` due, unleased rows
   * of any key in the plain claim's order, in that order (a bounded read: no index holds only the
   * rows without a key).
   */
  unkeyedRows(params: { limit: number; within: number }): Promise<ClaimCandidate[]>;
  /**
   * Up to `max` distinct partition keys of unleased rows of the queue (any handler, due or not),
   * in the database's key order, after `after` when given (else from the first key); and for each
   * of those keys not in `skip`, up to `perKey` of its due, unleased rows, each key's rows in
   * (due time, id) order. One step, so a store can read both in one statement.
   */
  keysAndRows(params: {
    after: string | null;
    max: number;
    skip: readonly string[];
    perKey: number;
  }): Promise<{ keys: string[]; rows: ClaimCandidate[] }>;
  /**
   * Leases those of `ids` that are still unleased, as the plain claim leases a row (holder, lease
   * end, attempts + 1), and returns them, in any order.
   */
  lease(ids: string[]): Promise<ClaimedEvent[]>;
  /**
   * Records `count` starts now for each entry, and deletes the queue's starts recorded
   * `keepMs` or more ago.
   */
  recordStarts(params: { starts: { key: string | null; count: number }[]; keepMs: number }): Promise<void>;
  /**
   * Stores the key the next claim's round-robin starts after; `null`: the next claim starts from
   * the first key (the last turn went to the rows without a key, which come after the last key).
   */
  saveCursor(key: string | null): Promise<void>;
  /**
   * Optional, for a store that pipelines (`claimWithinConcurrency`). One statement: when the
   * queue's stored limits are exactly `expected` (every field), leases up to `limit` due, unleased
   * rows as `leaseReady` does, fewer so that the queue's leased rows, counted as `countRunning`
   * counts them, are at most `leasedAtMost` once it is done, and returns them; when they are not
   * (changed, or no row), leases nothing and returns `null`. Called after `lockLimits`, so its
   * count is read after the lock is held.
   */
  leaseWithin?(params: {
    limit: number;
    leasedAtMost: number;
    expected: StoredLimits;
  }): Promise<LeasedCandidate[] | null>;
  /**
   * Optional, for a store that pipelines (`claimInTurnAtOnce`). One statement, called after
   * `lockLimits` (so its counts are read after the lock is held): when the queue's stored limits
   * are exactly `expected` (every field), leases what `claimWithLimits` leases under limits
   * without a rate, and returns it in pick order; when they are not (changed, or no row), leases
   * nothing and returns `null`. That is: the room is `limit`, less so that the queue's leased rows
   * (counted as `countRunning` counts them) are at most `leasedAtMost` when it is given. Keys are
   * read in the database's key order from the first after the stored key cursor (from the first
   * key without one), round to the cursor again, as `keysAndRows` reads them, until as many keys
   * as the room gave rows or `maxKeys` keys were read; a key gives up to its room, `keyLimit` less
   * its leased rows (the room when `keyLimit` is null), of its rows as `keysAndRows` reads them.
   * The rows without a key are those `unkeyedRows({ limit: room, within })` reads, as one more
   * key after the last key, where the walk passes it (not at all when it stopped before). Rows are
   * picked one per key per turn, keys in that order, until the room is taken; leased as `lease`
   * leases (a row leased meanwhile by another claimer is left out); and the key cursor is stored
   * as the last key that got a row in the first turn, when one did (null when that was the rows
   * without a key: the next claim starts from the first key).
   */
  leaseInTurn?(params: {
    limit: number;
    leasedAtMost: number | null;
    keyLimit: number | null;
    maxKeys: number;
    within: number;
    expected: StoredLimits;
  }): Promise<LeasedCandidate[] | null>;
  /**
   * Optional. Called at most once, right after the claim's last step was called and before it
   * resolved: no step follows. A store that pipelines may send its COMMIT now, behind that step,
   * instead of a round trip later; it must still fail the claim when a step fails (a failed
   * statement aborts the transaction, and the COMMIT then rolls it back). When it is not called
   * (the claim ended early, nothing to lease) the store commits when the claim returns, as ever.
   */
  lastStepSent?(): void;
}
