/** A test body or hook; the suite's are all async. */
export type TestFn = () => void | Promise<void>;

/**
 * The few functions of a test runner the conformance suite registers its tests with, so it runs
 * under any runner: vitest's `{ describe, it, beforeAll, afterAll, beforeEach }` satisfy it as
 * they are, node:test's as `{ describe, it, beforeAll: before, afterAll: after, beforeEach }`
 * (jest's and mocha's globals too). The suite asserts with `node:assert/strict`, so a failure is
 * an `AssertionError` every runner reports.
 *
 * @example
 * import { after, before, beforeEach, describe, it } from 'node:test';
 * runConformanceSuite(target, { describe, it, beforeAll: before, afterAll: after, beforeEach });
 */
export interface TestRunner {
  describe(name: string, fn: () => void): unknown;
  it(name: string, fn: TestFn): unknown;
  beforeAll(fn: TestFn): unknown;
  afterAll(fn: TestFn): unknown;
  beforeEach(fn: TestFn): unknown;
}
