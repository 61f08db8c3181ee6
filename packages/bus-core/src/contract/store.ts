import type { StoreAdmin } from './admin.js';
import type { ClaimedEvent, ClaimParams } from './claim.js';
import type { InsertParams } from './insert.js';
import type { StoreInspection } from './inspect.js';
import type { CheckLeasesParams, ExtendLeasesParams, ReleaseParams } from './leases.js';
import type { ListenParams, Subscription } from './listen.js';
import type { PruneParams } from './prune.js';
import type { ExpiredEvent, ListExpiredParams, RescueParams } from './rescue.js';
import type { StoreSchedules } from './schedules.js';
import type { SettleParams, SettleResult } from './settle.js';
import type { StoreUnique } from './unique.js';

/** The default transaction type parameter: a store that does not say. */
export type StoreTx = unknown;

/**
 * The contract between bus-core and a database driver (version 2).
 *
 * The core decides everything: fan-out, due times, backoff, retries after conflicts, rescue
 * outcomes, archive outcomes, error text length and id formats. A store runs the SQL for the
 * decisions it is given and nothing else. Every member takes one params object whose values the
 * core has already checked against `CONTRACT_LIMITS` (so a store does not validate, clamp,
 * truncate or deduplicate), and time is always the database's: params carry durations, which the
 * store adds to its database's now.
 *
 * Errors: a store rejects with a `BusError`. `STORE_CONFLICT` means the database rolled the work
 * back because of a conflict (deadlock, serialization failure, lock-wait timeout) and running it
 * again is safe; the core retries those, once per operation, with one budget. Anything else is
 * `STORE_FAILED` (or a more specific code such as `PUBLISH_FAILED` for an oversized insert). An
 * `insert` outside a caller's transaction whose connection died after the statement or its COMMIT
 * was sent is `PUBLISH_OUTCOME_UNKNOWN` (it may have committed), so that `PUBLISH_FAILED` always
 * means nothing was written. A store never retries by itself, except to skip a pooled connection
 * that was dead before the statement was sent.
 *
 * `TTx` is the driver's transaction type, so a MySQL transaction cannot be passed to a Postgres
 * store. The suite in `bus-testing/conformance` checks every rule written here.
 */
export interface QueueStore<TTx = StoreTx> {
  /** What this store does beyond the contract; the core reads these flags, never dialect names. */
  readonly capabilities: StoreCapabilities;

  /**
   * Inserts `rows` with `attempts` 0, no lease and no error, due as each row's `due` says; inside
   * `tx` when given. All rows or none; returns their new ids in input order. When
   * `capabilities.notify`, listeners in every process are woken for each queue with a row due at
   * once, no earlier than the rows become visible (at the commit of `tx`).
   */
  insert(params: InsertParams<TTx>): Promise<string[]>;

  /**
   * Leases up to `limit` rows of `queue` whose handler is one of `handlers`, that are due
   * (`scheduledAt` at or before the database's now) and unleased, in the order (priority,
   * scheduledAt, id): sets the holder to `workerId`, the
   * lease end to now + `leaseMs`, and adds 1 to `attempts`. Returns them in that order. Exclusive:
   * concurrent claims never return the same row, and a claim never waits for rows another
   * claim has locked (it skips them). With `limited`, see `ClaimParams.limited`: the rows taken
   * also keep the queue within its stored limits (contract/flow.ts).
   */
  claim(params: ClaimParams): Promise<ClaimedEvent[]>;

  /**
   * Applies each outcome whose fence holds: the row exists, is leased, its holder is `workerId`
   * and its `attempts` equals the outcome's `attempt`. `completed`/`failed`: the row leaves the
   * hot table, and when `archive` is set enters the archive in the same transaction (status = the
   * kind; last error = the outcome's error for `failed`, else the row's own; finished at now).
   * `retry`: due at now + `delayMs`, lease cleared, last error set. `snooze`: due at now +
   * `delayMs`, lease cleared, `attempts` = `attempt - 1`, `snoozes` + 1, last error unchanged.
   * `cancelled`: as `failed`, with archive status `cancelled`. Inside `tx` when given. An
   * outcome whose fence does not hold changes nothing and is left out of the result; it is not an
   * error.
   */
  settle(params: SettleParams<TTx>): Promise<SettleResult>;

