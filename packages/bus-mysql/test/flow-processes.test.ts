import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  expectFairness,
  expectGlobalLimit,
  expectKeyLimit,
  expectKilledSlotsReturn,
  expectRateLimit,
  type FlowOptions,
} from '../../../test-support/flow-processes.js';
import { mysqlStore } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './helpers.js';

// Flow control across worker OS processes on MariaDB (test-support/flow-processes.ts): four
// processes of ten slots each claim within the limits stored in the database, which only the
// row lock on the limits row and the shared counts can give. The workers run the built dist.

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
let t: TestDatabase;
let options: FlowOptions;

beforeAll(async () => {
  t = await createTestDatabase();
  options = { driver: 'mysql', cwd: pkg, env: { BUS_URL: t.url }, store: mysqlStore(t.db) };
});

afterAll(async () => {
  await t?.drop();
});

describe('flow control across four worker processes on MariaDB', () => {
  it('a global limit of 5 holds across every process, and is reached', async () => {
    await expectGlobalLimit(options);
  }, 180_000);

  it('a per-key limit of 1: no two runs of a key overlap, each key in publish order', async () => {
    await expectKeyLimit(options);
  }, 180_000);

  it('a rate of 50 per second across the processes', async () => {
    await expectRateLimit(options);
  }, 60_000);

  it("fairness: a key's one row is not stuck behind another key's backlog", async () => {
    await expectFairness(options);
  }, 120_000);

  it('a killed process gives its slots back within its lease and the rescue interval', async () => {
    await expectKilledSlotsReturn(options);
  }, 120_000);
});
