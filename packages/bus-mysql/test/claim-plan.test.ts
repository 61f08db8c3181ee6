import { encodePayload } from 'bus-core';
import type { NewEventRow } from 'bus-core/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlStore } from '../src/index.js';
import { createTestDatabase, live, row as newRow, type TestDatabase } from './helpers.js';

// The claim reads whole rows with FOR UPDATE SKIP LOCKED: a plan that sorted would read and lock
// every available row of the queue, and concurrent claimers would then find nothing. The plan
// must walk claim_idx in claim order and stop at LIMIT, with thousands of rows in other queues
// and in this one.

let t: TestDatabase;

function row(queue: string, priority = 0): NewEventRow {
  return newRow({
    queue,
    eventName: 'plan.event',
    handlerName: 'plan.handler',
    payload: encodePayload({ queue }),
    priority,
  });
}

const CLAIM_SELECT = `SELECT CAST(id AS CHAR) AS row_id, queue, event_name, handler_name, payload, attempts, max_retries, priority, created_at,
    trace_context, snoozes
  FROM bus_events FORCE INDEX (claim_idx)
  WHERE queue = 'q' AND locked_until IS NULL AND scheduled_at <= UTC_TIMESTAMP(6)
    AND CAST(handler_name AS BINARY) IN ('plan.handler', 'other.handler')
  ORDER BY priority, scheduled_at, id LIMIT 50 FOR UPDATE SKIP LOCKED`;

beforeAll(async () => {
  t = await createTestDatabase();
  const store = mysqlStore(t.db);
  const rows = [
    ...Array.from({ length: 3000 }, (_, i) => row('q', i % 7)),
    ...Array.from({ length: 3000 }, () => row('other')),
  ];
  for (let i = 0; i < rows.length; i += 1000) await store.insert({ rows: rows.slice(i, i + 1000) });
  // Some of the queue's rows already leased, as under load.
  await store.claim({
    queue: 'q',
    limit: 500,
    workerId: 'busy',
    leaseMs: 60_000,
    handlers: ['plan.handler'],
  });
  // An archive of failed and completed rows of both queues, for the redrive and list plans.
  const done = await store.claim({
    queue: 'other',
    limit: 1000,
    workerId: 'done',
    leaseMs: 60_000,
    handlers: ['plan.handler'],
  });
  await store.settle({
    workerId: 'done',
    outcomes: done.map((c, i) =>
      i % 2 === 0
        ? { kind: 'failed' as const, id: c.id, attempt: 1, archive: true, error: 'boom' }
        : { kind: 'completed' as const, id: c.id, attempt: 1, archive: true },
    ),
  });
  await t.admin.query('ANALYZE TABLE bus_events, bus_events_archive');
});

afterAll(async () => {
  await t?.drop();
});

describe('the claim plan on MariaDB', () => {
  it('uses claim_idx in order, without a sort', async () => {
    const [plan] = (await t.admin.query(`EXPLAIN ${CLAIM_SELECT}`)) as unknown as [
      { key: string | null; Extra: string | null }[],
    ];
    expect(plan).toHaveLength(1);
    expect(plan[0]!.key).toBe('claim_idx');
    expect(plan[0]!.Extra ?? '').not.toMatch(/filesort|temporary/i);
  });

  it('reads no more rows than it returns (it stops at LIMIT)', async () => {
    const [result] = (await t.admin.query(`ANALYZE FORMAT=JSON ${CLAIM_SELECT}`)) as unknown as [
      { ANALYZE: string }[],
    ];
    // r_rows: rows the table access actually read (MariaDB's ANALYZE).
    const read = [...result[0]!.ANALYZE.matchAll(/"r_rows":\s*([\d.]+)/g)].map((m) => Number(m[1]));
    expect(read.length).toBeGreaterThan(0);
    expect(Math.max(...read)).toBeLessThanOrEqual(50);
  });

  it('claims the next rows in priority order, attempts counted, while another claim holds its own', async () => {
    const store = mysqlStore(t.db);
    const [a, b] = await Promise.all([
      store.claim({ queue: 'q', limit: 100, workerId: 'a', leaseMs: 60_000, handlers: ['plan.handler'] }),
      store.claim({ queue: 'q', limit: 100, workerId: 'b', leaseMs: 60_000, handlers: ['plan.handler'] }),
    ]);
    expect(a).toHaveLength(100);
    expect(b).toHaveLength(100);
    expect(new Set([...a, ...b].map((r) => r.id)).size).toBe(200);
    for (const claimed of [a, b]) {
      const priorities = claimed.map((r) => r.priority);
      expect(priorities).toEqual([...priorities].sort((x, y) => x - y));
      expect(claimed.every((r) => r.attempts === 1 && r.queue === 'q')).toBe(true);
    }
    const leased = await live(store, { ids: a.slice(0, 3).map((r) => r.id) });
    expect(leased.map((r) => [r.lockedBy, r.attempts])).toEqual([
      ['a', 1],
      ['a', 1],
      ['a', 1],
    ]);
  });
});

