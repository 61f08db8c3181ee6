import type { QueueStore } from 'bus-core';

/**
 * What a driver hands the conformance suite: how to get a store on empty tables. Each driver's
 * test file calls `runConformanceSuite(target)` (imported from `bus-testing/conformance`) with one of these.
 */
export interface ConformanceTarget<TTx = unknown> {
  /** Shown in test names, e.g. 'postgres (postgres.js)'. */
  name: string;
  /** Called once before the suite: create the schema/database and tables, return the store. */
  setup(): Promise<QueueStore<TTx>>;
  /** Called before every test: empty both tables (the store object is reused). */
  reset(): Promise<void>;
  /** Called once after the suite: close connections, drop the schema/database. */
  teardown(): Promise<void>;
}
