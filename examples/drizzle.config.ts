import { defineConfig } from 'drizzle-kit';

// `npx drizzle-kit generate` then `npx drizzle-kit migrate`: your tables and the bus tables that
// src/db/schema.ts re-exports from bus-postgres/schema, in one migration history.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/app' },
});
