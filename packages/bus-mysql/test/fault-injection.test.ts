import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULTED_PATHS, runFaultDrain } from '../../../test-support/fault-drain.js';
import type { Fault } from '../../../test-support/fault-store.js';
import { insertFailure, mysqlFailure } from '../src/errors.js';
import { mysqlStore } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './helpers.js';

// Issue 12, item 3: 1% of store calls fail as MariaDB fails them (deadlock 1213, which is also
// InnoDB's serialization failure, SQLSTATE 40001; lock-wait timeout 1205; a connection reset
// before the statement or after its commit), over a 100k-row drain with handler retries, an
// archive of everything and retention pruning it.

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase({ connectionLimit: 12 });
});
afterAll(async () => {
  await t?.drop();
});

/** The mysql2 error a server would send for `fault`. */
function serverError(fault: Fault): Error {
  const e = (message: string, fields: Record<string, unknown>) => Object.assign(new Error(message), fields);
  switch (fault.kind) {
    case 'serialization':
    case 'deadlock':
      return e('Deadlock found when trying to get lock; try restarting transaction', {
        errno: 1213,
        code: 'ER_LOCK_DEADLOCK',
        sqlState: '40001',
      });
    case 'lock-wait':
      return e('Lock wait timeout exceeded; try restarting transaction', {
        errno: 1205,
        code: 'ER_LOCK_WAIT_TIMEOUT',
        sqlState: 'HY000',
      });
    case 'connection-reset':
      return e('read ECONNRESET', { errno: -104, code: 'ECONNRESET', fatal: true });
  }
}

/** The store's own mapping of that error, at the stage the fault struck. */
function errorFor(fault: Fault): unknown {
  const raw = serverError(fault);
  if (fault.member === 'insert') return insertFailure(raw, fault.phase === 'after' ? 'autocommit' : 'unsent');
  return mysqlFailure(fault.member, raw);
}

describe('injected transient errors on MariaDB', () => {
  it('a 100k-row drain loses nothing, reruns only rows a fault touched, and never halts', async () => {
    const report = await runFaultDrain({ store: mysqlStore(t.db), errorFor, rows: 100_000 });
    const { stats } = report;
    console.info(
      `drained ${report.inserted.size} rows in ${report.elapsedMs} ms (published in ${report.publishMs} ms); calls ${JSON.stringify(stats.calls)}; ` +
        `faults ${JSON.stringify(stats.faults)} ${JSON.stringify(stats.byKind)}; rejected ${JSON.stringify(report.rejected)}; ` +
        `${report.rerun.length} rows ran twice; ${report.failedOnPurpose} failed on purpose`,
    );
    for (const path of FAULTED_PATHS) expect(stats.faults[path] ?? 0, `faults in ${path}`).toBeGreaterThan(0);
    // Every acknowledged publish is among the inserted rows, and every inserted row ran.
    for (const id of report.acknowledged) expect(report.inserted.has(id), `acknowledged ${id}`).toBe(true);
    expect(report.inserted.size).toBeGreaterThanOrEqual(100_000);
    for (const id of report.inserted) expect(report.completions.has(id), `row ${id} ran`).toBe(true);
    // A row ran to success twice only when a fault hit a call that named it (a lost settle or
    // heartbeat), and then on a later attempt: claims stayed exclusive.
    for (const r of report.rerun) {
      expect(r.touched, `row ${r.id} ran twice (${r.attempts}) with no fault on it`).toBe(true);
      expect(new Set(r.attempts).size, `row ${r.id} attempts ${r.attempts}`).toBe(r.attempts.length);
    }
    // Each row entered the archive exactly once (retention pruned most of them meanwhile).
    expect(report.archivedTotal).toBe(report.inserted.size);
    // Rejections are the two publish codes only (the helper throws on anything else), and both
    // happened: one publish that did not commit, one that may have (and did).
    expect(Object.keys(report.rejected).sort()).toEqual(['PUBLISH_FAILED', 'PUBLISH_OUTCOME_UNKNOWN']);
  }, 180_000);
});
