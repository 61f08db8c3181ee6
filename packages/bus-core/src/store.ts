/**
 * The contract between bus-core and a database driver. The core decides everything (fan-out,
 * backoff, the archive outcome, fencing); a store only runs the SQL for those decisions. Time
 * is always the database's: params carry durations, and the store adds them to its own `now()`.
 *
 * `TTx` is the driver's transaction (or database) type, so a MySQL transaction cannot be passed
 * to a Postgres store.
 */
export interface QueueStore<TTx = unknown> {
  /** What this store can do beyond the contract; the core reads flags, never dialect names. */
  readonly capabilities: StoreCapabilities;

  /**
   * Inserts rows (one statement where the database allows; a very large batch may be split into
   * several statements in one transaction: all rows or none); inside `tx` when given. Returns ids
   * in input order.
   */
  insert(params: InsertParams<TTx>): Promise<string[]>;
  /**
   * Takes up to `limit` due, unleased rows of one queue ordered by priority, due time, id; leases
   * them to `workerId` for `leaseMs` and increments `attempts`. Exclusive across concurrent callers.
   */
  claim(params: ClaimParams): Promise<ClaimedEvent[]>;
  /**
   * Applies outcomes, each fenced on (id, workerId, attempt), each with its archive insert in the
   * same transaction as its delete. Returns the ids whose fence held.
   */
  settle(params: SettleParams<TTx>): Promise<SettleResult>;
  /** Pushes `lockedUntil` to now + `leaseMs` for rows this worker still holds; returns those ids. */
  extendLeases(params: ExtendLeasesParams): Promise<string[]>;
  /** Hands leased rows back at once (lease cleared, the attempt not counted); returns released ids. */
  release(params: ReleaseParams): Promise<string[]>;
  /** Returns rows whose lease expired to the available set; returns how many. Cheap and idempotent. */
  rescue(params: RescueParams): Promise<number>;
  /** Deletes archive rows finished more than `olderThanMs` ago; returns how many. */
  prune(params: PruneParams): Promise<number>;
  /** The database's clock. */
  now(): Promise<Date>;
  /**
   * Resolves when the tables, columns and indexes this version of the store needs exist; else
   * rejects with a `SCHEMA_MISSING` BusError that names what is missing and the migration to run.
   * `bus.init()` calls it, so a worker with forgotten migrations fails at start-up, not in a loop.
   */
  checkSchema(): Promise<void>;
  /** Runs `fn` in a transaction of the store's database; commits when it resolves. */
  transaction<T>(fn: (tx: TTx) => Promise<T>): Promise<T>;
  /** Read-only inspection of live rows. */
  listEvents(params?: ListEventsParams): Promise<EventRow[]>;
  /** Read-only inspection of archived rows. */
  listArchive(params?: ListArchiveParams): Promise<ArchivedEventRow[]>;
  /** Read-only per-queue counts. */
  countByQueue(): Promise<QueueCounts[]>;
  /** Subscribes to wake-ups sent by `insert` from any process; only when `capabilities.notify`. */
  listen?(params: ListenParams): Promise<Subscription>;
}

/** Flags for what a store supports, so the core never branches on a dialect. */
export interface StoreCapabilities {
  /** `insert` wakes listeners in other processes at commit (Postgres LISTEN/NOTIFY). */
  readonly notify: boolean;
  /** Handlers marked `transactional` can write in the transaction that settles their row. */
  readonly transactionalCompletion: boolean;
}

/** A row for `insert`, already encoded and fanned out by the core. */
export interface NewEventRow {
  queue: string;
  eventName: string;
  handlerName: string;
  payload: Uint8Array;
  /** JSON text for the optional JSON column; `null` when the JSON payload is off. */
  payloadJson: string | null;
  maxRetries: number;
  priority: number;
  /** Due at database now + `delayMs`, unless `runAt` is set. */
  delayMs: number;
  /** An absolute due time; wins over `delayMs`. */
  runAt: Date | null;
}

