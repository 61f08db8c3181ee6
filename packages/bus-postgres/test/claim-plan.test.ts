import { encodePayload } from 'bus-core';
import { newEventRow } from 'bus-testing';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { createTestSchema, live, PG_URL, type TestSchema } from './helpers.js';

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
  'Relation Name'?: string;
  'Index Name'?: string;
  'Sort Key'?: string[];
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
  // A few more queues in the archive, so that one queue is a small part of it.
  for (const queue of ['a1', 'a2', 'a3', 'a4']) {
    await store.insert({ rows: Array.from({ length: 300 }, () => row(queue)) });
    const rows = await store.claim({
      queue,
      limit: 300,
      workerId: 'done',
      leaseMs: 60_000,
      handlers: ['plan.handler'],
    });
    await store.settle({
      workerId: 'done',
      outcomes: rows.map((r, i) =>
        i % 3 === 0
          ? { kind: 'failed' as const, id: r.id, attempt: 1, archive: true, error: 'e' }
          : { kind: 'completed' as const, id: r.id, attempt: 1, archive: true },
      ),
    });
  }
  // An archive of mostly completed rows, with some failed and cancelled ones.
  const done = await store.claim({
    queue: 'other',
    limit: 2500,
    workerId: 'done',
    leaseMs: 60_000,
    handlers: ['plan.handler'],
  });
  await store.settle({
    workerId: 'done',
    outcomes: done.map((r, i) =>
      i % 10 === 0
        ? { kind: 'failed' as const, id: r.id, attempt: 1, archive: true, error: 'e' }
        : i % 10 === 1
          ? { kind: 'cancelled' as const, id: r.id, attempt: 1, archive: true, error: 'c' }
          : { kind: 'completed' as const, id: r.id, attempt: 1, archive: true },
    ),
  });
  await t.client`ANALYZE bus_events`;
  await t.client`ANALYZE bus_events_archive`;
  spied = postgres(PG_URL, {
    max: 1,
    onnotice: () => {},
    connection: { search_path: t.schema },
    debug: (_connection, query, parameters) => {
      statements.push({ query, parameters: parameters as unknown[] });
    },
  });
  spy = postgresStore(drizzle(spied), { listen: false });
});

afterAll(async () => {
  await spied?.end();
  await t?.drop();
});

// The statements the store sends, as postgres.js's debug hook sees them.
let spied: postgres.Sql;
let spy: PostgresStore;
const statements: { query: string; parameters: unknown[] }[] = [];
let prepared = 0;

/**
 * The generic plan (the one a prepared statement settles on) of the statement `run` makes the
 * store send. Run it with values that match nothing: the generic plan does not depend on them.
 */
async function planOf(run: (s: PostgresStore) => Promise<unknown>): Promise<PlanNode[]> {
  statements.length = 0;
  await run(spy);
  const { query, parameters } = statements.at(-1)!;
  const literals = parameters.map((p) => (p === null ? 'NULL' : `'${String(p).replaceAll("'", "''")}'`));
  let plan: PlanNode[] = [];
  // PREPARE is not undone by the rollback: a name of its own per call.
  const name = `planned_${++prepared}`;
  await t.client
    .begin(async (tx) => {
      await tx.unsafe(`PREPARE ${name} AS ${query}`);
      await tx.unsafe('SET LOCAL plan_cache_mode = force_generic_plan');
      const [result] = await tx.unsafe(
        `EXPLAIN (FORMAT JSON) EXECUTE ${name}${literals.length > 0 ? `(${literals.join(', ')})` : ''}`,
      );
      await tx.unsafe(`DEALLOCATE ${name}`);
      plan = nodes((result as unknown as { 'QUERY PLAN': { Plan: PlanNode }[] })['QUERY PLAN'][0]!.Plan);
      throw new Error('roll back');
    })
    .catch((error: unknown) => {
      if ((error as Error).message !== 'roll back') throw error;
    });
  return plan;
}

/**
 * The scans of `table` in `plan` (not its writes): every one is an index scan of one of `indexes`,
 * so no sequential scan reads the table.
 */