// The admin calls lock what their read returns (FOR UPDATE, SKIP LOCKED for cancel and redrive),
// and MariaDB keeps whatever a locking read passes over locked until commit: their locking reads
// must probe the primary key for the ids, never scan. Their candidate reads (no locks) and the
// lists the dashboard pages through must read from an index in id order, or sort only matches.
describe('admin and list plans on MariaDB', () => {
  type Plan = { key: string | null; type: string; rows: number | string; Extra: string | null };
  async function explain(query: string): Promise<Plan[]> {
    const [plan] = (await t.admin.query(`EXPLAIN ${query}`)) as unknown as [Plan[]];
    return plan;
  }
  async function ids(table: string, n: number): Promise<string> {
    const [rows] = (await t.admin.query(
      `SELECT id FROM ${table} ORDER BY id DESC LIMIT ${n}`,
    )) as unknown as [{ id: number }[]];
    return rows.map((r) => r.id).join(', ');
  }

  it("cancel's locking read probes the primary key for its ids, whatever the filter", async () => {
    const list = await ids('bus_events', 20);
    const [plan] = await explain(
      `SELECT CAST(id AS CHAR) AS row_id FROM bus_events FORCE INDEX (PRIMARY)
       WHERE queue = 'q' AND locked_until IS NULL AND scheduled_at <= UTC_TIMESTAMP(6) AND id IN (${list})
       ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED`,
    );
    expect(plan!.key).toBe('PRIMARY');
    expect(plan!.type).toBe('range');
    expect(Number(plan!.rows)).toBeLessThanOrEqual(20);
  });

  it("redrive's locking read probes the archive primary key for its ids", async () => {
    const list = await ids('bus_events_archive', 20);
    const [plan] = await explain(
      `SELECT CAST(id AS CHAR) AS row_id FROM bus_events_archive FORCE INDEX (PRIMARY)
       WHERE status IN ('failed', 'cancelled') AND id IN (${list})
       ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED`,
    );
    expect(plan!.key).toBe('PRIMARY');
    expect(plan!.type).toBe('range');
    expect(Number(plan!.rows)).toBeLessThanOrEqual(20);
  });

  it('runNow and checkLeases by ids read the primary key', async () => {
    const list = await ids('bus_events', 20);
    for (const query of [
      `SELECT CAST(id AS CHAR) AS row_id, locked_until FROM bus_events WHERE id IN (${list}) ORDER BY id FOR UPDATE`,
      `SELECT CAST(id AS CHAR) AS row_id, attempts, locked_by FROM bus_events WHERE id IN (${list}) AND CAST(locked_by AS BINARY) = 'w' AND locked_until IS NOT NULL`,
      // settle's fence (lockHeld), which cancel makes race with more often.
      `SELECT CAST(id AS CHAR) AS row_id, attempts, locked_by FROM bus_events WHERE id IN (${list}) AND locked_by IN ('w') AND locked_until IS NOT NULL ORDER BY id FOR UPDATE`,
    ]) {
      const [plan] = await explain(query);
      expect(plan!.key, query).toBe('PRIMARY');
      expect(Number(plan!.rows), query).toBeLessThanOrEqual(20);
    }
  });

  it("a queue's archive by status, newest first, walks queue_status_idx without a sort", async () => {
    const [plan] = await explain(
      `SELECT CAST(id AS CHAR) AS row_id FROM bus_events_archive WHERE queue = 'other' AND status = 'failed' ORDER BY id DESC LIMIT 50`,
    );
    expect(plan!.key).toBe('queue_status_idx');
    expect(plan!.Extra ?? '').not.toMatch(/filesort|temporary/i);
  });

  it('redrive and the failure lists over every queue walk status_idx', async () => {
    const [one] = await explain(
      `SELECT CAST(id AS CHAR) AS row_id FROM bus_events_archive WHERE status = 'failed' ORDER BY id DESC LIMIT 50`,
    );
    expect(one!.key).toBe('status_idx');
    expect(one!.Extra ?? '').not.toMatch(/filesort|temporary/i);
    // Redrive's candidate read (no locks): the failed and cancelled rows, sorted.
    const [both] = await explain(
      `SELECT CAST(id AS CHAR) AS row_id FROM bus_events_archive WHERE status IN ('failed', 'cancelled')
       ORDER BY id LIMIT 1000`,
    );
    expect(both!.key).toBe('status_idx');
    // The failed rows only (half the archive here), not the completed ones.
    expect(Number(both!.rows)).toBeLessThanOrEqual(600);
  });

  it('a page of live rows after an id reads the primary key in order, without a sort', async () => {
    for (const order of ['', 'DESC']) {
      const [plan] = await explain(
        `SELECT CAST(id AS CHAR) AS row_id FROM bus_events WHERE id ${order === '' ? '>' : '<'} 3000 ORDER BY id ${order} LIMIT 50`,
      );
      expect(plan!.key).toBe('PRIMARY');
      expect(plan!.Extra ?? '').not.toMatch(/filesort|temporary/i);
    }
  });
});
