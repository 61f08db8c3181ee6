import { encodePayload } from 'bus-core';
import { newEventRow } from 'bus-testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { createTestSchema, live, type TestSchema } from './helpers.js';

// The claim locks what it reads (FOR UPDATE SKIP LOCKED): a plan that sorted would read and lock
// every available row of the queue, and concurrent claimers would then find nothing. The plan
// must walk the partial claim index in claim order and stop at LIMIT, with thousands of rows in
// other queues and in this one, and so must the generic plan postgres.js's prepared statement
// gets after a few runs.

let t: TestSchema;
let store: PostgresStore;

const row = (queue: string, priority = 0) =>
  newEventRow({
    queue,
    eventName: 'plan.event',
    handlerName: 'plan.handler',
    payload: encodePayload({ queue }),
    priority,
  });

// The claim's inner SELECT (src/sql/claim.ts) with the parameters written out.
const CLAIM_SELECT = `SELECT id FROM bus_events
  WHERE queue = $1::text AND locked_until IS NULL AND scheduled_at <= now()
    AND handler_name = ANY($3::text[])
  ORDER BY priority, scheduled_at, id
  LIMIT $2::int4
  FOR UPDATE SKIP LOCKED`;

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

async function explain(kind: 'custom' | 'generic'): Promise<PlanNode[]> {
  // In a transaction that rolls back: EXPLAIN ANALYZE runs the locking read for real.
  let plan: PlanNode[] = [];
  await t.client
    .begin(async (tx) => {
      await tx.unsafe(`PREPARE claim_${kind}(text, int4, text[]) AS ${CLAIM_SELECT}`);
      await tx.unsafe(`SET LOCAL plan_cache_mode = force_${kind}_plan`);
      const [result] = await tx.unsafe(
        `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE claim_${kind}('q', 50, '{plan.handler,other.handler}')`,
      );
      await tx.unsafe(`DEALLOCATE claim_${kind}`);
      plan = nodes((result as unknown as { 'QUERY PLAN': { Plan: PlanNode }[] })['QUERY PLAN'][0]!.Plan);
      throw new Error('roll back');
    })
    .catch((error: unknown) => {
      if ((error as Error).message !== 'roll back') throw error;
    });
  return plan;
}

beforeAll(async () => {
  t = await createTestSchema('plan');
  store = postgresStore(t.db, { listen: false });
  const rows = [
    ...Array.from({ length: 3000 }, (_, i) => row('q', i % 7)),
    ...Array.from({ length: 3000 }, () => row('other')),
  ];
  await store.insert({ rows });
  // Some of the queue's rows already leased, as under load.
  await store.claim({
    queue: 'q',
    limit: 500,
    workerId: 'busy',
    leaseMs: 60_000,
    handlers: ['plan.handler'],
  });
  await t.client`ANALYZE bus_events`;
});

afterAll(async () => {
  await t?.drop();
});

describe('the claim plan on PostgreSQL', () => {
  it.each([
    'custom' as const,
    'generic' as const,
  ])('%s plan: walks bus_events_claim_idx in order, without a sort, and reads no more than LIMIT', async (kind) => {
    const plan = await explain(kind);
    const scan = plan.find((n) => n['Index Name'] === 'bus_events_claim_idx');
    expect(scan, JSON.stringify(plan)).toBeDefined();
    expect(plan.map((n) => n['Node Type'])).not.toContain('Sort');
    expect(plan.map((n) => n['Node Type'])).not.toContain('Seq Scan');
    expect(scan!['Actual Rows']).toBeLessThanOrEqual(50);
  });

  it('claims the next rows in priority order, attempts counted, while another claim holds its own', async () => {
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
    expect(leased.every((r) => r.lockedBy === 'a' && r.lockedUntil !== null)).toBe(true);
  });
});
