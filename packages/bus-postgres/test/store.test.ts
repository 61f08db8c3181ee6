import { randomBytes } from 'node:crypto';
import { encodePayload, isBusError } from 'bus-core';
import { newEventRow, waitFor } from 'bus-testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createBusTables, migrate, type PgTx, type PostgresStore, postgresStore } from '../src/index.js';
import {
  archived,
  createPglite,
  createTestSchema,
  live,
  PG_URL,
  pgClient,
  type TestSchema,
  tcpProxy,
  uniqueName,
} from './helpers.js';

const row = newEventRow;

let t: TestSchema;
let store: PostgresStore;
let lite: Awaited<ReturnType<typeof createPglite>>;
let liteStore: PostgresStore;

beforeAll(async () => {
  [t, lite] = await Promise.all([createTestSchema('store'), createPglite()]);
  store = postgresStore(t.db, { channel: uniqueName('wake') });
  liteStore = postgresStore(lite.db);
});

beforeEach(async () => {
  await t.truncate();
  await lite.db.execute(sql`TRUNCATE bus_events, bus_events_archive`);
});

afterAll(async () => {
  await lite?.close();
  await t?.drop();
});

const drivers = () =>
  [
    ['postgres.js', store, t.db],
    ['PGlite', liteStore, lite.db],
  ] as [string, PostgresStore, PgTx][];

describe('insert', () => {
  it.each([
    'postgres.js',
    'PGlite',
  ])('%s: 12,000 rows in one call, ids in input order, payloads intact', async (name) => {
    const [, s] = drivers().find(([n]) => n === name)!;
    const rows = Array.from({ length: 12_000 }, (_, n) =>
      row({ queue: `q${n % 3}`, payload: encodePayload({ n, pad: 'x'.repeat(n % 50) }), priority: n % 7 }),
    );
    const ids = await s.insert({ rows });
    expect(ids).toHaveLength(12_000);
    const numeric = ids.map(BigInt);
    for (let i = 1; i < numeric.length; i++) expect(numeric[i]! > numeric[i - 1]!).toBe(true);
    const listed = await live(s, { ids: [ids[0]!, ids[5_000]!, ids[11_999]!] });
    expect(listed.map((r) => [r.id, r.queue, r.priority])).toEqual([
      [ids[0], 'q0', 0],
      [ids[5_000], `q${5_000 % 3}`, 5_000 % 7],
      [ids[11_999], `q${11_999 % 3}`, 11_999 % 7],
    ]);
    expect([...listed[1]!.payload]).toEqual([...rows[5_000]!.payload]);
    expect(listed[1]!.payload.constructor).toBe(Uint8Array);
  });

  it.each(['postgres.js', 'PGlite'])('%s: rows written in a rolled-back transaction vanish', async (name) => {
    const [, s, db] = drivers().find(([n]) => n === name)!;
    const error = await db
      .transaction(async (tx) => {
        expect(await s.insert({ rows: [row(), row()], tx })).toHaveLength(2);
        throw new Error('roll back');
      })
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe('roll back');
    expect(await live(s)).toEqual([]);
  });

  it('with jsonPayload, stores the JSON column as jsonb (bytes as { $bytes })', async () => {
    const json = postgresStore(t.db, { jsonPayload: true, listen: false });
    const payload = encodePayload({ a: [1, 'two', { b: null }], bin: new Uint8Array([1, 2]) });
    const [id] = await json.insert({ rows: [row({ payload })] });
    const rows = (await t.db.execute(
      sql`SELECT jsonb_typeof(payload_json) AS t, payload_json->'a'->>1 AS two FROM bus_events WHERE id = ${id}::int8`,
    )) as unknown as { t: string; two: string }[];
    expect(rows).toEqual([{ t: 'object', two: 'two' }]);
    expect((await live(json, { ids: [id!] }))[0]!.payloadJson).toEqual({
      a: [1, 'two', { b: null }],
      bin: { $bytes: 'AQI=' },
    });
    // Without the option the column stays NULL.
    const [plain] = await store.insert({ rows: [row({ payload })] });
    expect((await live(store, { ids: [plain!] }))[0]!.payloadJson).toBeNull();
  });
});

// How the operations' SQL meets PostgreSQL's limits: batches split into statements, conflicts
// reported as STORE_CONFLICT (never retried here), text PostgreSQL cannot store.

async function claimAll(s: PostgresStore, workerId = 'w') {
  return s.claim({ queue: 'q', limit: 100, workerId, leaseMs: 60_000, handlers: ['test.handler'] });
}