function expectIndexScans(plan: PlanNode[], table: string, ...indexes: string[]) {
  const scans = plan.filter((n) => n['Relation Name'] === table && n['Node Type'].endsWith('Scan'));
  const shown = JSON.stringify(scans.map((n) => [n['Node Type'], n['Index Name']]));
  expect(scans.length, shown).toBeGreaterThan(0);
  for (const scan of scans) {
    // A bitmap heap scan reads the rows its bitmap index scans found.
    const used =
      scan['Node Type'] === 'Bitmap Heap Scan'
        ? nodes(scan).filter((n) => n['Node Type'] === 'Bitmap Index Scan')
        : [scan];
    expect(scan['Node Type'], shown).toMatch(/^(Index( Only)? Scan|Bitmap Heap Scan)$/);
    expect(used.length, shown).toBeGreaterThan(0);
    for (const index of used) expect(indexes, shown).toContain(index['Index Name']);
  }
}

const NONE = ['9000000000000000000'];

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

describe('the plans of job control and inspection on PostgreSQL (generic plans)', () => {
  it('cancel by ids probes the primary key', async () => {
    const plan = await planOf((s) => s.admin.cancel({ ids: NONE, limit: 1000, archive: true, reason: 'r' }));
    expectIndexScans(plan, 'bus_events', 'bus_events_pkey');
  });

  it('redrive by ids probes the archive primary key', async () => {
    const plan = await planOf((s) => s.admin.redrive({ ids: NONE, statuses: ['failed'], limit: 1000 }));
    // Either index answers `id = ANY(…)` by probes; the failed one holds only redrivable rows.
    expectIndexScans(plan, 'bus_events_archive', 'bus_events_archive_pkey', 'bus_events_archive_failed_idx');
  });

  it("redrive by filter reads the queue's failed and cancelled rows in id order", async () => {
    const plan = await planOf((s) =>
      s.admin.redrive({ filter: { queue: 'none' }, statuses: ['failed', 'cancelled'], limit: 1000 }),
    );
    // The pick reads the queue's failed and cancelled rows; the delete probes the primary key.
    expectIndexScans(
      plan,
      'bus_events_archive',
      'bus_events_archive_failed_queue_idx',
      'bus_events_archive_pkey',
    );
    expect(plan.map((n) => n['Index Name'])).toContain('bus_events_archive_failed_queue_idx');
    // The only sort is of the returned ids, not of the archive rows the pick reads.
    const sorts = plan.filter((n) => n['Node Type'] === 'Sort').map((n) => n['Sort Key']);
    expect(sorts).toEqual([['ins.id']]);
  });

  it('run now, the lease check and the lease extension probe the primary key', async () => {
    expectIndexScans(await planOf((s) => s.admin.runNow({ ids: NONE })), 'bus_events', 'bus_events_pkey');
    const check = await planOf((s) =>
      s.checkLeases({ workerId: 'w', events: [{ id: NONE[0]!, attempt: 1 }] }),
    );
    expectIndexScans(check, 'bus_events', 'bus_events_pkey');
    const held = [{ id: NONE[0]!, attempt: 1 }];
    const extend = await planOf((s) => s.extendLeases({ workerId: 'w', events: held, leaseMs: 1000 }));
    expectIndexScans(extend, 'bus_events', 'bus_events_pkey');
  });

  it('listEvents by ids, and newest first after an id, use the primary key without a sort', async () => {
    const byIds = await planOf((s) => s.inspect.listEvents({ ids: NONE, limit: 100 }));
    expectIndexScans(byIds, 'bus_events', 'bus_events_pkey');
    const paged = await planOf((s) =>
      s.inspect.listEvents({ newestFirst: true, afterId: '3000', state: 'available', limit: 100 }),
    );
    expectIndexScans(paged, 'bus_events', 'bus_events_pkey');
    expect(paged.map((n) => n['Node Type'])).not.toContain('Sort');
  });

  it('listArchive of one queue and status reads only that queue in the failed-and-cancelled index', async () => {
    for (const queue of ['a1', 'none']) {
      const plan = await planOf((s) =>
        s.inspect.listArchive({ queue, status: 'cancelled', newestFirst: true, limit: 100 }),
      );
      expectIndexScans(plan, 'bus_events_archive', 'bus_events_archive_failed_queue_idx');
      expect(plan.map((n) => n['Node Type'])).not.toContain('Sort');
    }
  });

  it('listArchive of failed rows, newest first, walks the failed-and-cancelled index', async () => {
    const plan = await planOf((s) =>
      s.inspect.listArchive({ status: 'failed', newestFirst: true, limit: 100 }),
    );
    expectIndexScans(plan, 'bus_events_archive', 'bus_events_archive_failed_idx');
    expect(plan.map((n) => n['Node Type'])).not.toContain('Sort');
  });
});
