import { runConformanceSuite } from 'bus-testing/conformance';
import { afterAll, beforeAll, beforeEach, describe, it } from 'vitest';
import { postgresStore } from '../src/index.js';
import { createTestSchema, type TestSchema } from './helpers.js';

let t: TestSchema;

runConformanceSuite(
  {
    name: 'postgres (postgres.js)',
    async setup() {
      t = await createTestSchema('conf');
      return postgresStore(t.db, { listenCheckInterval: 1000 });
    },
    setupJsonPayload: async () => postgresStore(t.db, { jsonPayload: true, listen: false }),
    reset: () => t.truncate(),
    teardown: () => t.drop(),
  },
  { describe, it, beforeAll, afterAll, beforeEach },
);
