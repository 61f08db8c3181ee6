import { BusError } from 'bus-core';
import { assertIdentifier, type BusTableNames, resolveTableNames } from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import type { PgTx } from './client.js';
import { assertUsableClient } from './client.js';
import { type ListenClient, resolveListenClient } from './listen.js';

/** Options of `postgresStore`. */
export interface PostgresStoreOptions extends BusTableNames {
  /**
   * The schema of the bus tables (default: none, so the tables resolve on the connection's
   * search path). Set it behind a transaction-mode pooler (PgBouncer, Supavisor, RDS Proxy), where
   * a search path given at connect time is refused or not kept: every statement then names its
   * tables `"schema"."table"`. Give `migrate` the same schema.
   */
  schema?: string;
  /**
   * The NOTIFY channel `insert` signals and `listen` listens on (default `bus_wake`). Buses with
   * their own tables in one database may share it (a wake-up for an unknown queue is ignored) or
   * set their own.
   */
  channel?: string;
  /**
   * The client that LISTENs: a postgres.js `Sql` or a `PGlite` instance. By default it is the
   * Drizzle database's `$client`; `false` turns wake-ups off (workers poll every `sleepInterval`).
   */
  listen?: ListenClient | false;
  /**
   * How often (ms, default 10 000) a postgres.js listener checks that its connection still
   * delivers notifications, by notifying itself; a listener found dead is re-established.
   */
  listenCheckInterval?: number;
  /**
   * Also write each payload as JSON into the `payload_json` column (default false), for SQL and
   * dashboards that read payloads without msgpack; bus itself reads only the msgpack bytes.
   */
  jsonPayload?: boolean;
  /**
   * How long (ms, default 30 000) a statement of the store may take on postgres.js, waiting for a
   * pooled connection included, before it rejects with `STORE_TIMEOUT` (a publish whose insert
   * was already sent rejects with `PUBLISH_OUTCOME_UNKNOWN`: it may still commit). `false` waits
   * as long as the client does. Other drivers are not bounded by it.
   */
  statementTimeout?: number | false;
}

/** The tables of a store, as identifiers ready for its SQL. */
export interface StoreTables {
  events: Identifier;
  archive: Identifier;
  pauses: Identifier;
  workers: Identifier;
  /** The unique keys table (events table + `_keys`). */
  keys: Identifier;
  /** The schedules table (events table + `_schedules`). */
  schedules: Identifier;
  /** The flow-control limits table (events table + `_limits`). */
  limits: Identifier;
  /** The recorded starts of rate-limited queues (events table + `_starts`). */
  starts: Identifier;
}

/** A quoted table name in the store's SQL, schema-qualified when the store has a schema. */
export type Identifier = SQL;

/**
 * `"schema"."table"`, or `"table"` without a schema: how the store's SQL names a table.
 *
 * @example
 * const events = qualifiedTable('bus', 'bus_events'); // "bus"."bus_events"
 */
export function qualifiedTable(schema: string | undefined, table: string): SQL {
  return schema === undefined
    ? sql`${sql.identifier(table)}`
    : sql`${sql.identifier(schema)}.${sql.identifier(table)}`;
}

/**
 * The `schema` option checked: `undefined` (the search path) or a plain SQL identifier.
 *
 * @example
 * const schema = resolveSchema(options.schema);
 */
export function resolveSchema(schema: unknown): string | undefined {
  if (schema === undefined || schema === null) return undefined;
  assertIdentifier(schema, 'schema');
  return schema;
}

/** `PostgresStoreOptions` checked, with defaults applied. */
export interface ResolvedOptions {
  schema: string | undefined;
  /** Every table name, derived ones included (what `checkSchema` checks). */
  names: Required<BusTableNames>;
  eventsTable: string;
  archiveTable: string;
  pausesTable: string;
  workersTable: string;
  tables: StoreTables;
  channel: string;
  listenClient: ListenClient | undefined;
  listenCheckInterval: number;
  jsonPayload: boolean;
  /** Undefined when off. */
  statementTimeout: number | undefined;
}

