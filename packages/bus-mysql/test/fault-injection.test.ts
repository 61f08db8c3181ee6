import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFaultDrainOutcome, runFaultDrain } from '../../../test-support/fault-drain.js';
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
    expectFaultDrainOutcome(report, 100_000);
    // Rejections are the two publish codes only (the helper throws on anything else), and both
    // happened: one publish that did not commit, one that may have (and did).
    expect(Object.keys(report.rejected).sort()).toEqual(['PUBLISH_FAILED', 'PUBLISH_OUTCOME_UNKNOWN']);
  }, 180_000);
});
