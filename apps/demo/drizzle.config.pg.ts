import { defineConfig } from 'drizzle-kit';

// The demo's own tables on PostgreSQL and PGlite. bus's tables come from `migrate()` of
// bus-postgres at start-up, so they are not in this schema.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/schema/pg.ts',
  out: './drizzle/pg',
});