describe('insert: batches past one statement', () => {
  // Three payloads of 12 MiB: over the 32 MiB one statement carries, so two statements.
  const payloads = Array.from({ length: 3 }, () => new Uint8Array(randomBytes(12 * 1024 * 1024)));

  it('are split into statements of one transaction: ids in input order, payloads intact', async () => {
    const rows = payloads.flatMap((payload, n) => [
      row({ payload, priority: n }),
      row({ payload, priority: n }),
    ]);
    const ids = await store.insert({ rows });
    expect(ids).toHaveLength(6);
    for (let i = 1; i < ids.length; i++) expect(BigInt(ids[i]!) > BigInt(ids[i - 1]!)).toBe(true);
    const listed = await live(store);
    expect(listed.map((r) => r.id)).toEqual(ids);
    for (const [i, r] of listed.entries()) {
      expect(Buffer.from(r.payload).equals(Buffer.from(payloads[Math.floor(i / 2)]!))).toBe(true);
    }
  });

  it('are all or nothing: a later statement that fails rolls the earlier ones back', async () => {
    // PostgreSQL text cannot hold U+0000: the last statement fails.
    const rows = [...payloads.map((payload) => row({ payload })), row({ queue: 'bad\u0000queue' })];
    const error = await store.insert({ rows }).catch((e: unknown) => e);
    expect(isBusError(error, 'STORE_FAILED'), String(error)).toBe(true);
    expect(await live(store)).toEqual([]);
  });

  it('inside a transaction, run in it (and roll back with it)', async () => {
    const rows = payloads.map((payload) => row({ payload }));
    const error = await t.db
      .transaction(async (tx) => {
        expect(await store.insert({ rows, tx })).toHaveLength(3);
        throw new Error('roll back');
      })
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe('roll back');
    expect(await live(store)).toEqual([]);
  });

  it('a payload too large to send is PUBLISH_FAILED before any statement', async () => {
    // 300 MB is 600 M hex characters: past what one V8 string holds.
    const huge = new Uint8Array(300 * 1024 * 1024);
    const error = await store.insert({ rows: [row({ payload: huge })] }).catch((e: unknown) => e);
    expect(isBusError(error, 'PUBLISH_FAILED'), String(error)).toBe(true);
    expect((error as Error).message).not.toContain('\n');
    expect(await live(store)).toEqual([]);
  });
});

describe('errors: conflicts are STORE_CONFLICT, thrown at once (the core retries them)', () => {
  it('a lock wait past lock_timeout (55P03)', async () => {
    const client = postgres(PG_URL, {
      max: 1,
      onnotice: () => {},
      connection: { search_path: t.schema, lock_timeout: 200 },
    });
    try {
      const waiting = postgresStore(drizzle(client), { listen: false });
      const [id] = await store.insert({ rows: [row()] });
      await claimAll(store);
      await t.client.begin(async (tx) => {
        await tx`SELECT 1 FROM bus_events WHERE id = ${id!}::int8 FOR UPDATE`;
        const started = Date.now();
        const error = await waiting
          .settle({ workerId: 'w', outcomes: [{ kind: 'completed', id: id!, attempt: 1, archive: true }] })
          .catch((e: unknown) => e);
        expect(isBusError(error, 'STORE_CONFLICT'), String(error)).toBe(true);
        expect((error as Error).message).toContain('55P03');
        // One statement, no retry inside the store: about one lock_timeout.
        expect(Date.now() - started).toBeLessThan(2000);
      });
      expect((await live(store, { ids: [id!] }))[0]?.lockedBy).toBe('w');
    } finally {
      await client.end();
    }
  });

  it('a deadlock between two settles in transactions (40P01): one fails, the other applies', async () => {
    const [a, b] = await store.insert({ rows: [row(), row()] });
    await claimAll(store);
    let locked = 0;
    let bothLocked!: () => void;
    const barrier = new Promise<void>((resolve) => {
      bothLocked = resolve;
    });
    // Each transaction locks one row, then settles the other: PostgreSQL detects the cycle.
    const crossSettle = (mine: string, theirs: string) =>
      t.db.transaction(async (tx) => {
        await tx.execute(sql`SELECT 1 FROM bus_events WHERE id = ${mine}::int8 FOR UPDATE`);
        if (++locked === 2) bothLocked();
        await barrier;
        return store.settle({
          workerId: 'w',
          tx,
          outcomes: [{ kind: 'completed', id: theirs, attempt: 1, archive: false }],
        });
      });
    const results = await Promise.allSettled([crossSettle(a!, b!), crossSettle(b!, a!)]);
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed).toHaveLength(1);
    const reason = (failed[0] as PromiseRejectedResult).reason;
    expect(isBusError(reason, 'STORE_CONFLICT'), String(reason)).toBe(true);
    expect((reason as Error).message).toContain('40P01');
    expect(await live(store)).toHaveLength(1);
  });
});

