import type { NewEventRow } from './insert.js';
import type { StoreTx } from './store.js';

/**
 * How one row of `StoreUnique.insert` is made unique: per handler (each fanned-out row on its
 * own), on a key the core has already derived and checked.
 */
export interface RowUniqueness {
  /** The key: 1 to `maxUniqueKeyChars` characters, without U+0000. */
  key: string;
  /**
   * A period in ms (an integer from 1 to `maxDelayMs`), or `null`. When set, the stored key is
   * `${key}@${floor(nowMs / bucketMs)}` with nowMs the database's now (ms since the epoch) at the
   * insert: the period's bucket folded into the key, so the key is free again in the next period.
   */
  bucketMs: number | null;
  /**
   * `null`: the key covers live rows only (free again as soon as its row leaves the hot table).
   * A duration in ms (an integer from 1 to `maxDelayMs`): the key is also held, whatever becomes of
   * its row, until the database's now at the insert + `holdMs` (live and archived rows).
   */
  holdMs: number | null;
}

/** A row for `StoreUnique.insert`: an ordinary new row plus its uniqueness. */
export interface UniqueNewEventRow extends NewEventRow {
  unique: RowUniqueness;
}

/** Params of `StoreUnique.insert`. */
export interface InsertUniqueParams<TTx = StoreTx> {
  /** 1 to `maxBatch` rows; a (handlerName, key, bucketMs) may repeat (the later one is then a duplicate). */
  rows: UniqueNewEventRow[];
  /** The caller's transaction: the rows and the keys they take commit or roll back with it. */
  tx?: TTx;
}

/** What `StoreUnique.insert` did with one row. */
export interface UniqueInsertResult {
  /** The new row's id, or for a duplicate the id of the row that holds the key. */
  id: string;
  /** Whether the key was held already, so nothing was inserted for this row. */
  duplicate: boolean;
}

/** Params of `StoreUnique.prune`. */
export interface PruneKeysParams {
  /** Expired held keys deleted at most in this call: an integer from 1 to `maxBatch`. */
  limit: number;
}

/**
 * Unique publish: rows whose key the database keeps unique per handler, among live rows and, for
 * `holdMs` keys, past their row's life (bus-postgres: a partial unique index on the hot table's
 * stored key plus a keys table for holds; bus-mysql, which has no partial index: the keys table
 * alone, with the live holder's id and the hold). Rows without a key must cost nothing.
 */
export interface StoreUnique<TTx = StoreTx> {
  /**
   * For each row in order: it is a duplicate when the hot table has a row of the same handler
   * with the same stored key (see `RowUniqueness.bucketMs`), or when `holdMs` is set and the keys
   * table holds (handler, stored key) with an expiry after the database's now; then nothing is
   * inserted and the result carries the holder's id. Otherwise it is inserted as `insert` does
   * (notify included) with its stored key and, when `holdMs` is set, takes the key in the keys
   * table until now + `holdMs` (replacing an expired holder). All rows or none, inside `tx` when
   * given. Enforced by the database: a key an uncommitted transaction has taken is waited on and
   * decided after that transaction ends (free again when it rolls back). A store may reject with
   * `STORE_CONFLICT` when its database resolves such a wait as a deadlock (MySQL may).
   */
  insert(params: InsertUniqueParams<TTx>): Promise<UniqueInsertResult[]>;

  /**
   * Deletes up to `limit` stored keys that hold nothing any more: a hold whose expiry is before
   * the database's now (a store that keeps live keys in the same table, as bus-mysql does, keeps
   * such a key while its live holder is in the hot table), without waiting on keys another
   * transaction holds. Returns how many it deleted.
   */
  prune(params: PruneKeysParams): Promise<number>;
}