// Lower case only: PGlite LISTENs on the name unquoted, which PostgreSQL folds to lower case.
const CHANNEL_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Checks the Drizzle database and the options of `postgresStore`, throwing `INVALID_CONFIG` or
 * `INVALID_IDENTIFIER` for anything it cannot work with.
 *
 * @example
 * const { tables, channel } = resolveOptions(db, { eventsTable: 'jobs' });
 */
export function resolveOptions(db: PgTx, options: PostgresStoreOptions | null | undefined): ResolvedOptions {
  if (typeof db !== 'object' || db === null || typeof (db as { execute?: unknown }).execute !== 'function') {
    throw new BusError('INVALID_CONFIG', 'postgresStore needs a Drizzle PostgreSQL database', { value: db });
  }
  if (options !== undefined && options !== null && typeof options !== 'object') {
    throw new BusError('INVALID_CONFIG', 'postgresStore options must be an object', { value: options });
  }
  const given = options ?? {};
  assertUsableClient(db);
  const names = resolveTableNames(given);
  const { eventsTable, archiveTable, pausesTable, workersTable } = names;
  const schema = resolveSchema(given.schema);
  const channel = given.channel ?? 'bus_wake';
  if (typeof channel !== 'string' || !CHANNEL_PATTERN.test(channel)) {
    throw new BusError(
      'INVALID_IDENTIFIER',
      `channel must be a lower-case SQL identifier matching ${CHANNEL_PATTERN} (got ${JSON.stringify(channel)})`,
      { value: channel },
    );
  }
  const listenClient =
    given.listen === false
      ? undefined
      : resolveListenClient(given.listen ?? (db as { $client?: unknown }).$client);
  if (given.listen !== undefined && given.listen !== false && listenClient === undefined) {
    throw new BusError(
      'INVALID_CONFIG',
      'options.listen must be a postgres.js Sql client, a PGlite instance or false',
      {
        value: given.listen,
      },
    );
  }
  const listenCheckInterval = given.listenCheckInterval ?? 10_000;
  if (!Number.isInteger(listenCheckInterval) || listenCheckInterval < 50 || listenCheckInterval > 3_600_000) {
    throw new BusError(
      'INVALID_CONFIG',
      `listenCheckInterval must be an integer from 50 to 3600000 ms (got ${listenCheckInterval})`,
      { value: listenCheckInterval },
    );
  }
  const jsonPayload = given.jsonPayload ?? false;
  if (typeof jsonPayload !== 'boolean') {
    throw new BusError('INVALID_CONFIG', `jsonPayload must be a boolean (got ${String(jsonPayload)})`, {
      value: jsonPayload,
    });
  }
  const timeout = given.statementTimeout ?? 30_000;
  if (timeout !== false && (!Number.isInteger(timeout) || timeout < 1 || timeout > 3_600_000)) {
    throw new BusError(
      'INVALID_CONFIG',
      `statementTimeout must be false or an integer from 1 to 3600000 ms (got ${String(timeout)})`,
      { value: timeout },
    );
  }
  return {
    schema,
    names,
    eventsTable,
    archiveTable,
    pausesTable,
    workersTable,
    tables: {
      events: qualifiedTable(schema, eventsTable),
      archive: qualifiedTable(schema, archiveTable),
      pauses: qualifiedTable(schema, pausesTable),
      workers: qualifiedTable(schema, workersTable),
      keys: qualifiedTable(schema, names.keysTable),
      schedules: qualifiedTable(schema, names.schedulesTable),
      limits: qualifiedTable(schema, names.limitsTable),
      starts: qualifiedTable(schema, names.startsTable),
    },
    channel,
    listenClient,
    listenCheckInterval,
    jsonPayload,
    statementTimeout: timeout === false ? undefined : timeout,
  };
}
