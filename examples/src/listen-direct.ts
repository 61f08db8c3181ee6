import { postgresStore } from 'bus-postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';

// Queries go through PgBouncer in transaction mode, where a LISTEN does not last: the wake-ups
// listen on one direct connection to PostgreSQL instead.
const pooled = postgres(process.env.DATABASE_URL ?? 'postgres://app@pgbouncer:6432/app', { prepare: false });
const direct = postgres(process.env.DIRECT_DATABASE_URL ?? 'postgres://app@postgres:5432/app', { max: 1 });
export const store = postgresStore(drizzle(pooled), { listen: direct });

// Or no LISTEN at all: other processes' publishes are then found by polling every sleepInterval.
export const pollingStore = postgresStore(drizzle(pooled), { listen: false });
