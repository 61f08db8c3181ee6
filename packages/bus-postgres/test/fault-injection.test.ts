import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULTED_PATHS, runFaultDrain } from '../../../test-support/fault-drain.js';
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
    const { stats } = report;
    console.info(
      `drained ${report.inserted.size} rows in ${report.elapsedMs} ms (published in ${report.publishMs} ms); calls ${JSON.stringify(stats.calls)}; ` +
        `faults ${JSON.stringify(stats.faults)} ${JSON.stringify(stats.byKind)}; rejected ${JSON.stringify(report.rejected)}; ` +
        `${report.rerun.length} rows ran twice; ${report.failedOnPurpose} failed on purpose`,
    );
    for (const path of FAULTED_PATHS) expect(stats.faults[path] ?? 0, `faults in ${path}`).toBeGreaterThan(0);
    for (const id of report.acknowledged) expect(report.inserted.has(id), `acknowledged ${id}`).toBe(true);
    expect(report.inserted.size).toBeGreaterThanOrEqual(100_000);
    for (const id of report.inserted) expect(report.completions.has(id), `row ${id} ran`).toBe(true);
    for (const r of report.rerun) {
      expect(r.touched, `row ${r.id} ran twice (${r.attempts}) with no fault on it`).toBe(true);
      expect(new Set(r.attempts).size, `row ${r.id} attempts ${r.attempts}`).toBe(r.attempts.length);
    }
    expect(report.archivedTotal).toBe(report.inserted.size);
    expect(report.rejected.PUBLISH_OUTCOME_UNKNOWN ?? 0).toBeGreaterThan(0);
    expect(report.rejected.PUBLISH_FAILED ?? 0).toBeGreaterThan(0);
  }, 180_000);
});
