import type { QueueStore } from 'bus-core';

/**
 * What a driver hands the conformance suite: how to get a store on empty tables. Each driver's
 * test file calls `runConformanceSuite(target, runner)` (from `bus-testing/conformance`) with one.
 *
 * @example
 * const target: ConformanceTarget<MemoryTx> = {
 *   name: 'memory',
 *   setup: async () => store,
 *   reset: async () => store.clear(),
 *   teardown: async () => {},
 * };
 */
export interface ConformanceTarget<TTx = unknown> {
  /** Shown in test names, e.g. 'postgres (postgres.js)'. */
  name: string;
  /** Called once before the suite: create the schema/database and tables, return the store. */
  setup(): Promise<QueueStore<TTx>>;
  /**
   * Called before every test: empty every bus table — events, archive, pauses and workers (the
   * store objects are reused).
   */
  reset(): Promise<void>;
  /** Called once after the suite: close connections, drop the schema/database. */
  teardown(): Promise<void>;
  /**
   * Called once after `setup`, when given: a second store on the same tables with the store's
   * `jsonPayload` option on, for the tests of the JSON column (left out without it).
   */
  setupJsonPayload?(): Promise<QueueStore<TTx>>;
  /**
   * The store's database runs one statement at a time on one connection (PGlite): the few tests
   * that need a second session while a transaction is open (another caller skipping the rows a
   * transaction has locked) are left out, since on such a database that second statement waits
   * for the transaction, which waits for it.
   */
  singleConnection?: boolean;
}
