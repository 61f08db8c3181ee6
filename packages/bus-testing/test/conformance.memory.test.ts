import { runConformanceSuite } from 'bus-testing/conformance';
import { MemoryStore } from '../src/index.js';

const store = new MemoryStore();

runConformanceSuite({
  name: 'memory',
  setup: async () => store,
  reset: async () => store.clear(),
  teardown: async () => {},
});
