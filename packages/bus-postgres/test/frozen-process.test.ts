import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFrozenProcess } from '../../../test-support/frozen-process.js';
import { postgresStore } from '../src/index.js';
import { archived, createTestSchema, PG_URL, type TestSchema } from './helpers.js';

// Issue 12, item 4: a worker process frozen (SIGSTOP) for longer than twice its lease, then
// continued. The worker process runs the built dist (`pnpm build` first, as `pnpm test` does).

const here = dirname(fileURLToPath(import.meta.url));
let t: TestSchema;

beforeAll(async () => {
  t = await createTestSchema('frozen');
});
afterAll(async () => {
  await t?.drop();
});

describe('a frozen worker process on PostgreSQL', () => {
  it('its rows run elsewhere; awake, its late completions are refused, its handlers aborted, and it works on', async () => {
    const store = postgresStore(t.db, { listen: false });
    const report = await runFrozenProcess({
      driver: 'postgres',
      cwd: join(here, '..'),
      env: { BUS_URL: PG_URL, BUS_SCHEMA: t.schema },
      store,
    });
    console.info(
      `frozen ${report.frozenMs} ms holding ${report.held.length} rows (${report.running.length} running); ` +
        `after waking: ${report.refused.size} completions refused, ${report.aborted.size} runs aborted ` +
        `(${[...new Set(report.aborted.values())]}), ${report.errorsAfterWake.length} error lines, ${report.newWorkAfterWake} new rows done`,
    );
    expect(report.frozenMs).toBeGreaterThan(2 * 1500);
    expect(report.running.length).toBeGreaterThan(0);
    const rows = await archived(store, { ids: report.held });
    expect(rows.map((r) => r.id).sort()).toEqual([...report.held].sort());
    for (const r of rows) {
      expect(r.status).toBe('completed');
      expect(report.completedHere.get(r.id), `row ${r.id} ran here`).toBe(r.attempts);
      expect(r.attempts).toBeGreaterThanOrEqual(2);
    }
    expect([...report.aborted.values()].every((reason) => reason === 'LEASE_LOST')).toBe(true);
    expect(report.aborted.size).toBeGreaterThan(0);
    for (const id of report.refused) expect(report.held).toContain(id);
    expect(report.errorsAfterWake.length, JSON.stringify(report.errorsAfterWake)).toBeLessThanOrEqual(3);
    expect(report.newWorkAfterWake).toBe(40);
    expect(report.exitCode).toBe(0);
    expect(report.leftLive).toBe(0);
  }, 90_000);
});
