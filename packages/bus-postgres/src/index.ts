/** One bundled migration: its drizzle-kit tag, the sha256 of its file, and its statements. */
export type { BundledMigration } from 'bus-core/driver';
/** Any Drizzle PostgreSQL database or transaction: the store's transaction type. */
export type { PgTx } from './client.js';
/** The NOTIFY/LISTEN client types a store accepts for wake-ups. */
export type { ListenClient, PGliteListenClient, PostgresJsListenClient } from './listen.js';
/** `migrate(db)` applies the bundled SQL migrations; its options and result. */
export { type MigrateOptions, type MigrateResult, migrate } from './migrate.js';
/** The bundled migrations (drizzle-kit output), for tools that apply SQL themselves. */
export { BUNDLED_MIGRATIONS } from './migrations.generated.js';
/** The options of `postgresStore`. */
export type { PostgresStoreOptions } from './options.js';
/** The Drizzle tables (also exported from `bus-postgres/schema` for drizzle-kit). */
export {
  assertIdentifier,
  type BusEventsArchiveTable,
  type BusEventsKeysTable,
  type BusEventsLimitsTable,
  type BusEventsPausesTable,
  type BusEventsSchedulesTable,
  type BusEventsStartsTable,
  type BusEventsTable,
  type BusEventsWorkersTable,
  type BusTableNames,
  type BusTables,
  busEvents,
  busEventsArchive,
  busEventsKeys,
  busEventsLimits,
  busEventsPauses,
  busEventsSchedules,
  busEventsStarts,
  busEventsWorkers,
  createBusTables,
  DEFAULT_ARCHIVE_TABLE,
  DEFAULT_EVENTS_TABLE,
  resolveTableNames,
} from './schema.js';
/** `postgresStore(db)`: the `QueueStore` on PostgreSQL, and its type. */
export { type PostgresStore, postgresStore } from './store.js';
