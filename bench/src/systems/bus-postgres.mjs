// bus on PostgreSQL through postgres.js and Drizzle: LISTEN/NOTIFY wake-ups, archive per `opts`.
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { recreatePgDatabase } from '../admin.mjs';
import { packageVersion, pgUrl } from '../util.mjs';
import { busWorkloads } from './bus-common.mjs';

const DB = 'bench_bus';
const url = pgUrl(DB);

const queryLog = new Map();
if (process.env.BENCH_TRACE)
  process.on('exit', () => console.error('[queries]', JSON.stringify([...queryLog])));

const BOOKKEEPING = /^\s*(begin|commit|rollback|savepoint|release)\b|app_users/i;

async function connect({ max, countStatements = false }) {
  // BENCH_BUS_POSTGRES_MODULE: measure a patched build of the driver against the same peers.
  const { migrate, postgresStore } = await import(process.env.BENCH_BUS_POSTGRES_MODULE ?? 'bus-postgres');
  const statements = { count: 0 };
  const client = postgres(url, {
    max,
    onnotice: () => {},
    ...(countStatements || process.env.BENCH_TRACE
      ? {
          debug: (_conn, query) => {
            if (!BOOKKEEPING.test(query)) statements.count++;
            if (process.env.BENCH_TRACE) {
              const key = query.trim().slice(0, 40).replace(/\s+/g, ' ');
              queryLog.set(key, (queryLog.get(key) ?? 0) + 1);
            }
          },
        }
      : {}),
  });
  const db = drizzle(client);
  return {
    db,
    store: postgresStore(db),
    statements,
    migrate: () => migrate(db),
    warm: (n = 3) => Promise.all(Array.from({ length: n }, () => client`SELECT 1`)),
    live: async () => (await client`SELECT EXISTS (SELECT 1 FROM bus_events) AS live`)[0].live,
    appInsert: (tx, i) => tx.execute(sql`INSERT INTO app_users (email) VALUES (${`user${i}@example.com`})`),
    exec: (text) => client.unsafe(text),
    end: () => client.end({ timeout: 5 }),
  };
}

const driver = {
  connect,
  sleepInterval: 1000,
  async install() {
    await recreatePgDatabase(DB);
    const conn = await connect({ max: 1 });
    await conn.migrate();
    await conn.exec(
      'CREATE TABLE app_users (id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY, email text NOT NULL)',
    );
    await conn.end();
    return { version: `${packageVersion('bus-postgres')} (drizzle-orm ${packageVersion('drizzle-orm')})` };
  },
  async reset() {
    const conn = await connect({ max: 1 });
    await conn.exec('TRUNCATE bus_events, bus_events_archive, app_users');
    // The flow-control tables (a driver with issue 14's migration): a limits row left by a
    // limited system would make the next system's workers claim within it.
    await conn.exec(`DO $$ BEGIN
      IF to_regclass('bus_events_limits') IS NOT NULL THEN TRUNCATE bus_events_limits; END IF;
      IF to_regclass('bus_events_starts') IS NOT NULL THEN TRUNCATE bus_events_starts; END IF;
    END $$`);
    await conn.exec('VACUUM ANALYZE bus_events');
    await conn.end();
    return {};
  },
};

export const {
  install,
  reset,
  publish,
  publishUnique,
  prefill,
  drain,
  backlog,
  latencyWorker,
  latencyPublisher,
  txn,
} = busWorkloads(driver);
