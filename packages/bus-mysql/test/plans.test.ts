import { encodePayload } from 'bus-core';
import type { NewEventRow } from 'bus-core/driver';
import { waitFor } from 'bus-testing';
import { drizzle } from 'drizzle-orm/mysql2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { soak } from '../../../bench/src/soak.mjs';
import { TEST_MYSQL_URL } from '../../../test-support/databases.js';
import { type MySqlQueueStore, type MySqlTx, mysqlStore } from '../src/index.js';
import { createTestDatabase, live, row as newRow, type TestDatabase } from './helpers.js';

// Issue 12, item 5: every statement of claim, settle, the heartbeat, rescue and prune reads the
// bus tables through an index (no full scan), with thousands of rows in both tables, so a schema
// change that loses an index fails here. The statements are the store's own: captured from a
// Drizzle logger while each operation runs, then EXPLAINed as they were sent.

let t: TestDatabase;
let store: MySqlQueueStore;
let captured: { sql: string; params: unknown[] }[] = [];

const row = (queue: string, due = 0): NewEventRow =>
  newRow({
    queue,
    eventName: 'plan.event',
    handlerName: 'plan.handler',
    payload: encodePayload({ queue }),
    due,
  });

beforeAll(async () => {
  t = await createTestDatabase();
  const { pool } = t.open({ connectionLimit: 4 });
  const db = drizzle(pool, {
    logger: { logQuery: (sql, params) => void captured.push({ sql, params }) },
  }) as unknown as MySqlTx;
  store = mysqlStore(db);
  const plain = mysqlStore(t.db);
  // Live rows in two queues, most of them delayed (as a big backlog is), and an archive.
  const rows = [
    ...Array.from({ length: 4000 }, () => row('q')),
    ...Array.from({ length: 8000 }, () => row('q', 3_600_000)),
    ...Array.from({ length: 4000 }, () => row('other')),
  ];
  for (let i = 0; i < rows.length; i += 1000) await plain.insert({ rows: rows.slice(i, i + 1000) });
  for (let i = 0; i < 5; i++) {
    const claimed = await plain.claim({
      queue: 'other',
      limit: 500,
      workerId: 'w',
      leaseMs: 60_000,
      handlers: ['plan.handler'],
    });
    await plain.settle({
      workerId: 'w',
      outcomes: claimed.map((r) => ({ kind: 'completed', id: r.id, attempt: r.attempts, archive: true })),
    });
  }
  // Leased rows, some with a lease that has already ended.
  await plain.claim({
    queue: 'q',
    limit: 300,
    workerId: 'busy',
    leaseMs: 60_000,
    handlers: ['plan.handler'],
  });
  await plain.claim({ queue: 'q', limit: 50, workerId: 'gone', leaseMs: 1, handlers: ['plan.handler'] });
  await t.admin.query('ANALYZE TABLE bus_events, bus_events_archive');
});

afterAll(async () => {
  await t?.drop();
});

interface PlanRow {
  table: string | null;
  type: string | null;
  key: string | null;
  Extra: string | null;
}

