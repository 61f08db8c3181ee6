import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectFrozenProcessOutcome, runFrozenProcess } from '../../../test-support/frozen-process.js';
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
    expectFrozenProcessOutcome(report, await archived(store, { ids: report.held }));
  }, 90_000);
});