  /**
   * Sets the lease end to now + `leaseMs` for each row whose fence holds (as in `settle`; a lease
   * already past its end still counts until `rescue` takes the row). Returns those ids.
   */
  extendLeases(params: ExtendLeasesParams): Promise<string[]>;

  /**
   * Reads which of the held rows still pass the fence (as in `settle`), changing nothing: the
   * core calls it often (about every second) to notice rows cancelled while they run. Returns
   * those ids.
   */
  checkLeases(params: CheckLeasesParams): Promise<string[]>;

  /**
   * Hands held rows back at once, as if never claimed: for each row whose fence holds, clears the
   * lease and sets `attempts` to `attempt - 1`; the due time does not change. Returns those ids.
   */
  release(params: ReleaseParams): Promise<string[]>;

  /**
   * Reads up to `limit` rows of `queues` whose lease ended before the database's now, oldest
   * lease end first, for the core to decide. Locks and changes nothing.
   */
  listExpired(params: ListExpiredParams): Promise<ExpiredEvent[]>;

  /**
   * Applies the core's decisions about expired rows, like `settle` for the holder each decision
   * names, with one more condition in the fence: the lease must still be past its end (a holder
   * that extended it in between keeps the row). Returns the ids applied.
   */
  rescue(params: RescueParams): Promise<string[]>;

  /**
   * Deletes up to `limit` archive rows that finished more than `olderThanMs` before the
   * database's now, oldest first, without waiting on rows another call is deleting. Returns how
   * many it deleted.
   */
  prune(params: PruneParams): Promise<number>;

  /** The database's clock, to the millisecond. */
  now(): Promise<Date>;

  /**
   * Resolves when the tables, columns and indexes this version of the store needs exist; else
   * rejects with a `SCHEMA_MISSING` BusError that names what is missing and the migration to run.
   */
  checkSchema(): Promise<void>;

  /**
   * Runs `fn` in a transaction of the store's database and commits when it resolves (rolls back
   * when it rejects). The core uses it for transactional completion: a handler's writes and its
   * `settle` commit together.
   */
  transaction<T>(fn: (tx: TTx) => Promise<T>): Promise<T>;

  /**
   * Subscribes to the wake-ups `insert` sends from any process. The core calls it only when
   * `capabilities.notify` is set; a store without notify rejects with `UNSUPPORTED`.
   */
  listen(params: ListenParams): Promise<Subscription>;

  /** Read-only inspection of the store's rows (list, count, pauses, workers), apart from the hot path. */
  readonly inspect: StoreInspection;

  /** An operator's writes (cancel, redrive, run now, pause, worker heartbeats), apart from the hot path. */
  readonly admin: StoreAdmin<TTx>;

  /** Unique publish: rows whose key the database keeps unique per handler (contract/unique.ts). */
  readonly unique: StoreUnique<TTx>;

  /** Recurring schedules' shared state (contract/schedules.ts). */
  readonly schedules: StoreSchedules<TTx>;
}

/** Flags for what a store does beyond the contract, so the core never branches on a dialect. */
export interface StoreCapabilities {
  /** `insert` wakes `listen` subscribers in every process at commit (Postgres LISTEN/NOTIFY). */
  readonly notify: boolean;
  /**
   * How many connections the store's client pools, when the client says (postgres.js `max`);
   * `startWorkers` refuses a pool smaller than its workers need (`POOL_TOO_SMALL`).
   */
  readonly poolSize?: number;
}

/** The transaction type of a store. */
export type TxOf<S> = S extends QueueStore<infer T> ? T : never;
