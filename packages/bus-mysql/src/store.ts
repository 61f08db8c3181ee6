import { BusError } from 'bus-core';
import type {
  BusTableNames,
  CancelParams,
  CheckLeasesParams,
  ClaimedEvent,
  ClaimParams,
  ExpiredEvent,
  ExtendLeasesParams,
  InsertParams,
  InsertUniqueParams,
  ListExpiredParams,
  ListenParams,
  PauseParams,
  PruneKeysParams,
  PruneParams,
  QueueStore,
  RecordTickParams,
  RecordWorkerParams,
  RedriveParams,
  ReleaseParams,
  RescueParams,
  RunNowParams,
  SchemaRow,
  SetLimitsParams,
  SetSchedulePausedParams,
  SettleParams,
  SettleResult,
  StoreAdmin,
  StoreCapabilities,
  StoreInspection,
  StoreSchedules,
  StoreUnique,
  Subscription,
  SyncSchedulesParams,
} from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import { checkSchema } from './check-schema.js';
import { assertDatabase, type MySqlTx, poolSizeOf, type ServerInfo, ServerInfoCache } from './client.js';
import { listen } from './listen.js';
import { type MySqlStoreOptions, resolveOptions } from './options.js';
import { read, type StoreContext, select } from './run.js';
import { cancel } from './sql/cancel.js';
import { checkLeases } from './sql/check-leases.js';
import { claim } from './sql/claim.js';
import { claimLimited } from './sql/claim-limited.js';
import { insert } from './sql/insert.js';
import { inspection } from './sql/inspect.js';
import { extendLeases, release } from './sql/leases.js';
import { setLimits } from './sql/limits.js';
import { now } from './sql/now.js';
import { pause, resume } from './sql/pauses.js';
import { prune } from './sql/prune.js';
import { redrive } from './sql/redrive.js';
import { listExpired, rescue } from './sql/rescue.js';
import { runNow } from './sql/run-now.js';
import { listSchedules, recordTick, setSchedulePaused, syncSchedules } from './sql/schedules.js';
import { settle } from './sql/settle.js';
import { insertUnique, pruneKeys } from './sql/unique.js';
import { recordWorker, removeWorker } from './sql/workers.js';

/**
 * The QueueStore on MySQL 8.0+ / MariaDB 10.6+ through Drizzle and mysql2. Every write goes by
 * primary key; claim, settle and the other lease changes run in short READ COMMITTED
 * transactions. The SQL of each operation lives in `src/sql/`.
 */
export class MySqlQueueStore implements QueueStore<MySqlTx> {
  /**
   * No LISTEN/NOTIFY on MySQL: other processes find new rows by polling (`sleepInterval`). The
   * pool size is the mysql2 pool's `connectionLimit`, for the core's connection budget check.
   */
  readonly capabilities: StoreCapabilities;
  /** The table names in use. */
  readonly tables: Readonly<Required<BusTableNames>>;
  /** Read-only views of the tables (list, count, pauses, workers). */
  readonly inspect: StoreInspection;
  /** An operator's writes (cancel, redrive, run now, pause, worker heartbeats, flow-control limits). */
  readonly admin: StoreAdmin<MySqlTx>;
  /** Unique publish (keys unique per handler). */
  readonly unique: StoreUnique<MySqlTx>;
  /** Recurring schedules' shared state. */
  readonly schedules: StoreSchedules<MySqlTx>;
  readonly #ctx: StoreContext;
  readonly #timeout: number | undefined;

