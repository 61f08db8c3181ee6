import { bigint, mysqlTable, timestamp, varchar } from 'drizzle-orm/mysql-core';

// Re-exported so drizzle-kit creates and migrates the bus tables with yours.
export {
  busEvents,
  busEventsArchive,
  busEventsKeys,
  busEventsLimits,
  busEventsPauses,
  busEventsSchedules,
  busEventsStarts,
  busEventsWorkers,
} from 'bus-mysql/schema';

export const users = mysqlTable('users', {
  // Not `serial('id')`: drizzle-kit writes `serial AUTO_INCREMENT`, which MariaDB rejects (1064).
  id: bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey(),
  email: varchar('email', { length: 320 }).notNull().unique(),
  name: varchar('name', { length: 200 }).notNull(),
  createdAt: timestamp('created_at').notNull().defaultNow(),
});
