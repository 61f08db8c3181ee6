import { defineConfig } from 'drizzle-kit';

// `drizzle-kit generate` writes the committed migrations in ./drizzle from src/schema.ts (it needs
// bus-core built: `pnpm build` first). Never edit generated files by hand; test/migrations.test.ts
// fails when the schema and the committed migrations drift apart.
export default defineConfig({
  dialect: 'mysql',
  schema: './src/schema.ts',
  out: './drizzle',
});
