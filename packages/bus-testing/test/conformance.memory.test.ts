import { runConformanceSuite } from 'bus-testing/conformance';
import { afterAll, beforeAll, beforeEach, describe, it } from 'vitest';
import { MemoryStore } from '../src/index.js';

const store = new MemoryStore();

runConformanceSuite(
  {
    name: 'memory',
    setup: async () => store,
    reset: async () => store.clear(),
    teardown: async () => {},
    // A second store on the same tables that fills the JSON column.
    setupJsonPayload: async () => new MemoryStore({ tablesOf: store, jsonPayload: true }),
  },
  { describe, it, beforeAll, afterAll, beforeEach },
);
