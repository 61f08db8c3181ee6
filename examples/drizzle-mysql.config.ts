import { defineConfig } from 'drizzle-kit';

// The same for MySQL/MariaDB: `npx drizzle-kit generate --config drizzle-mysql.config.ts`.
export default defineConfig({
  dialect: 'mysql',
  schema: './src/db/schema-mysql.ts',
  out: './drizzle-mysql',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/app' },
});
