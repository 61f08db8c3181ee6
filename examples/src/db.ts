import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './db/schema.js';

// One postgres.js pool for the app and the bus; the store also LISTENs through it.
export const client = postgres(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/app', {
  max: 20,
});
export const db = drizzle(client, { schema });
