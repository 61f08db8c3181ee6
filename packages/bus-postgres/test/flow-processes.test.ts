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
import { postgresStore } from '../src/index.js';
import { createTestSchema, PG_URL, type TestSchema } from './helpers.js';

// Flow control across worker OS processes on PostgreSQL (test-support/flow-processes.ts): four
// processes of ten slots each claim within the limits stored in the database, which only the
// row lock on the limits row and the shared counts can give. The workers run the built dist.

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
let t: TestSchema;
let options: FlowOptions;

beforeAll(async () => {
  t = await createTestSchema('flowproc');
  options = {
    driver: 'postgres',
    cwd: pkg,
    env: { BUS_URL: PG_URL, BUS_SCHEMA: t.schema },
    store: postgresStore(t.db, { listen: false }),
  };
});

afterAll(async () => {
  await t?.drop();
});

describe('flow control across four worker processes on PostgreSQL', () => {
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
