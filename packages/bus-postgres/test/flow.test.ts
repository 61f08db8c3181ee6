import type { StoredLimits } from 'bus-core/driver';
import { newEventRow } from 'bus-testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { createPglite, createTestSchema, live, type TestSchema } from './helpers.js';

// The PostgreSQL side of flow control that the conformance suite does not reach: limited claims
// from many connections at once hold the limits (the row lock on the limits row serializes them),
// rate windows on the database's clock, and the same statements on PGlite's single connection.

const NONE: StoredLimits = {
  concurrency: null,
  keyConcurrency: null,
  rateLimit: null,
  ratePeriodMs: null,
  keyRateLimit: null,
  keyRatePeriodMs: null,
  fair: false,
};

const claimOf =
  (store: PostgresStore) =>
  (limit: number, workerId = 'w', queue = 'q') =>
    store.claim({ queue, limit, workerId, leaseMs: 60_000, handlers: ['test.handler'], limited: true });

const rows = (n: number, over: Parameters<typeof newEventRow>[0] = {}) =>
  Array.from({ length: n }, () => newEventRow(over));

describe('limited claims on postgres.js', () => {
  let t: TestSchema;
  let store: PostgresStore;

  beforeAll(async () => {
    t = await createTestSchema('flow', { max: 20 });
    store = postgresStore(t.db, { listen: false });
  });
  afterAll(async () => {
    await t?.drop();
  });
  beforeEach(async () => {
    await t.truncate();
  });

  it('twenty concurrent limited claims on twenty connections lease at most `concurrency` rows', async () => {
    await store.admin.setLimits({ queue: 'q', limits: { ...NONE, concurrency: 7 } });
    await store.insert({ rows: rows(100) });
    const claim = claimOf(store);
    const claimed = (await Promise.all(Array.from({ length: 20 }, (_, i) => claim(5, `w${i}`)))).flat();
    expect(claimed).toHaveLength(7);
    expect(new Set(claimed.map((r) => r.id)).size).toBe(7);
    expect((await live(store, { state: 'running' })).length).toBe(7);
  });

  it('concurrent limited claims keep one running row per key, and take every key', async () => {
    await store.admin.setLimits({ queue: 'q', limits: { ...NONE, keyConcurrency: 1 } });
    for (const key of ['a', 'b', 'c', 'd', 'e'])
      await store.insert({ rows: rows(10, { partitionKey: key }) });
    const claim = claimOf(store);
    const claimed = (await Promise.all(Array.from({ length: 10 }, (_, i) => claim(3, `w${i}`)))).flat();
    const running = await live(store, { state: 'running' });
    expect(running.map((r) => r.partitionKey).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(claimed).toHaveLength(5);
  });

  it("two processes' stores take turns round-robin: each claim starts after the key the other's last claim ended on", async () => {
    // Each store remembers the cursor its own last claim left (its first reads go out with the
    // lock from there); the other store moved it since, so those reads must give way to the
    // stored cursor, or a key would get a second turn before the others had their first.
    await store.admin.setLimits({ queue: 'q', limits: { ...NONE, fair: true } });
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (const key of keys) await store.insert({ rows: rows(4, { partitionKey: key }) });
    const other = postgresStore(t.db, { listen: false });
    const claims = [claimOf(store), claimOf(other)];
    const turns: string[] = [];
    for (let i = 0; i < 12; i++) {
      const [row] = await claims[i % 2]!(1, `w${i % 2}`);
      expect(row, `claim ${i}`).toBeDefined();
      const [seen] = await live(store, { ids: [row!.id] });
      turns.push(seen!.partitionKey!);
    }
    expect(turns).toEqual([...keys, ...keys]);
  });

  it('a rate limit counts the starts of every connection in its window, on the database clock', async () => {
    await store.admin.setLimits({ queue: 'q', limits: { ...NONE, rateLimit: 4, ratePeriodMs: 60_000 } });
    await store.insert({ rows: rows(20) });
    const claim = claimOf(store);
    const claimed = (await Promise.all(Array.from({ length: 10 }, (_, i) => claim(3, `w${i}`)))).flat();
    expect(claimed).toHaveLength(4);
    // A window that has passed gives its starts back: the recorded ones are older than 1 ms now.
    await store.admin.setLimits({ queue: 'q', limits: { ...NONE, rateLimit: 4, ratePeriodMs: 1 } });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await claim(10)).toHaveLength(4);
  });

  it('a plain claim beside limited ones is not limited (the core only sends `limited` for limited queues)', async () => {
    await store.admin.setLimits({ queue: 'q', limits: { ...NONE, concurrency: 1 } });
    await store.insert({ rows: rows(5) });
    expect(await claimOf(store)(5)).toHaveLength(1);
    const plain = await store.claim({
      queue: 'q',
      limit: 5,
      workerId: 'p',
      leaseMs: 60_000,
      handlers: ['test.handler'],
    });
    expect(plain).toHaveLength(4);
  });

  it('setLimits racing itself on a new queue from many connections: every call succeeds, one row stays', async () => {
    const writes = Array.from({ length: 20 }, (_, i) =>
      store.admin.setLimits({
        queue: 'race',
        limits: { ...NONE, concurrency: i + 1 },
        signature: `s${i % 3}`,
      }),
    );
    const wrote = await Promise.all(writes);
    expect(wrote.filter(Boolean).length).toBeGreaterThan(0);
    const rows = (await store.inspect.listLimits()).filter((r) => r.queue === 'race');
    expect(rows).toHaveLength(1);
  });

  it('partition keys of any text round-trip and are taken by their key (quotes, commas, braces, NULL)', async () => {
    const keys = ['a"b', 'c,d', '{e}', 'NULL', 'back\\slash', 'ünï cödé', ' '];
    await store.admin.setLimits({ queue: 'q', limits: { ...NONE, keyConcurrency: 1 } });
    await store.insert({ rows: keys.map((partitionKey) => newEventRow({ partitionKey })) });
    const claimed = await claimOf(store)(20);
    expect(claimed).toHaveLength(keys.length);
    const running = await live(store, { state: 'running' });
    expect(running.map((r) => r.partitionKey).sort()).toEqual([...keys].sort());
  });
});

describe('limited claims on PGlite (one connection)', () => {
  let lite: Awaited<ReturnType<typeof createPglite>>;
  let store: PostgresStore;

  beforeAll(async () => {
    lite = await createPglite();
    store = postgresStore(lite.db, { listen: false });
  });
  afterAll(async () => {
    await lite?.close();
  });

  it('locks the limits row, walks the keys with the recursive scan and records starts', async () => {
    await store.admin.setLimits({
      queue: 'q',
      limits: { ...NONE, keyConcurrency: 1, keyRateLimit: 2, keyRatePeriodMs: 60_000 },
    });
    for (const key of ['a', 'b', 'c']) await store.insert({ rows: rows(3, { partitionKey: key }) });
    await store.insert({ rows: rows(2) });
    const claim = claimOf(store);
    const first = await claim(10);
    expect(first).toHaveLength(5);
    // Both at once: the single connection runs one transaction after the other.
    const [second, third] = await Promise.all([claim(10), claim(10)]);
    expect([...second, ...third]).toHaveLength(0);
    const [limits] = await store.inspect.listLimits();
    expect(limits).toMatchObject({ queue: 'q', keyConcurrency: 1, keyRateLimit: 2, fair: false });
  });
});
