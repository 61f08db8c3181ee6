import type { StoredLimits } from 'bus-core/driver';
import { waitFor } from 'bus-testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type MySqlQueueStore, migrate, mysqlStore } from '../src/index.js';
import { createTestDatabase, live, row, type TestDatabase, truncate } from './helpers.js';

// Flow control on MariaDB past what the conformance suite asks of every store: keys that only
// bytes keep apart, the key scan across a key of thousands of rows, a key read split over several
// statements, and setLimits racing itself (the duplicate-key path).

let t: TestDatabase;
let store: MySqlQueueStore;

const none: StoredLimits = {
  concurrency: null,
  keyConcurrency: null,
  rateLimit: null,
  ratePeriodMs: null,
  keyRateLimit: null,
  keyRatePeriodMs: null,
  fair: false,
};

/** A limited claim of queue `q` by `w` through `on` (the shared store unless given). */
const claimOn = (on: MySqlQueueStore, limit: number, handlers = ['test.handler']) =>
  on.claim({ queue: 'q', limit, workerId: 'w', leaseMs: 60_000, handlers, limited: true });
const claim = (limit: number, handlers = ['test.handler']) => claimOn(store, limit, handlers);

async function keysOf(ids: string[]): Promise<(string | null)[]> {
  const rows = await live(store, { ids });
  const byId = new Map(rows.map((r) => [r.id, r.partitionKey ?? null]));
  return ids.map((id) => byId.get(id) ?? null);
}

beforeAll(async () => {
  t = await createTestDatabase();
  store = mysqlStore(t.db);
});

beforeEach(async () => {
  await truncate(t);
});

afterAll(async () => {
  await t?.drop();
});

describe('partition keys on MariaDB', () => {
  it('keeps any text as the key, up to 255 characters of 3-byte UTF-8, and rotates over them', async () => {
    const keys = ["it's", 'back\\slash', '%_wild', '🙂 emoji', '€'.repeat(255), 'a', 'a ', 'A'];
    await store.insert({ rows: keys.map((partitionKey) => row({ partitionKey })) });
    expect((await live(store)).map((r) => r.partitionKey)).toEqual(keys);
    await store.admin.setLimits({ queue: 'q', limits: { ...none, fair: true } });
    // One row a claim: the cursor is stored and compared as the key's bytes, so every key comes
    // once before any comes again.
    const taken: (string | null)[] = [];
    for (let i = 0; i < keys.length; i++) {
      const rows = await claim(1);
      expect(rows).toHaveLength(1);
      taken.push(...(await keysOf(rows.map((r) => r.id))));
    }
    expect([...taken].sort()).toEqual([...keys].sort());
    expect(await claim(1)).toEqual([]);
  });

  it('a key with thousands of ready rows takes its turn like a key with one', async () => {
    await store.insert({
      rows: [
        ...Array.from({ length: 3000 }, () => row({ partitionKey: 'big' })),
        ...Array.from({ length: 30 }, (_, i) => row({ partitionKey: `small-${String(i).padStart(2, '0')}` })),
      ],
    });
    await store.admin.setLimits({ queue: 'q', limits: { ...none, fair: true } });
    // Claims of 4 rows: each takes 4 keys in turn; 31 keys take 8 claims to come round.
    const seen: (string | null)[] = [];
    for (let i = 0; i < 8; i++) {
      const rows = await claim(4);
      const keys = await keysOf(rows.map((r) => r.id));
      expect(new Set(keys).size, JSON.stringify(keys)).toBe(keys.length);
      seen.push(...keys);
    }
    // The first 31 rows are one of each key; the 32nd starts the next turn.
    expect(new Set(seen.slice(0, 31)).size).toBe(31);
    expect(seen[31]).toBe(seen[0]);
  });

  it('reads a thousand keys with long handler names in several statements, every key once', async () => {
    // 50 handler names of 200 characters make each key's read about 22 KB: one statement cannot hold them all.
    const handlers = Array.from({ length: 50 }, (_, i) => `${String(i).padStart(3, '0')}${'h'.repeat(197)}`);
    const keys = Array.from({ length: 1000 }, (_, i) => `${String(i).padStart(4, '0')}${'k'.repeat(196)}`);
    await store.insert({
      rows: keys.flatMap((partitionKey, i) => [
        row({ partitionKey, handlerName: handlers[i % 50]! }),
        row({ partitionKey, handlerName: handlers[i % 50]! }),
      ]),
    });
    await store.admin.setLimits({ queue: 'q', limits: { ...none, keyConcurrency: 1 } });
    const rows = await claim(1000, handlers);
    expect(rows).toHaveLength(1000);
    expect(new Set(await keysOf(rows.map((r) => r.id)))).toEqual(new Set(keys));
    expect(await claim(1000, handlers)).toEqual([]);
  });
});

describe('limited and plain claimers side by side on MariaDB', () => {
  it('never deadlock: the limited claim locks rows by primary key only', async () => {
    // A locking read through key_idx kept key_idx locks of rows a plain claimer held, and the
    // two updates then waited on each other: with it, this test saw about one deadlock a round.
    const { db } = t.open({ connectionLimit: 14 });
    const own = mysqlStore(db);
    for (let round = 0; round < 6; round++) {
      // Rounds with a rotation (key reads) and without (the plain claim's locking read).
      await own.admin.setLimits({
        queue: 'q',
        limits: { ...none, concurrency: 100_000, fair: round % 2 === 0 },
      });
      await t.admin.query('DELETE FROM bus_events');
      await own.insert({
        rows: Array.from({ length: 600 }, (_, n) => row({ partitionKey: n % 3 === 0 ? null : `k${n % 7}` })),
      });
      const seen = new Set<string>();
      await Promise.all(
        Array.from({ length: 12 }, async (_, w) => {
          for (;;) {
            const got = await own.claim({
              queue: 'q',
              limit: 7,
              workerId: `w${w}`,
              leaseMs: 600_000,
              handlers: ['test.handler'],
              ...(w % 2 === 0 ? { limited: true } : {}),
            });
            if (got.length === 0) return;
            for (const c of got) {
              expect(seen.has(c.id)).toBe(false);
              seen.add(c.id);
            }
          }
        }),
      );
      expect(seen.size).toBe(600);
    }
  });
});

