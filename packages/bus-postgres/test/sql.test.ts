import { randomBytes } from 'node:crypto';
import { isBusError } from 'bus-core';
import { newEventRow as row } from 'bus-testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { createTestSchema, live, PG_URL, type TestSchema } from './helpers.js';

// How the operations' SQL meets PostgreSQL's limits: batches split into statements, conflicts
// reported as STORE_CONFLICT (never retried here), text PostgreSQL cannot store.

let t: TestSchema;
let store: PostgresStore;

beforeAll(async () => {
  t = await createTestSchema('sql');
  store = postgresStore(t.db, { listen: false });
});

beforeEach(() => t.truncate());

afterAll(async () => {
  await t?.drop();
});

async function claimAll(s: PostgresStore, workerId = 'w') {
  return s.claim({ queue: 'q', limit: 100, workerId, leaseMs: 60_000 });
}

describe('insert batches past one statement', () => {
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

describe('conflicts are STORE_CONFLICT, thrown at once', () => {
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

describe('text PostgreSQL cannot store', () => {
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
