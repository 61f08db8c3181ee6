import { bigint, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

// Table names carry a demo_ prefix so that pointing DATABASE_URL at a database that already has a
// `users` table cannot collide with it.

/** The demo's own table: one row per sign-up. */
export const users = pgTable('demo_users', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  email: text('email').notNull().unique(),
  name: text('name').notNull(),
  credits: integer('credits').notNull().default(0),
  /** Set once by the welcome-credit handler; makes that handler idempotent. */
  welcomeCreditAt: timestamp('welcome_credit_at', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/** The audit log of outgoing mail, written by the email-audit handler. */
export const emailAudit = pgTable('demo_email_audit', {
  /** The bus row id of the handler run: the idempotency key, so a re-run adds no second entry. */
  eventId: text('event_id').primaryKey(),
  email: text('email').notNull(),
  subject: text('subject').notNull(),
  recordedAt: timestamp('recorded_at', { withTimezone: true }).notNull().defaultNow(),
});
