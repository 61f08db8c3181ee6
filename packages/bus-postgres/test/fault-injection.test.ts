import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFaultDrainOutcome, runFaultDrain } from '../../../test-support/fault-drain.js';
import type { Fault } from '../../../test-support/fault-store.js';
import { pgFailure } from '../src/errors.js';
import { postgresStore } from '../src/index.js';
import { createTestSchema, type TestSchema } from './helpers.js';

// Issue 12, item 3: 1% of store calls fail as PostgreSQL fails them (serialization failure
// 40001, deadlock 40P01, lock timeout 55P03, a connection reset before the statement or after its
// commit), over a 100k-row drain with handler retries, an archive of everything and retention
// pruning it.

let t: TestSchema;

beforeAll(async () => {
  t = await createTestSchema('faults', { max: 10 });
});
afterAll(async () => {
  await t?.drop();
});

/** The postgres.js error a server would send for `fault`. */
function serverError(fault: Fault): Error {
  const e = (message: string, code: string) => Object.assign(new Error(message), { code });
  switch (fault.kind) {
    case 'serialization':
      return e('could not serialize access due to concurrent update', '40001');
    case 'deadlock':
      return e('deadlock detected', '40P01');
    case 'lock-wait':
      return e('canceling statement due to lock timeout', '55P03');
    case 'connection-reset':
      return e('read ECONNRESET', 'ECONNRESET');
  }
}

/** The store's own mapping of that error, at the stage the fault struck. */
function errorFor(fault: Fault): unknown {
  const raw = serverError(fault);
  // A publish outside a transaction whose connection broke after the statement was sent.
  const unknown = fault.member === 'insert' && fault.phase === 'after';
  return pgFailure(fault.member, raw, unknown ? 'PUBLISH_OUTCOME_UNKNOWN' : undefined);
}

describe('injected transient errors on PostgreSQL', () => {
  it('a 100k-row drain loses nothing, reruns only rows a fault touched, and never halts', async () => {
    const report = await runFaultDrain({
      store: postgresStore(t.db, { listen: false }),
      errorFor,
      rows: 100_000,
    });
    expectFaultDrainOutcome(report, 100_000);
    expect(report.rejected.PUBLISH_OUTCOME_UNKNOWN ?? 0).toBeGreaterThan(0);
    expect(report.rejected.PUBLISH_FAILED ?? 0).toBeGreaterThan(0);
  }, 180_000);
});
