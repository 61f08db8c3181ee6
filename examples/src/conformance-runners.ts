// The contract suite on a store of your own, under vitest or under node:test.
import {
  after,
  before,
  beforeEach as nodeBeforeEach,
  describe as nodeDescribe,
  it as nodeIt,
} from 'node:test';
import { MemoryStore } from 'bus-testing';
import { type ConformanceTarget, runConformanceSuite } from 'bus-testing/conformance';
import { afterAll, beforeAll, beforeEach, describe, it } from 'vitest';

const store = new MemoryStore(); // your store: tables created, connections open

const target: ConformanceTarget = {
  name: 'my store',
  setup: async () => store,
  reset: async () => store.clear(), // empty both tables before each test
  teardown: async () => {}, // close connections
};

// vitest
runConformanceSuite(target, { describe, it, beforeAll, afterAll, beforeEach });

// node:test (`node --test`)
runConformanceSuite(target, {
  describe: nodeDescribe,
  it: nodeIt,
  beforeAll: before,
  afterAll: after,
  beforeEach: nodeBeforeEach,
});