/** Params of `QueueStore.insert`. */
export interface InsertParams<TTx> {
  rows: NewEventRow[];
  /** The caller's transaction; the rows commit or roll back with it. */
  tx?: TTx;
}

/** Params of `QueueStore.claim`. */
export interface ClaimParams {
  queue: string;
  limit: number;
  workerId: string;
  leaseMs: number;
}

/** A row handed to a worker by `claim`; `attempts` already counts this attempt. */
export interface ClaimedEvent {
  id: string;
  queue: string;
  eventName: string;
  handlerName: string;
  payload: Uint8Array;
  attempts: number;
  maxRetries: number;
  priority: number;
  createdAt: Date;
}

/** A row finished successfully. */
export interface CompletedOutcome {
  kind: 'completed';
  id: string;
  attempt: number;
  archive: boolean;
}

/** A failed attempt that will run again after `delayMs`. */
export interface RetryOutcome {
  kind: 'retry';
  id: string;
  attempt: number;
  delayMs: number;
  error: string;
}

/** A row that failed for good. */
export interface FailedOutcome {
  kind: 'failed';
  id: string;
  attempt: number;
  archive: boolean;
  error: string;
}

/** One decision of the core about a claimed row. */
export type SettleOutcome = CompletedOutcome | RetryOutcome | FailedOutcome;

/** Params of `QueueStore.settle`. */
export interface SettleParams<TTx> {
  workerId: string;
  outcomes: SettleOutcome[];
  /** Settle inside this transaction (transactional completion). */
  tx?: TTx;
}

/** What `settle` applied: outcomes whose fence did not hold are simply absent. */
export interface SettleResult {
  settled: string[];
}

/** A row a worker holds, named by id and the attempt it holds. */
export interface HeldEvent {
  id: string;
  attempt: number;
}

/** Params of `QueueStore.extendLeases`. */
export interface ExtendLeasesParams {
  workerId: string;
  events: HeldEvent[];
  leaseMs: number;
}

/** Params of `QueueStore.release`. */
export interface ReleaseParams {
  workerId: string;
  events: HeldEvent[];
}

/** Params of `QueueStore.rescue`. */
export interface RescueParams {
  /** Recorded in `last_error` of each rescued row. */
  error: string;
  /** Rows rescued per call at most, so a rescue never becomes a long transaction. */
  limit: number;
}

/** Params of `QueueStore.prune`. */
export interface PruneParams {
  olderThanMs: number;
  limit: number;
}

/** Filters for `listEvents`. */
export interface ListEventsParams {
  queue?: string;
  ids?: string[];
  limit?: number;
}

/** Filters for `listArchive`. */
export interface ListArchiveParams {
  queue?: string;
  ids?: string[];
  status?: ArchiveStatus;
  limit?: number;
}

/** A live row of the hot table. */
export interface EventRow {
  id: string;
  queue: string;
  eventName: string;
  handlerName: string;
  payload: Uint8Array;
  payloadJson: unknown;
  attempts: number;
  maxRetries: number;
  priority: number;
  scheduledAt: Date;
  lockedUntil: Date | null;
  lockedBy: string | null;
  lastError: string | null;
  createdAt: Date;
}

/** How an archived row ended. */
export type ArchiveStatus = 'completed' | 'failed';

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
}

/** Params of `QueueStore.listen`. */
export interface ListenParams {
  /**
   * Called with a queue name when rows were inserted into it; with none, wake every queue (after
   * a reconnect, when notifications may have been lost).
   */
  onWake(queue?: string): void;
  /** Called when the listening connection failed; the store reconnects by itself. */
  onError(error: unknown): void;
}

/** A live `listen` subscription. */
export interface Subscription {
  close(): Promise<void>;
}

/** The transaction type of a store. */
export type TxOf<S> = S extends QueueStore<infer T> ? T : never;