describe('settle: text PostgreSQL cannot store', () => {
  it('U+0000 in an error becomes U+FFFD instead of failing the settle', async () => {
    const [id] = await store.insert({ rows: [row()] });
    await claimAll(store);
    const { settled } = await store.settle({
      workerId: 'w',
      outcomes: [{ kind: 'retry', id: id!, attempt: 1, delayMs: 60_000, error: 'bad\u0000byte' }],
    });
    expect(settled).toEqual([id]);
    expect((await live(store, { ids: [id!] }))[0]?.lastError).toBe('bad\uFFFDbyte');
  });
});

describe('migrate on PGlite', () => {
  it('is idempotent there too', async () => {
    expect(await migrate(lite.db)).toEqual({ applied: [], adopted: [] });
  });
});

describe('errors', () => {
  it('driver errors surface as STORE_FAILED with the database message, and publish as PUBLISH_FAILED', async () => {
    const missing = postgresStore(t.db, { eventsTable: 'no_such_table', archiveTable: 'no_such_archive' });
    const error = await missing
      .claim({ queue: 'q', limit: 1, workerId: 'w', leaseMs: 1000, handlers: ['test.handler'] })
      .catch((e: unknown) => e);
    expect(isBusError(error, 'STORE_FAILED')).toBe(true);
    expect((error as Error).message).toContain('relation "no_such_table" does not exist');
    expect((error as Error).message.length).toBeLessThan(300);
    expect((error as Error & { cause: { code: string } }).cause.code).toBe('42P01');
  });
});

describe('custom table names', () => {
  it('migrate and the store use them; the default tables stay untouched', async () => {
    // The pauses and workers tables named on their own, not derived from the events table's name.
    const names = {
      eventsTable: uniqueName('jobs'),
      archiveTable: uniqueName('jobs_done'),
      pausesTable: uniqueName('jobs_held'),
      workersTable: uniqueName('jobs_procs'),
      keysTable: uniqueName('jobs_keys'),
      schedulesTable: uniqueName('jobs_ticks'),
      limitsTable: uniqueName('jobs_caps'),
      startsTable: uniqueName('jobs_runs'),
    };
    expect(await migrate(t.db, names)).toEqual({
      applied: [
        '0000_init',
        '0001_trace_context',
        '0002_job_control',
        '0003_unique_schedules',
        '0004_flow_control',
      ],
      adopted: [],
    });
    const custom = postgresStore(t.db, names);
    // The schema check looks for every table under the name given, derived or not.
    await custom.checkSchema();
    const [id] = await custom.insert({ rows: [row()] });
    const [claimed] = await custom.claim({
      queue: 'q',
      limit: 1,
      workerId: 'w',
      leaseMs: 60_000,
      handlers: ['test.handler'],
    });
    expect(claimed?.id).toBe(id);
    expect(
      await custom.settle({
        workerId: 'w',
        outcomes: [{ kind: 'completed', id: id!, attempt: 1, archive: true }],
      }),
    ).toEqual({ settled: [id] });
    expect((await archived(custom)).map((r) => r.id)).toEqual([id]);
    expect(await archived(store)).toEqual([]);
    const tables = (await t.db.execute(
      sql`SELECT tablename FROM pg_tables WHERE schemaname = ${t.schema} AND tablename LIKE 'jobs%' ORDER BY 1`,
    )) as unknown as { tablename: string }[];
    expect(tables.map((r) => r.tablename).sort()).toEqual(Object.values(names).sort());
    // The Drizzle tables of the same names map onto what migrate created.
    const tablesOf = createBusTables(names);
    const rows = await t.db
      .select({ id: tablesOf.archive.id, status: tablesOf.archive.status })
      .from(tablesOf.archive);
    expect(rows).toEqual([{ id: BigInt(id!), status: 'completed' }]);
    // Pauses and heartbeats land in the custom tables, not in the defaults.
    expect(await custom.admin.pause({ queue: 'q', handlerName: 'h' })).toBe(true);
    await custom.admin.recordWorker({ workerId: 'w', queues: ['q'], info: 'here' });
    expect((await custom.inspect.listPauses()).map((p) => [p.queue, p.handlerName])).toEqual([['q', 'h']]);
    expect((await custom.inspect.listWorkers({ seenWithinMs: 60_000 })).map((w) => w.workerId)).toEqual([
      'w',
    ]);
    expect(await store.inspect.listPauses()).toEqual([]);
    const held = await t.db.select().from(tablesOf.pauses);
    expect(held.map((r) => [r.queue, r.handlerName])).toEqual([['q', 'h']]);
    const procs = await t.db.select().from(tablesOf.workers);
    expect(procs.map((r) => [r.workerId, JSON.parse(r.queues)])).toEqual([['w', ['q']]]);
  });
});