describe('the count of a limited claim on MariaDB', () => {
  it('a claim that waited on the limits lock counts the rows the transaction before it leased', async () => {
    await store.admin.setLimits({ queue: 'q', limits: { ...none, concurrency: 3 } });
    await store.insert({ rows: Array.from({ length: 6 }, () => row()) });
    // Another claimer's transaction: it holds the lock and leases 3 rows, the whole limit.
    const other = await t.pool.getConnection();
    try {
      await other.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
      await other.query('BEGIN');
      await other.query("SELECT queue FROM bus_events_limits WHERE queue = 'q' FOR UPDATE");
      await other.query(
        "UPDATE bus_events SET locked_by = 'other', locked_until = UTC_TIMESTAMP(6) + INTERVAL 1 MINUTE, attempts = attempts + 1 ORDER BY id LIMIT 3",
      );
      let done = false;
      const waiting = claim(10).finally(() => {
        done = true;
      });
      await waitFor(
        async () => {
          const [rows] = await t.admin.query(
            "SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'",
          );
          return Number((rows as { n: number }[])[0]!.n) > 0;
        },
        // INNODB_TRX is a cache that a read refreshes only 100 ms after the last one.
        { message: 'the claim waiting on the limits lock', intervalMs: 200 },
      );
      expect(done).toBe(false);
      await other.query('COMMIT');
      expect(await waiting, 'the 3 leases committed while it waited fill the limit').toEqual([]);
    } finally {
      other.release();
    }
    expect((await live(store)).filter((r) => r.lockedBy === 'w')).toEqual([]);
  });
});

describe('the count of a limited claim past group_concat_max_len on MariaDB', () => {
  it('a count list cut short by the server is read again whole: the limit holds', async () => {
    const { pool, db } = t.open();
    // MariaDB cuts JSON_ARRAYAGG at group_concat_max_len: 64 bytes hold about three keys' counts.
    pool.pool.on('connection', (conn) => {
      conn.query('SET SESSION group_concat_max_len = 64');
    });
    const own = mysqlStore(db);
    await own.admin.setLimits({ queue: 'q', limits: { ...none, concurrency: 12 } });
    await own.insert({
      rows: Array.from({ length: 20 }, (_, n) => row({ partitionKey: `key-${String(n).padStart(2, '0')}` })),
    });
    // Ten rows of ten keys leased by a plain claim: the count is ten groups, longer than 64 bytes.
    const held = await own.claim({
      queue: 'q',
      limit: 10,
      workerId: 'plain',
      leaseMs: 60_000,
      handlers: ['test.handler'],
    });
    expect(held).toHaveLength(10);
    const got = await claimOn(own, 10);
    expect(got, 'two places left under the limit of 12').toHaveLength(2);
  });
});

describe('setLimits racing itself on MariaDB', () => {
  it('concurrent first writes with different signatures all write; the row holds one of them', async () => {
    const signatures = Array.from({ length: 8 }, (_, i) => `sig-${i}`);
    const wrote = await Promise.all(
      signatures.map((signature, i) =>
        mysqlStore(t.db).admin.setLimits({
          queue: 'race',
          limits: { ...none, concurrency: i + 1 },
          signature,
        }),
      ),
    );
    expect(wrote).toEqual(signatures.map(() => true));
    const [stored] = await store.inspect.listLimits();
    expect(stored?.concurrency).toBeGreaterThanOrEqual(1);
  });

  it('concurrent first writes with one signature: exactly one writes', async () => {
    const wrote = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        mysqlStore(t.db).admin.setLimits({
          queue: 'same',
          limits: { ...none, concurrency: i + 1 },
          signature: 'one',
        }),
      ),
    );
    expect(wrote.filter(Boolean)).toHaveLength(1);
    expect(await store.inspect.listLimits()).toHaveLength(1);
  });
});

describe('custom flow-control table names on MariaDB', () => {
  it('migrate creates limitsTable and startsTable as named, and the store uses them', async () => {
    const names = { eventsTable: 'fx', archiveTable: 'fx_done', limitsTable: 'fx_l', startsTable: 'fx_s' };
    await migrate(t.db, names);
    const own = mysqlStore(t.db, names);
    await own.checkSchema();
    await own.insert({ rows: [row({ partitionKey: 'a' }), row({ partitionKey: 'b' })] });
    await own.admin.setLimits({ queue: 'q', limits: { ...none, keyRateLimit: 1, keyRatePeriodMs: 60_000 } });
    const rows = await claimOn(own, 10);
    expect(rows).toHaveLength(2);
    const [limits] = (await t.admin.query('SELECT COUNT(*) AS n FROM fx_l')) as unknown as [{ n: number }[]];
    const [starts] = (await t.admin.query('SELECT SUM(n) AS n FROM fx_s')) as unknown as [{ n: string }[]];
    expect(Number(limits[0]!.n)).toBe(1);
    expect(Number(starts[0]!.n)).toBe(2);
    expect(await store.inspect.listLimits()).toEqual([]);
  });
});
