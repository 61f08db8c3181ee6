import { defineConfig } from 'drizzle-kit';

// `pnpm generate` runs `drizzle-kit generate` (the committed migrations in ./drizzle, from
// src/schema.ts; it needs bus-core built: `pnpm build` first) and embeds them into
// src/migrations.generated.ts. Never edit generated files by hand; test/migrate.test.ts fails when
// the schema, ./drizzle and the embedded copy drift apart.
export default defineConfig({
  dialect: 'mysql',
  schema: './src/schema.ts',
  out: './drizzle',
});
