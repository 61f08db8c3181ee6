import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectFrozenProcessOutcome, runFrozenProcess } from '../../../test-support/frozen-process.js';
import { mysqlStore } from '../src/index.js';
import { archived, createTestDatabase, type TestDatabase } from './helpers.js';

// Issue 12, item 4: a worker process frozen (SIGSTOP) for longer than twice its lease, then
// continued. The worker process runs the built dist (`pnpm build` first, as `pnpm test` does).

const here = dirname(fileURLToPath(import.meta.url));
let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.drop();
});

describe('a frozen worker process on MariaDB', () => {
  it('its rows run elsewhere; awake, its late completions are refused, its handlers aborted, and it works on', async () => {
    const store = mysqlStore(t.db);
    const report = await runFrozenProcess({
      driver: 'mysql',
      cwd: join(here, '..'),
      env: { BUS_URL: t.url },
      store,
    });
    expectFrozenProcessOutcome(report, await archived(store, { ids: report.held }));
  }, 90_000);
});