  /** `serverInfo` stands in for what the store would read from the server (tests: the MySQL path on MariaDB). */
  constructor(db: MySqlTx, options?: MySqlStoreOptions, serverInfo?: ServerInfo) {
    assertDatabase(db);
    const { tables, jsonPayload, statementTimeout } = resolveOptions(options);
    this.tables = tables;
    this.#timeout = statementTimeout;
    this.#ctx = Object.freeze({
      db,
      tables,
      events: sql.identifier(tables.eventsTable),
      archive: sql.identifier(tables.archiveTable),
      jsonPayload,
      server: new ServerInfoCache(db, serverInfo),
    });
    this.inspect = inspection(this.#ctx);
    const ctx = this.#ctx;
    this.admin = Object.freeze({
      cancel: (params: CancelParams<MySqlTx>) => cancel(ctx, params),
      redrive: (params: RedriveParams<MySqlTx>) => redrive(ctx, params),
      runNow: (params: RunNowParams<MySqlTx>) => runNow(ctx, params),
      pause: (params: PauseParams<MySqlTx>) => pause(ctx, params),
      resume: (params: PauseParams<MySqlTx>) => resume(ctx, params),
      recordWorker: (params: RecordWorkerParams) => recordWorker(ctx, params),
      removeWorker: (params: { workerId: string }) => removeWorker(ctx, params),
      setLimits: (params: SetLimitsParams<MySqlTx>) => setLimits(ctx, params),
    });
    this.unique = Object.freeze({
      insert: (params: InsertUniqueParams<MySqlTx>) => insertUnique(ctx, params),
      prune: (params: PruneKeysParams) => pruneKeys(ctx, params),
    });
    this.schedules = Object.freeze({
      sync: (params: SyncSchedulesParams) => syncSchedules(ctx, params),
      list: () => listSchedules(ctx),
      recordTick: (params: RecordTickParams<MySqlTx>) => recordTick(ctx, params),
      setPaused: (params: SetSchedulePausedParams) => setSchedulePaused(ctx, params),
    });
    const poolSize = poolSizeOf(db);
    this.capabilities = Object.freeze({ notify: false, ...(poolSize === undefined ? {} : { poolSize }) });
  }

  insert(params: InsertParams<MySqlTx>): Promise<string[]> {
    return this.#timed('insert', () => insert(this.#ctx, params));
  }

  /** The plain claim, or with `params.limited` the limited claim (`claimWithLimits`) in one transaction. */
  claim(params: ClaimParams): Promise<ClaimedEvent[]> {
    if (params.limited === true) return this.#timed('claim', () => claimLimited(this.#ctx, params));
    return this.#timed('claim', () => claim(this.#ctx, params));
  }

  settle(params: SettleParams<MySqlTx>): Promise<SettleResult> {
    return this.#timed('settle', () => settle(this.#ctx, params));
  }

  extendLeases(params: ExtendLeasesParams): Promise<string[]> {
    return this.#timed('extendLeases', () => extendLeases(this.#ctx, params));
  }

  checkLeases(params: CheckLeasesParams): Promise<string[]> {
    return checkLeases(this.#ctx, params);
  }

  release(params: ReleaseParams): Promise<string[]> {
    return this.#timed('release', () => release(this.#ctx, params));
  }

  listExpired(params: ListExpiredParams): Promise<ExpiredEvent[]> {
    return this.#timed('listExpired', () => listExpired(this.#ctx, params));
  }

  rescue(params: RescueParams): Promise<string[]> {
    return this.#timed('rescue', () => rescue(this.#ctx, params));
  }

  prune(params: PruneParams): Promise<number> {
    return this.#timed('prune', () => prune(this.#ctx, params));
  }

  now(): Promise<Date> {
    return this.#timed('now', () => now(this.#ctx));
  }

  checkSchema(): Promise<void> {
    const db = this.#ctx.db;
    return checkSchema(
      async (query) => (await read('checkSchema', () => select(db, query))) as unknown as SchemaRow[],
      this.tables,
    );
  }

  /** Runs `fn` in a transaction at the connection's own isolation level; `fn`'s errors pass through untouched. */
  transaction<T>(fn: (tx: MySqlTx) => Promise<T>): Promise<T> {
    return this.#ctx.db.transaction((tx) => fn(tx));
  }

  listen(params: ListenParams): Promise<Subscription> {
    return listen(params);
  }

  /**
   * `call` bounded by `statementTimeout`. mysql2 cannot take back a statement it queued or sent,
   * so one past the timeout is left to finish on its connection, and its caller is told at once:
   * `STORE_TIMEOUT`, or for an insert `PUBLISH_OUTCOME_UNKNOWN`, since it may still commit. The
   * core treats a late claim, settle or lease change like any other: leases and fences make them
   * safe.
   */
  #timed<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const ms = this.#timeout;
    if (ms === undefined) return call();
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          operation === 'insert'
            ? new BusError(
                'PUBLISH_OUTCOME_UNKNOWN',
                `the insert did not answer within statementTimeout (${ms} ms): it may still commit; publishing again may duplicate it unless the publish carries a unique key`,
                { value: ms },
              )
            : new BusError(
                'STORE_TIMEOUT',
                `${operation} did not answer within statementTimeout (${ms} ms)`,
                {
                  value: ms,
                },
              ),
        );
      }, ms);
      call().then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /**
   * The server's flavour, `max_allowed_packet` and id step, read once through `db` (or the
   * store's database) and cached.
   */
  serverInfo(db?: MySqlTx): Promise<ServerInfo> {
    return this.#ctx.server.get(db);
  }
}

/**
 * Creates the MySQL/MariaDB `QueueStore` on a Drizzle database (drizzle-orm/mysql2, on a pool).
 * Tables default to `bus_events`, `bus_events_archive`, `bus_events_pauses` and
 * `bus_events_workers`; create them with `migrate(db)` or with
 * your own drizzle-kit migrations from `bus-mysql/schema`.
 *
 * @example
 * import mysql from 'mysql2/promise';
 * import { drizzle } from 'drizzle-orm/mysql2';
 * import { createBus } from 'bus-core';
 * import { migrate, mysqlStore } from 'bus-mysql';
 *
 * const db = drizzle(mysql.createPool(process.env.DATABASE_URL!));
 * await migrate(db);
 * const bus = createBus({ store: mysqlStore(db), queues: [{ queueName: 'email', workers: 5, batchSize: 5, sleepInterval: 1000, archivePolicy: 'failed' }] });
 */
export function mysqlStore(db: MySqlTx, options?: MySqlStoreOptions): MySqlQueueStore {
  return new MySqlQueueStore(db, options);
}
