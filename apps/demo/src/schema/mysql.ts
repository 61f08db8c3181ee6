import { sql } from 'drizzle-orm';
import { bigint, datetime, int, mysqlTable, varchar } from 'drizzle-orm/mysql-core';

// Table names carry a demo_ prefix so that pointing DATABASE_URL at a database that already has a
// `users` table cannot collide with it.
// DATETIME rather than TIMESTAMP: a nullable TIMESTAMP turns NOT NULL on servers with
// explicit_defaults_for_timestamp off (MariaDB before 10.10).

/** The demo's own table: one row per sign-up. */
export const users = mysqlTable('demo_users', {
  id: bigint('id', { mode: 'number', unsigned: true }).primaryKey().autoincrement(),
  email: varchar('email', { length: 255 }).notNull().unique(),
  name: varchar('name', { length: 255 }).notNull(),
  credits: int('credits').notNull().default(0),
  /** Set once by the welcome-credit handler; makes that handler idempotent. */
  welcomeCreditAt: datetime('welcome_credit_at', { fsp: 3 }),
  createdAt: datetime('created_at', { fsp: 3 }).notNull().default(sql`CURRENT_TIMESTAMP(3)`),
});

/** The audit log of outgoing mail, written by the email-audit handler. */
export const emailAudit = mysqlTable('demo_email_audit', {
  /** The bus row id of the handler run: the idempotency key, so a re-run adds no second entry. */
  eventId: varchar('event_id', { length: 32 }).primaryKey(),
  email: varchar('email', { length: 255 }).notNull(),
  subject: varchar('subject', { length: 255 }).notNull(),
  recordedAt: datetime('recorded_at', { fsp: 3 }).notNull().default(sql`CURRENT_TIMESTAMP(3)`),
});
