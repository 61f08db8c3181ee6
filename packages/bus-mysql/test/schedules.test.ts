import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isBusError as isConflictCause } from 'bus-core';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { runMissedTicks, runSkewedSchedulers, runUniquePublishers } from '../../../test-support/schedules.js';
import type { WorkerProcess } from '../../../test-support/worker-process.js';
import { mysqlStore } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './helpers.js';

// Unique publish and schedules on a real MariaDB/MySQL: concurrent publishers of one key in
// transactions that roll back at random, missed-tick policies while no process runs, and five
// worker processes with skewed host clocks (one SIGKILLed and restarted) publishing an
// every-second schedule: each tick exactly once. The scenarios are test-support/schedules.ts.

const here = dirname(fileURLToPath(import.meta.url));
let t: TestDatabase;
const running: WorkerProcess[] = [];

beforeAll(async () => {
  t = await createTestDatabase({ connectionLimit: 20 });
});

afterAll(async () => {
  for (const w of running.splice(0)) w.child.kill('SIGKILL');
  await t?.drop();
});

async function rowsOf<T>(query: string): Promise<T[]> {
  const [rows] = (await t.admin.query(query)) as unknown as [T[]];
  return rows;
}

async function count(query: string): Promise<number> {
  return Number((await rowsOf<{ n: string | number }>(query))[0]!.n);
}

describe('unique publish on MariaDB', () => {
  it('50 concurrent publishers of one key, some rolling back: one row per handler, free again after it leaves', async () => {
    await runUniquePublishers({
      store: mysqlStore(t.db),
      transaction: (fn) => t.db.transaction(fn),
      // InnoDB resolves inserters waiting on a holder that rolled back as a deadlock: one of
      // them is rolled back too (STORE_CONFLICT), its caller's to retry.
      rolledBack: (error) => isConflictCause((error as { cause?: unknown }).cause, 'STORE_CONFLICT'),
      rowsByHandler: async () =>
        (
          await rowsOf<{ handler_name: string; n: number }>(
            "SELECT handler_name, count(*) AS n FROM bus_events WHERE event_name = 'unique.order' GROUP BY 1 ORDER BY 1",
          )
        ).map((r) => ({ handler_name: String(r.handler_name), n: String(r.n) })),
      liveRows: () => count('SELECT count(*) AS n FROM bus_events'),
    });
  });
});

describe('schedules on MariaDB', () => {
  it('missed ticks while no process ran follow each policy (grace = one interval)', async () => {
    await runMissedTicks(mysqlStore(t.db));
  });

  it('5 worker processes with skewed clocks, one SIGKILLed and restarted: 60 ticks, each exactly once', async () => {
    const union = `(SELECT JSON_UNQUOTE(JSON_EXTRACT(payload_json, '$.at')) AS at FROM bus_events WHERE event_name = 'sched.tick'
          UNION ALL SELECT JSON_UNQUOTE(JSON_EXTRACT(payload_json, '$.at')) FROM bus_events_archive WHERE event_name = 'sched.tick') r`;
    await runSkewedSchedulers({
      fixturesDir: join(here, 'fixtures'),
      bundlePrefix: 'bus-mysql',
      config: (skewMs) => ({ url: t.url, skewMs }),
      // Counted here, not with count(DISTINCT) over the union: MariaDB 10.11.19 crashed (signal 11
      // in Create_tmp_table::cleanup_on_failure) on that query while the workers were inserting.
      distinctTicks: async () =>
        new Set((await rowsOf<{ at: string }>(`SELECT at FROM ${union}`)).map((r) => String(r.at))).size,
      tickRows: async () =>
        (
          await rowsOf<{ at: string; n: number }>(
            `SELECT at, count(*) AS n FROM ${union} GROUP BY 1 ORDER BY 1`,
          )
        ).map((r) => ({ at: String(r.at), n: String(r.n) })),
      running,
    });
  }, 100_000);
});
