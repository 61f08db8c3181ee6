import { integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

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
} from 'bus-postgres/schema';

export const users = pgTable('users', {
  id: uuid('id').primaryKey().defaultRandom(),
  email: text('email').notNull().unique(),
  name: text('name').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

// One welcome credit per user, whatever the retries (docs/delivery.md).
export const welcomeCredits = pgTable('welcome_credits', {
  userId: uuid('user_id').primaryKey(),
  cents: integer('cents').notNull(),
  grantedBy: text('granted_by').notNull(),
});
