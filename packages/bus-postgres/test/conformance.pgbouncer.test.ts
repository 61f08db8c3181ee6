import { runConformanceSuite } from 'bus-testing/conformance';
import { sql } from 'drizzle-orm';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, it } from 'vitest';
import { migrate, postgresStore } from '../src/index.js';
import { pgClient, uniqueName } from './helpers.js';
import { type PrivatePgBouncer, privatePgBouncer } from './private-servers.js';

// The whole store contract through PgBouncer in transaction mode, as behind Supabase, Neon or RDS
// Proxy: a client with prepared statements off and no search path (PgBouncer refuses one at
// connect time), tables named by the store's `schema` option, migrations over the bouncer (their
// lock and search path are transaction-scoped), and LISTEN on a direct connection of its own.

let bouncer: PrivatePgBouncer;
let schema: string;
let client: postgres.Sql;
let listen: postgres.Sql;
let db: PostgresJsDatabase;

runConformanceSuite(
  {
    name: 'postgres (postgres.js through PgBouncer, transaction mode)',
    async setup() {
      bouncer = await privatePgBouncer();
      schema = uniqueName('bt_bouncer');
      const admin = pgClient({ max: 1 });
      await admin.unsafe(`CREATE SCHEMA "${schema}"`);
      await admin.end();
      client = postgres(bouncer.url, {
        max: 5,
        prepare: false,
        onnotice: () => {},
        connection: { application_name: 'bus-postgres-bouncer-test' },
      });
      db = drizzle(client);
      await migrate(db, { schema });
      listen = pgClient({ max: 1 });
      return postgresStore(db, { schema, listen, listenCheckInterval: 1000 });
    },
    setupJsonPayload: async () => postgresStore(db, { schema, jsonPayload: true, listen: false }),
    reset: async () => {
      const tables = ['bus_events', 'bus_events_archive', 'bus_events_limits', 'bus_events_starts'];
      const names = tables.map((table) => sql`${sql.identifier(schema)}.${sql.identifier(table)}`);
      await db.execute(sql`TRUNCATE ${sql.join(names, sql.raw(', '))}`);
    },
    async teardown() {
      await client?.end({ timeout: 5 });
      await listen?.end({ timeout: 5 });
      const admin = pgClient({ max: 1 });
      try {
        if (schema !== undefined) await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await admin.end();
      }
      await bouncer?.stop();
    },
  },
  { describe, it, beforeAll, afterAll, beforeEach },
);
