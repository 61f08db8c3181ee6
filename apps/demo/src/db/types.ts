import type { Bus, QueueStore } from 'bus-core';

/** A user signing up. */
export interface NewUser {
  email: string;
  name: string;
}

/** One entry of the audit log of outgoing mail. */
export interface AuditEntry {
  /** The bus row id of the handler run: the idempotency key. */
  eventId: string;
  email: string;
  subject: string;
}

/** Totals of the demo's own tables. */
export interface AppStats {
  users: number;
  /** Users who got their welcome credit. */
  credited: number;
  auditEntries: number;
}

/**
 * The demo's data layer on one database: its own tables (Drizzle), bus's store on the same
 * connection, and the sign-up that writes both in one transaction. `TTx` is the driver's
 * transaction type, so the bus of a Postgres database only takes Postgres transactions.
 */
export interface AppDatabase<TTx = any> {
  readonly kind: 'pglite' | 'postgres' | 'mysql';
  /** Where the data lives, for people: "embedded PGlite in apps/demo/.data/pglite", a redacted URL, … */
  readonly label: string;
  /** bus's `QueueStore` on this database. */
  readonly store: QueueStore<TTx>;
  /** Applies the demo's own migrations (drizzle-kit output) and bus's (`migrate` of the driver). */
  migrate(): Promise<void>;
  /**
   * The sign-up: inserts the user and publishes `SendEmailEvent` in one transaction (the
   * transactional outbox): the events exist only if the user does.
   */
  signUp(bus: Bus<TTx>, user: NewUser): Promise<void>;
  /** Grants the welcome credit once; `false` when the user already had it. */
  grantWelcomeCredit(email: string): Promise<boolean>;
  /** Adds an audit entry unless one with the same `eventId` exists. */
  recordAudit(entry: AuditEntry): Promise<void>;
  stats(): Promise<AppStats>;
  close(): Promise<void>;
}

/** The welcome mail of a new user. */
export function welcomeEmail(user: NewUser): { to: string; subject: string; body: string } {
  const first = user.name.split(' ', 1)[0];
  return {
    to: user.email,
    subject: `Welcome to the bus demo, ${first}!`,
    body: `Hi ${first},\n\nthanks for signing up. 100 welcome credits are on your account.\n`,
  };
}

/** Credits a new user gets once. */
export const WELCOME_CREDIT = 100;
