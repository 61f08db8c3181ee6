import { runConformanceSuite } from 'bus-testing/conformance';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { createTestSchema, type TestSchema } from './helpers.js';

let t: TestSchema;
let store: PostgresStore;

runConformanceSuite({
  name: 'postgres (postgres.js)',
  async setup() {
    t = await createTestSchema('conf');
    store = postgresStore(t.db, { listenCheckInterval: 1000 });
    return store;
  },
  reset: () => t.truncate(),
  teardown: () => t.drop(),
});
