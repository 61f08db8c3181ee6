import { BusError } from 'bus-core';
import { cancelTests } from './cancel.js';
import { claimByHandlerTests, claimTests } from './claim.js';
import { SuiteContext } from './context.js';
import { coreGuaranteeTests } from './core-guarantees.js';
import { endToEndTests } from './end-to-end.js';
import { flowTests } from './flow.js';
import { insertTests } from './insert.js';
import { inspectFilterTests, inspectTests } from './inspect.js';
import { checkLeaseTests, leaseTests } from './leases.js';
import { listenTests } from './listen.js';
import { clockAndSchemaTests } from './now.js';
import { pauseTests } from './pauses.js';
import { payloadTests } from './payloads.js';
import { pruneTests } from './prune.js';
import { redriveTests } from './redrive.js';
import { rescueTests } from './rescue.js';
import { runNowTests } from './run-now.js';
import type { TestRunner } from './runner.js';
import { scheduleTests } from './schedules.js';
import { settleJobControlTests, settleTests } from './settle.js';
import type { ConformanceTarget } from './target.js';
import { traceContextTests } from './trace-context.js';
import { transactionTests } from './transactions.js';
import { uniqueTests } from './unique.js';
import { workerTests } from './workers.js';

export { HOSTILE_STRINGS } from './payloads.js';
export { busRoundTrip, storeRoundTrip } from './round-trip.js';
export type { TestFn, TestRunner } from './runner.js';
export type { ConformanceTarget } from './target.js';

const RUNNER_FUNCTIONS = ['describe', 'it', 'beforeAll', 'afterAll', 'beforeEach'] as const;

/**
 * The store contract suite (`bus-testing/conformance`): every written rule of `QueueStore` (the
 * contract in `bus-core/driver`), checked by calling the store directly, one area per file, plus
 * a handful of checks through the bus. Every store passes it unchanged; a difference is a bug.
 * It registers its tests with the given runner and asserts with `node:assert`, so it runs under
 * vitest, node:test, jest or mocha and does not load any runner itself.
 *
 * @example
 * import { afterAll, beforeAll, beforeEach, describe, it } from 'vitest';
 * const store = new MemoryStore();
 * runConformanceSuite(
 *   { name: 'memory', setup: async () => store, reset: async () => store.clear(), teardown: async () => {} },
 *   { describe, it, beforeAll, afterAll, beforeEach },
 * );
 */
export function runConformanceSuite<TTx>(target: ConformanceTarget<TTx>, runner: TestRunner): void {
  const missing = RUNNER_FUNCTIONS.filter(
    (name) => typeof (runner as Partial<TestRunner> | undefined)?.[name] !== 'function',
  );
  if (missing.length > 0) {
    // The suite of bus-testing 0.1 took only the target and imported vitest itself.
    throw new BusError(
      'INVALID_ARGUMENT',
      `runConformanceSuite(target, runner) needs the test runner's ${missing.join(', ')}: pass { describe, it, beforeAll, afterAll, beforeEach } from vitest (node:test: beforeAll: before, afterAll: after)`,
      { value: missing },
    );
  }
  const s = new SuiteContext(target, runner);
  runner.describe(`store conformance: ${target.name}`, () => {
    runner.beforeAll(() => s.setup());
    runner.afterAll(() => target.teardown());
    runner.beforeEach(() => target.reset());
    insertTests(s);
    claimTests(s);
    claimByHandlerTests(s);
    settleTests(s);
    settleJobControlTests(s);
    leaseTests(s);
    checkLeaseTests(s);
    rescueTests(s);
    pruneTests(s);
    inspectTests(s);
    inspectFilterTests(s);
    cancelTests(s);
    redriveTests(s);
    runNowTests(s);
    pauseTests(s);
    workerTests(s);
    traceContextTests(s);
    payloadTests(s);
    transactionTests(s);
    listenTests(s);
    clockAndSchemaTests(s);
    coreGuaranteeTests(s);
    endToEndTests(s);
    uniqueTests(s);
    scheduleTests(s);
    flowTests(s);
  });
}
