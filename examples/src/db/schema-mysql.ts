import { mysqlTable, serial, timestamp, varchar } from 'drizzle-orm/mysql-core';

// Re-exported so drizzle-kit creates and migrates the bus tables with yours.
export { busEvents, busEventsArchive } from 'bus-mysql/schema';

export const users = mysqlTable('users', {
  id: serial('id').primaryKey(),
  email: varchar('email', { length: 320 }).notNull().unique(),
  name: varchar('name', { length: 200 }).notNull(),
  createdAt: timestamp('created_at').notNull().defaultNow(),
});
