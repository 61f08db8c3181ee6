import { defineConfig } from 'drizzle-kit';

// The demo's own tables on MySQL and MariaDB. bus's tables come from `migrate()` of bus-mysql at
// start-up, so they are not in this schema.
export default defineConfig({
  dialect: 'mysql',
  schema: './src/schema/mysql.ts',
  out: './drizzle/mysql',
});
