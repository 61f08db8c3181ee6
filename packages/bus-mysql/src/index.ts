/** MySQL 8.0+ / MariaDB 10.6+ driver for bus: the QueueStore, its Drizzle tables and migrations. */
export type { BundledMigration } from 'bus-core/driver';
export type { MySqlTx, ServerInfo } from './client.js';
export { type MigrateOptions, type MigrateResult, migrate } from './migrate.js';
export type { MySqlStoreOptions } from './options.js';
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
  longblob,
  resolveTableNames,
} from './schema.js';
export { MySqlQueueStore, mysqlStore } from './store.js';
