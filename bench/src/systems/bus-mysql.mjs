// bus on MariaDB/MySQL through mysql2 and Drizzle. No LISTEN/NOTIFY there: idle workers poll
// every `sleepInterval` (BENCH_BUS_MYSQL_SLEEP, default 20 ms, for the latency figure).
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/mysql2';
import { mysqlPool, resetMysqlTables } from '../admin.mjs';
import { packageVersion } from '../util.mjs';
import { busWorkloads } from './bus-common.mjs';

const queryLog = new Map();
if (process.env.BENCH_TRACE)
  process.on('exit', () => console.error('[queries]', JSON.stringify([...queryLog])));

const BOOKKEEPING = /^\s*(begin|start transaction|commit|rollback|set )|app_users/i;

async function connect({ max, countStatements = false }) {
  const { migrate, mysqlStore } = await import(process.env.BENCH_BUS_MYSQL_MODULE ?? 'bus-mysql');
  const pool = await mysqlPool({ connectionLimit: max });
  const statements = { count: 0 };
  const db = drizzle(pool, {
    ...(countStatements || process.env.BENCH_TRACE
      ? {
          logger: {
            logQuery: (query) => {
              if (!BOOKKEEPING.test(query)) statements.count++;
              if (process.env.BENCH_TRACE) {
                const key = query.trim().slice(0, 40).replace(/\s+/g, ' ');
                queryLog.set(key, (queryLog.get(key) ?? 0) + 1);
              }
            },
          },
        }
      : {}),
  });
  return {
    db,
    store: mysqlStore(db),
    statements,
    migrate: () => migrate(db),
    warm: (n = 3) => Promise.all(Array.from({ length: n }, () => pool.query('SELECT 1'))),
    live: async () => {
      const [rows] = await pool.query('SELECT EXISTS (SELECT 1 FROM bus_events) AS live');
      return Number(rows[0].live) === 1;
    },
    appInsert: (tx, i) =>
      tx.execute(sql`INSERT INTO bus_app_users (email) VALUES (${`user${i}@example.com`})`),
    exec: (text) => pool.query(text),
    end: () => pool.end(),
  };
}

const driver = {
  connect,
  sleepInterval: Number(process.env.BENCH_BUS_MYSQL_SLEEP ?? 20),
  async install() {
    // Every table migrate() makes, so a run after one of an older or newer version starts clean.
    await resetMysqlTables([
      'bus_events',
      'bus_events_archive',
      'bus_events_pauses',
      'bus_events_workers',
      'bus_events_keys',
      'bus_events_schedules',
      'bus_events_limits',
      'bus_events_starts',
      'bus_migrations',
      'bus_app_users',
    ]);
    const conn = await connect({ max: 1 });
    await conn.migrate();
    await conn.exec(
      'CREATE TABLE bus_app_users (id bigint unsigned AUTO_INCREMENT PRIMARY KEY, email varchar(200) NOT NULL) ENGINE=InnoDB',
    );
    await conn.end();
    return { version: `${packageVersion('bus-mysql')} (drizzle-orm ${packageVersion('drizzle-orm')})` };
  },
  async reset() {
    const conn = await connect({ max: 1 });
    await conn.exec('TRUNCATE bus_events');
    await conn.exec('TRUNCATE bus_events_archive');
    await conn.exec('TRUNCATE bus_app_users');
    // The flow-control tables (a driver with issue 14's migration): a limits row left by a
    // limited system would make the next system's workers claim within it.
    const [present] = await conn.exec(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN ('bus_events_limits', 'bus_events_starts')",
    );
    for (const { name } of present) await conn.exec(`TRUNCATE \`${name}\``);
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
