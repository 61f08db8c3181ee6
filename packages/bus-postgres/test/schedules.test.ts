import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { runMissedTicks, runSkewedSchedulers, runUniquePublishers } from '../../../test-support/schedules.js';
import type { WorkerProcess } from '../../../test-support/worker-process.js';
import { postgresStore } from '../src/index.js';
import { createTestSchema, PG_URL, type TestSchema } from './helpers.js';

// Unique publish and schedules on a real PostgreSQL: concurrent publishers of one key in
// transactions that roll back at random, missed-tick policies while no process runs, and five
// worker processes with skewed host clocks (one SIGKILLed and restarted) publishing an
// every-second schedule: each tick exactly once. The scenarios are test-support/schedules.ts.

const here = dirname(fileURLToPath(import.meta.url));
let t: TestSchema;
const running: WorkerProcess[] = [];

beforeAll(async () => {
  t = await createTestSchema('sched', { max: 20 });
});

afterAll(async () => {
  for (const w of running.splice(0)) w.child.kill('SIGKILL');
  await t?.drop();
});

async function count(query: ReturnType<typeof sql>): Promise<number> {
  const rows = (await t.db.execute(query)) as unknown as { n: string }[];
  return Number(rows[0]!.n);
}

describe('unique publish on PostgreSQL', () => {
  it('50 concurrent publishers of one key, some rolling back: one row per handler, free again after it leaves', async () => {
    await runUniquePublishers({
      store: postgresStore(t.db),
      transaction: (fn) => t.db.transaction(fn),
      rowsByHandler: async () =>
        (await t.db.execute(
          sql`SELECT handler_name, count(*)::text AS n FROM bus_events WHERE unique_key = 'order-42' GROUP BY 1 ORDER BY 1`,
        )) as unknown as { handler_name: string; n: string }[],
      liveRows: () => count(sql`SELECT count(*)::text AS n FROM bus_events`),
    });
  });
});

describe('schedules on PostgreSQL', () => {
  it('missed ticks while no process ran follow each policy (grace = one interval)', async () => {
    await runMissedTicks(postgresStore(t.db, { listen: false }));
  });

  it('5 worker processes with skewed clocks, one SIGKILLed and restarted: 60 ticks, each exactly once', async () => {
    await runSkewedSchedulers({
      fixturesDir: join(here, 'fixtures'),
      bundlePrefix: 'bus-pg',
      config: (skewMs) => ({ url: PG_URL, schema: t.schema, skewMs }),
      distinctTicks: () =>
        count(sql`SELECT count(DISTINCT payload_json->>'at')::text AS n FROM (
          SELECT payload_json FROM bus_events WHERE event_name = 'sched.tick'
          UNION ALL SELECT payload_json FROM bus_events_archive WHERE event_name = 'sched.tick') r`),
      tickRows: async () =>
        (await t.db.execute(sql`SELECT payload_json->>'at' AS at, count(*)::text AS n FROM (
          SELECT payload_json FROM bus_events WHERE event_name = 'sched.tick'
          UNION ALL SELECT payload_json FROM bus_events_archive WHERE event_name = 'sched.tick') r
        GROUP BY 1 ORDER BY 1`)) as unknown as { at: string; n: string }[],
      running,
    });
  }, 100_000);
});