describe('LISTEN/NOTIFY', () => {
  it.each([
    'postgres.js',
    'PGlite',
  ])('%s: wake-ups arrive at commit, never for rollbacks, and not for delayed rows', async (name) => {
    const [, s, db] = drivers().find(([n]) => n === name)!;
    const woken: (string | undefined)[] = [];
    const errors: unknown[] = [];
    const sub = await s.listen({ onWake: (q) => void woken.push(q), onError: (e) => void errors.push(e) });
    try {
      await s.insert({ rows: [row({ queue: 'plain' })] });
      await waitFor(() => woken.includes('plain'), { message: 'wake-up for an autocommit insert' });

      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const pending = db.transaction(async (tx) => {
        await s.insert({
          rows: [row({ queue: 'in-tx' }), row({ queue: 'in-tx' }), row({ queue: 'in-tx-2' })],
          tx,
        });
        await gate;
      });
      if (name === 'postgres.js') {
        // Another session commits meanwhile: its wake-up arrives, the open transaction's does not.
        await s.insert({ rows: [row({ queue: 'other' })] });
        await waitFor(() => woken.includes('other'), { message: 'wake-up of the other session' });
        expect(woken).not.toContain('in-tx');
      }
      release();
      await pending;
      await waitFor(() => woken.includes('in-tx') && woken.includes('in-tx-2'), {
        message: 'wake-up at commit',
      });
      expect(woken.filter((q) => q === 'in-tx')).toHaveLength(1);

      await db
        .transaction(async (tx) => {
          await s.insert({ rows: [row({ queue: 'rolled-back' })], tx });
          throw new Error('no');
        })
        .catch(() => undefined);
      await s.insert({ rows: [row({ queue: 'delayed', due: 60_000 })] });
      await s.insert({ rows: [row({ queue: 'last' })] });
      await waitFor(() => woken.includes('last'), { message: 'the last wake-up' });
      expect(woken).not.toContain('rolled-back');
      expect(woken).not.toContain('delayed');
      expect(errors).toEqual([]);
    } finally {
      await sub.close();
    }
  });

  it('postgres.js: the listener survives pg_terminate_backend and wakes the queues it works on', async () => {
    const app = uniqueName('bus-listen');
    const client = pgClient({ schema: t.schema, applicationName: app });
    const s = postgresStore(drizzle(client), { channel: uniqueName('wake'), listenCheckInterval: 200 });
    const woken: (string | undefined)[] = [];
    const sub = await s.listen({ onWake: (q) => void woken.push(q), onError: () => undefined });
    try {
      await waitFor(
        async () => {
          const rows = (await t.db.execute(
            sql`SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
              WHERE application_name = ${app} AND query ILIKE 'listen%'`,
          )) as unknown as { n: number }[];
          return rows[0]!.n === 1;
        },
        { message: 'the LISTEN backend to be terminated' },
      );
      // After re-listening it wakes every queue (no queue name): notifications may have been missed.
      await waitFor(() => woken.includes(undefined), {
        timeoutMs: 15_000,
        message: 'wake-all after re-listen',
      });
      await s.insert({ rows: [row({ queue: 'after' })] });
      await waitFor(() => woken.includes('after'), { timeoutMs: 15_000, message: 'wake-up after re-listen' });
    } finally {
      await sub.close();
      await client.end();
    }
  });

  it('postgres.js: after a network outage the supervised listener comes back', async () => {
    const proxy = await tcpProxy();
    const client = pgClient({ schema: t.schema, url: proxy.url });
    const channel = uniqueName('wake');
    const s = postgresStore(drizzle(client), { channel, listenCheckInterval: 200 });
    const direct = postgresStore(t.db, { channel, listen: false });
    const woken: (string | undefined)[] = [];
    const errors: unknown[] = [];
    const sub = await s.listen({ onWake: (q) => void woken.push(q), onError: (e) => void errors.push(e) });
    try {
      await proxy.down();
      await waitFor(() => errors.length > 0, { message: 'the listener to report the outage' });
      await proxy.up();
      // Published through another connection, until one gets through to the listener.
      await waitFor(
        async () => {
          await direct.insert({ rows: [row({ queue: 'back' })] });
          return woken.includes('back');
        },
        { timeoutMs: 40_000, intervalMs: 250, message: 'a wake-up after the outage' },
      );
    } finally {
      await sub.close();
      await client.end({ timeout: 1 });
      await proxy.close();
    }
  });
});
