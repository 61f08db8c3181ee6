/** The NOTIFY/LISTEN client types a store accepts for wake-ups. */
export type { ListenClient, PGliteListenClient, PostgresJsListenClient } from './listen.js';
/** `migrate(db)` applies the bundled SQL migrations; its options and result. */
export { type MigrateOptions, type MigrateResult, migrate } from './migrate.js';
/** The bundled migrations (drizzle-kit output), for tools that apply SQL themselves. */
export { BUNDLED_MIGRATIONS, type BundledMigration } from './migrations.generated.js';
/** The Drizzle tables (also exported from `bus-postgres/schema` for drizzle-kit). */
export {
  assertIdentifier,
  type BusEventsArchiveTable,
  type BusEventsTable,
  type BusTableNames,
  type BusTables,
  busEvents,
  busEventsArchive,
  createBusTables,
  DEFAULT_ARCHIVE_TABLE,
  DEFAULT_EVENTS_TABLE,
} from './schema.js';
/** Any Drizzle PostgreSQL database or transaction: the store's transaction type. */
export type { PgTx } from './sql.js';
/** `postgresStore(db)`: the `QueueStore` on PostgreSQL; its options and type. */
export { type PostgresStore, type PostgresStoreOptions, postgresStore } from './store.js';
