import { MemoryStore } from 'bus-testing';
import { runConformanceSuite } from 'bus-testing/conformance';
import { afterAll, beforeAll, beforeEach, describe, it } from 'vitest';
import { InstrumentedStore } from '../src/instrumented-store.js';

// The suite the built-in stores pass, unchanged, on a custom store. It registers its tests with
// the runner's functions it is given (here vitest's), so this file is all a store's test needs.
const memory = new MemoryStore();

runConformanceSuite(
  {
    name: 'instrumented memory store',
    // Once before the suite: create the tables (or schema) and return the store.
    setup: async () => new InstrumentedStore(memory),
    // Before every test: empty both tables; the store object is reused.
    reset: async () => memory.clear(),
    // Once after the suite: close connections, drop what setup created.
    teardown: async () => {},
  },
  { describe, it, beforeAll, afterAll, beforeEach },
);
