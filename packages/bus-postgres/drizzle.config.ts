import { defineConfig } from 'drizzle-kit';

// Generates the bundled migrations from the default tables: `pnpm --filter bus-postgres generate`.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/schema.ts',
  out: './drizzle',
});
