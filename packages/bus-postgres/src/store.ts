import { BusError } from 'bus-core';
import type {
  BusTableNames,
  CheckLeasesParams,
  ClaimedEvent,
  ClaimParams,
  ExpiredEvent,
  ExtendLeasesParams,
  InsertParams,
  ListExpiredParams,
  ListenParams,
  PruneParams,
  QueueStore,
  ReleaseParams,
  RescueParams,
  SettleParams,
  SettleResult,
  StoreAdmin,
  StoreCapabilities,
  StoreInspection,
  StoreSchedules,
  StoreUnique,
  Subscription,
} from 'bus-core/driver';
import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import { checkSchema } from './check-schema.js';
import { type PgTx, poolSizeOf } from './client.js';
import { type ListenClient, listenWith } from './listen.js';
import { type PostgresStoreOptions, resolveOptions } from './options.js';
import { textOf } from './rows.js';
import { Statements, type StoreContext } from './run.js';
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

/** A `QueueStore` on PostgreSQL through Drizzle; its transactions are Drizzle Postgres transactions. */
export interface PostgresStore extends QueueStore<PgTx> {
  /** The hot table's name. */
  readonly eventsTable: string;
  /** The archive table's name. */
  readonly archiveTable: string;
  /** The pauses table's name. */
  readonly pausesTable: string;
  /** The worker heartbeats table's name. */
  readonly workersTable: string;
  /** The NOTIFY channel of this store. */
  readonly channel: string;
  /** The schema of the tables, or `undefined` when they resolve on the search path. */
  readonly schema: string | undefined;
}

// Each member is one operation file of src/sql/ (insert.ts, claim.ts, …); this class only wires
// them to the store's statements, tables and options.
class PostgresQueueStore implements PostgresStore {
  readonly capabilities: StoreCapabilities;
  readonly eventsTable: string;
  readonly archiveTable: string;
  readonly pausesTable: string;
  readonly workersTable: string;
  readonly channel: string;
  readonly schema: string | undefined;
  readonly inspect: StoreInspection;
  readonly admin: StoreAdmin<PgTx>;
  readonly unique: StoreUnique<PgTx>;
  readonly schedules: StoreSchedules<PgTx>;
  readonly #store: StoreContext;
  readonly #listenClient: ListenClient | undefined;
  readonly #listenCheckInterval: number;
  readonly #names: Required<BusTableNames>;

  constructor(db: PgTx, options: PostgresStoreOptions | undefined) {
    const resolved = resolveOptions(db, options);
    this.eventsTable = resolved.eventsTable;
    this.archiveTable = resolved.archiveTable;
    this.pausesTable = resolved.pausesTable;
    this.workersTable = resolved.workersTable;
    this.channel = resolved.channel;
    this.schema = resolved.schema;
    this.#names = resolved.names;
    this.#listenClient = resolved.listenClient;
    this.#listenCheckInterval = resolved.listenCheckInterval;
    this.#store = {
      statements: new Statements(db, resolved.statementTimeout),
      tables: resolved.tables,
      channel: resolved.channel,
      jsonPayload: resolved.jsonPayload,
      limitsSeen: new Map(),
    };
    this.inspect = inspection(this.#store);
    const store = this.#store;
    this.admin = {
      cancel: (params) => cancel(store, params),
      redrive: (params) => redrive(store, params),
      runNow: (params) => runNow(store, params),
      pause: (params) => pause(store, params),
      resume: (params) => resume(store, params),
      recordWorker: (params) => recordWorker(store, params),
      removeWorker: (params) => removeWorker(store, params),
      setLimits: (params) => setLimits(store, params),
    };
    this.unique = {
      insert: (params) => insertUnique(store, params),
      prune: (params) => pruneKeys(store, params),
    };
    this.schedules = {
      sync: (params) => syncSchedules(store, params),
      list: () => listSchedules(store),
      recordTick: (params) => recordTick(store, params),
      setPaused: (params) => setSchedulePaused(store, params),
    };
    const poolSize = poolSizeOf(db);
    this.capabilities = Object.freeze({
      notify: this.#listenClient !== undefined,
      ...(poolSize === undefined ? {} : { poolSize }),
    });
  }

  insert(params: InsertParams<PgTx>): Promise<string[]> {
    return insert(this.#store, params);
  }

  claim(params: ClaimParams): Promise<ClaimedEvent[]> {
    // The plain claim stays one statement; only a queue the core saw limits for pays for them.
    return params.limited === true ? claimLimited(this.#store, params) : claim(this.#store, params);
  }

  settle(params: SettleParams<PgTx>): Promise<SettleResult> {
    return settle(this.#store, params);
  }

  extendLeases(params: ExtendLeasesParams): Promise<string[]> {
    return extendLeases(this.#store, params);
  }

  checkLeases(params: CheckLeasesParams): Promise<string[]> {
    return checkLeases(this.#store, params);
  }

  release(params: ReleaseParams): Promise<string[]> {
    return release(this.#store, params);
  }

  listExpired(params: ListExpiredParams): Promise<ExpiredEvent[]> {
    return listExpired(this.#store, params);
  }

  rescue(params: RescueParams): Promise<string[]> {
    return rescue(this.#store, params);
  }

  prune(params: PruneParams): Promise<number> {
    return prune(this.#store, params);
  }

  now(): Promise<Date> {
    return now(this.#store);
  }

  checkSchema(): Promise<void> {
    const run = async (query: SQL) =>
      (await this.#store.statements.rows('checkSchema', query)).map((r) => ({
        kind: textOf(r[0], 'kind'),
        name: textOf(r[1], 'name'),
      }));
    // Every name as resolved, so custom keys, schedules, limits or starts tables are the ones checked.
    return checkSchema(run, { ...this.#names, schema: this.schema });
  }

  transaction<T>(fn: (tx: PgTx) => Promise<T>): Promise<T> {
    return this.#store.statements.transaction(fn);
  }

  async listen(params: ListenParams): Promise<Subscription> {
    const client = this.#listenClient;
    if (client === undefined) {
      throw new BusError(
        'UNSUPPORTED',
        'this postgres store has no LISTEN client (options.listen is false, or the database is not on postgres.js or PGlite)',
      );
    }
    return listenWith(client, {
      channel: this.channel,
      params,
      checkInterval: this.#listenCheckInterval,
      ping: async (payload) => {
        const query = sql`SELECT pg_notify(${this.channel}::text, ${payload}::text)::text AS n`;
        await this.#store.statements.rows('notify', query);
      },
    });
  }
}

/**
 * Creates the PostgreSQL `QueueStore` on a Drizzle database of any Postgres driver (postgres.js,
 * PGlite, …). The tables must exist: run `migrate(db)` or drizzle-kit first. The Drizzle `$client`
 * (postgres.js `Sql` or `PGlite`) also serves LISTEN/NOTIFY wake-ups.
 *
 * @example
 * import postgres from 'postgres';
 * import { drizzle } from 'drizzle-orm/postgres-js';
 * import { createBus } from 'bus-core';
 * import { migrate, postgresStore } from 'bus-postgres';
 *
 * const db = drizzle(postgres(process.env.DATABASE_URL!));
 * await migrate(db);
 * const bus = createBus({ store: postgresStore(db), queues: [{ queueName: 'email', workers: 5, batchSize: 5, sleepInterval: 60_000, archivePolicy: 'failed' }] });
 * await bus.init();
 */
export function postgresStore(db: PgTx, options?: PostgresStoreOptions): PostgresStore {
  return new PostgresQueueStore(db, options);
}