/** Runs `operation` through the logging store and EXPLAINs every statement it sent. */
async function plansOf(operation: () => Promise<unknown>): Promise<{ sql: string; plan: PlanRow[] }[]> {
  captured = [];
  await operation();
  const statements = captured.filter(
    (s) =>
      !/^\s*(begin|commit|rollback|set |start transaction)/i.test(s.sql) &&
      !/^\s*insert into \S+ \(/i.test(s.sql),
  );
  expect(statements.length).toBeGreaterThan(0);
  const out: { sql: string; plan: PlanRow[] }[] = [];
  for (const s of statements) {
    const [plan] = (await t.admin.query(`EXPLAIN ${s.sql}`, s.params)) as unknown as [PlanRow[]];
    out.push({ sql: s.sql.replace(/\s+/g, ' ').slice(0, 200), plan });
  }
  return out;
}

function expectIndexed(plans: { sql: string; plan: PlanRow[] }[]): void {
  for (const { sql, plan } of plans) {
    for (const step of plan) {
      if (step.table === null || !/^bus_events/.test(step.table)) continue;
      const where = `${sql}\n${JSON.stringify(step)}`;
      expect(step.type, where).not.toBe('ALL');
      expect(step.key, where).not.toBeNull();
      expect(step.Extra ?? '', where).not.toMatch(/filesort/i);
    }
  }
}

describe('statement plans on MariaDB', () => {
  it('claim: the locking read walks claim_idx, the update goes by primary key', async () => {
    const plans = await plansOf(() =>
      store.claim({ queue: 'q', limit: 50, workerId: 'a', leaseMs: 60_000, handlers: ['plan.handler'] }),
    );
    expectIndexed(plans);
    expect(plans[0]!.plan[0]!.key).toBe('claim_idx');
  });

  it('settle: completions with archive, plain completions, retries and failures go by primary key', async () => {
    const claimed = await mysqlStore(t.db).claim({
      queue: 'q',
      limit: 40,
      workerId: 's',
      leaseMs: 60_000,
      handlers: ['plan.handler'],
    });
    const [a, b, c, d] = [
      claimed.slice(0, 10),
      claimed.slice(10, 20),
      claimed.slice(20, 30),
      claimed.slice(30),
    ];
    const out = (rows: typeof claimed, kind: 'completed' | 'failed', archive: boolean) =>
      rows.map((r) => ({ kind, id: r.id, attempt: r.attempts, archive, error: 'e' }));
    expectIndexed(await plansOf(() => store.settle({ workerId: 's', outcomes: out(a, 'completed', true) })));
    expectIndexed(await plansOf(() => store.settle({ workerId: 's', outcomes: out(b, 'completed', false) })));
    expectIndexed(
      await plansOf(() => store.settle({ workerId: 's', outcomes: out(c, 'failed', true) as never })),
    );
    expectIndexed(
      await plansOf(() =>
        store.settle({
          workerId: 's',
          outcomes: d.map((r) => ({
            kind: 'retry',
            id: r.id,
            attempt: r.attempts,
            delayMs: 1000,
            error: 'e',
          })),
        }),
      ),
    );
  });

  it('heartbeat and release: the fence and the update go by primary key', async () => {
    const claimed = await mysqlStore(t.db).claim({
      queue: 'q',
      limit: 20,
      workerId: 'h',
      leaseMs: 60_000,
      handlers: ['plan.handler'],
    });
    const events = claimed.map((r) => ({ id: r.id, attempt: r.attempts }));
    expectIndexed(await plansOf(() => store.extendLeases({ workerId: 'h', events, leaseMs: 60_000 })));
    expectIndexed(await plansOf(() => store.release({ workerId: 'h', events })));
  });

  it('rescue: the expiry scan walks locked_until_idx, the decisions go by primary key', async () => {
    await waitFor(async () => (await store.listExpired({ queues: ['q'], limit: 1 })).length > 0, {
      message: 'an expired lease',
    });
    const scan = await plansOf(() => store.listExpired({ queues: ['q', 'other'], limit: 100 }));
    expectIndexed(scan);
    expect(scan[0]!.plan[0]!.key).toBe('locked_until_idx');
    const expired = await store.listExpired({ queues: ['q'], limit: 100 });
    expectIndexed(
      await plansOf(() =>
        store.rescue({
          decisions: expired.map((r) => ({
            kind: 'retry',
            id: r.id,
            attempt: r.attempts,
            workerId: r.workerId,
            delayMs: 0,
            error: 'lease expired',
          })),
        }),
      ),
    );
  });

  it('prune: the archive is read through finished_at_idx and deleted by primary key', async () => {
    const plans = await plansOf(() => store.prune({ olderThanMs: 0, limit: 100 }));
    expectIndexed(plans);
    expect(plans[0]!.plan[0]!.key).toBe('finished_at_idx');
  });
});

// The limited claim (flow control) on a queue whose backlog is one key of thousands of rows, a
// few small keys and some rows without a key: the key reads go through key_idx and read about
// one entry per key (a key's thousands of rows cost a seek, never a walk), each key's rows are
// one range that stops at its limit, and the rest goes by primary key or its small tables' own
// indexes. The rows without a key are looked for among the first 500 ready rows in claim order
// (the contract's bounded read): claim_idx walked in order, stopping there.
describe('limited claim plans on MariaDB', () => {
  const limits = {
    concurrency: null,
    keyConcurrency: 2,
    rateLimit: 1000,
    ratePeriodMs: 60_000,
    keyRateLimit: null,
    keyRatePeriodMs: null,
    fair: false,
  };

  beforeAll(async () => {
    const plain = mysqlStore(t.db);
    const flowRow = (partitionKey: string | null) => ({ ...row('flow'), partitionKey });
    const rows = [
      ...Array.from({ length: 3000 }, () => flowRow('big')),
      ...Array.from({ length: 50 }, (_, i) => flowRow(`small-${i % 5}`)),
      ...Array.from({ length: 20 }, () => flowRow(null)),
    ];
    for (let i = 0; i < rows.length; i += 1000) await plain.insert({ rows: rows.slice(i, i + 1000) });
    await plain.admin.setLimits({ queue: 'flow', limits });
    await t.admin.query('ANALYZE TABLE bus_events, bus_events_limits, bus_events_starts');
  });

  const claim = () =>
    store.claim({
      queue: 'flow',
      limit: 10,
      workerId: 'f',
      leaseMs: 60_000,
      handlers: ['plan.handler'],
      limited: true,
    });

  it('every statement reads through an index; the key reads through key_idx, one entry per key', async () => {
    let claimed: Awaited<ReturnType<typeof claim>> = [];
    const plans = await plansOf(async () => {
      claimed = await claim();
    });
    // Two rows of each of the six keys would be 12: the claim's 10 include rows of several keys.
    const keys = new Set((await live(store, { ids: claimed.map((r) => r.id) })).map((r) => r.partitionKey));
    expect(claimed).toHaveLength(10);
    expect(keys.size).toBeGreaterThan(3);
    expectIndexed(plans);
    const keyReads = plans.filter((p) => /^SELECT partition_key FROM/.test(p.sql));
    const keyedReads = plans.filter((p) => /partition_key = /.test(p.sql));
    expect(keyReads.length).toBeGreaterThan(0);
    expect(keyedReads.length).toBeGreaterThan(0);
    for (const { sql, plan } of [...keyReads, ...keyedReads]) {
      for (const step of plan.filter((s) => s.table === 'bus_events')) {
        expect(step.key, sql).toBe('key_idx');
        expect(step.type, sql).toBe('range');
      }
    }
    // The keys in one statement: a loose index scan, a seek per key (not a walk of its rows).
    for (const { sql, plan } of keyReads) {
      expect(plan.find((s) => s.table === 'bus_events')?.Extra ?? '', sql).toMatch(/index for group-by/i);
    }
    // The window read of rows without a key walks claim_idx (its ORDER BY is the index's order).
    const window = plans.filter((p) => /^SELECT row_id, partition_key FROM \(/.test(p.sql));
    expect(window).toHaveLength(1);
    expect(window[0]!.plan.filter((s) => s.table === 'bus_events').map((s) => s.key)).toEqual(['claim_idx']);
    // What the reads of the hot table actually read (MariaDB's ANALYZE): not the big key's rows.
    const windowed = (sql: string) => /^\s*SELECT row_id, partition_key FROM \(/.test(sql);
    for (const s of captured.filter(
      (c) => /^\s*SELECT partition_key FROM|partition_key = /.test(c.sql) || windowed(c.sql),
    )) {
      const [result] = (await t.admin.query(`ANALYZE FORMAT=JSON ${s.sql}`, s.params)) as unknown as [
        { ANALYZE: string }[],
      ];
      const read = [...result[0]!.ANALYZE.matchAll(/"r_rows":\s*([\d.]+)/g)].map((m) => Number(m[1]));
      expect(Math.max(...read), s.sql).toBeLessThanOrEqual(windowed(s.sql) ? 500 : 20);
    }
  });

  it('with one row a key (keyConcurrency 1), the keys and their first rows are one statement: a loose scan, then one key_idx probe a key', async () => {
    await mysqlStore(t.db).admin.setLimits({
      queue: 'flow',
      limits: { ...limits, keyConcurrency: 1, rateLimit: null, ratePeriodMs: null },
    });
    const plans = await plansOf(claim);
    expectIndexed(plans);
    // One statement a page of keys (a second page when keys the earlier tests leased are at their limit).
    const keyed = plans.filter((p) => /^SELECT k.partition_key, /.test(p.sql));
    expect(keyed.length).toBeGreaterThan(0);
    expect(plans.filter((p) => /^SELECT partition_key FROM/.test(p.sql))).toEqual([]);
    for (const { sql, plan } of keyed) {
      const steps = plan.filter((s) => s.table === 'bus_events' || s.table === 'e');
      expect(
        steps.map((s) => s.key),
        sql,
      ).toEqual(['key_idx', 'key_idx']);
    }
    // The page read from the first key passes big's 3000 rows: a loose scan, a seek a key (a page
    // past the last key is a range of nothing, which the optimizer reads as a plain range).
    const keyedSql = captured.filter((c) => /^\s*SELECT k.partition_key, /.test(c.sql)).map((c) => c.sql);
    expect(keyedSql).toHaveLength(keyed.length);
    const fromFirst = keyed.filter((_, n) =>
      /partition_key IS NOT NULL\s+AND locked_until IS NULL/.test(keyedSql[n]!),
    );
    expect(fromFirst.length).toBeGreaterThan(0);
    for (const { sql, plan } of fromFirst) {
      expect(plan.find((s) => s.table === 'bus_events')?.Extra ?? '', sql).toMatch(/index for group-by/i);
    }
    // What they actually read (MariaDB's ANALYZE): an entry or two a key, not the big key's rows.
    for (const statement of captured.filter((c) => /^\s*SELECT k.partition_key, /.test(c.sql))) {
      const [result] = (await t.admin.query(
        `ANALYZE FORMAT=JSON ${statement.sql}`,
        statement.params,
      )) as unknown as [{ ANALYZE: string }[]];
      const read = [...result[0]!.ANALYZE.matchAll(/"r_rows":\s*([\d.]+)/g)].map((m) => Number(m[1]));
      expect(read.length).toBeGreaterThan(0);
      expect(Math.max(...read), statement.sql).toBeLessThanOrEqual(20);
    }
  });

  it('without a rotation (concurrency only) the claim reads claim_idx like the plain claim', async () => {
    await mysqlStore(t.db).admin.setLimits({
      queue: 'flow',
      limits: { ...limits, concurrency: 100, keyConcurrency: null },
    });
    const plans = await plansOf(claim);
    expectIndexed(plans);
    // The ready read of whole rows, in claim order.
    const ready = plans.filter((p) => /^SELECT CAST\(id AS CHAR\) AS row_id, queue, /.test(p.sql));
    expect(ready.map((p) => p.plan[0]?.key)).toEqual(['claim_idx']);
  });
});

// The soak (`pnpm soak`: 10,000,000 archived and 1,000,000 live rows, figures in
// docs/benchmarks.md) at a small size: the same drains and the prune beside them, run as a test so
// that the script keeps working; its speeds are not asserted here.
describe('the soak at a small size on MariaDB', () => {
  it('drains on empty and on filled tables, and prunes at its steady rate beside a drain', async () => {
    const report = await soak({
      scale: 0.002,
      drain: 2000,
      drivers: ['mysql'],
      database: `bus_soak_${process.pid}_${Date.now() % 100_000}`,
      urls: { mysql: TEST_MYSQL_URL },
    });
    const r = report.drivers.mysql!;
    expect(report.size).toMatchObject({ archived: 20_000, live: 2000, drain: 2000 });
    for (const drain of [r.empty, r.big, r.withPrune]) {
      expect(drain.rowsPerS).toBeGreaterThan(0);
      expect(drain.claim.n).toBeGreaterThan(0);
    }
    expect(r.withPrune.prune.deleted).toBeGreaterThanOrEqual(1000);
  }, 120_000);
});
