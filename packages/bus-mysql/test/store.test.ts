import { BusError, encodePayload, isBusError } from 'bus-core';
import { newEventRow } from 'bus-testing';
import { drizzle } from 'drizzle-orm/mysql2';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MySqlQueueStore, type MySqlTx, mysqlStore } from '../src/index.js';
import { formatUtc, parseUtc } from '../src/internal.js';
import { createTestDatabase, type TestDatabase, truncate } from './helpers.js';

const row = newEventRow;

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.drop();
});
beforeEach(async () => {
  await truncate(t);
});

describe('insert', () => {
  it.each([
    ['the default sql_mode', ''],
    ['NO_BACKSLASH_ESCAPES', 'NO_BACKSLASH_ESCAPES'],
  ])('writes quotes, backslashes, NULs and unicode literally under %s', async (_name, mode) => {
    const { db, pool } = t.open({ connectionLimit: 1 });
    try {
      if (mode !== '') await pool.query(`SET SESSION sql_mode = CONCAT(@@sql_mode, ',${mode}')`);
      const store = mysqlStore(db);
      const tricky = `it's "q" \\ \\' \0 ; DROP TABLE x; -- 🎉`;
      const payload = encodePayload({ tricky });
      const [id] = await store.insert({
        rows: [
          row({
            queue: "o'brien",
            eventName: "e'v",
            handlerName: 'h',
            payload,
            payloadJson: JSON.stringify({ tricky }),
          }),
        ],
      });
      const [stored] = await store.listEvents({ ids: [id!] });
      expect(stored).toMatchObject({ queue: "o'brien", eventName: "e'v", payloadJson: { tricky } });
      expect(Buffer.from(stored!.payload).equals(Buffer.from(payload))).toBe(true);
    } finally {
      await pool.end();
    }
  });

  it('returns ids in input order for a multi-row insert (RETURNING on MariaDB)', async () => {
    const store = mysqlStore(t.db);
    expect((await store.serverInfo()).mariadb).toBe(true);
    const rows = Array.from({ length: 50 }, (_, n) =>
      row({ payload: encodePayload({ n }), priority: n % 3 }),
    );
    const ids = await store.insert({ rows });
    const listed = await store.listEvents({ ids });
    const byId = new Map(listed.map((r) => [r.id, r]));
    ids.forEach((id, n) => {
      expect(byId.get(id)!.priority).toBe(n % 3);
    });
    expect(new Set(ids).size).toBe(50);
    // Numeric order (an id read as text must not sort '10' before '9').
    expect((await store.listEvents()).map((r) => r.id)).toEqual(ids);
  });

  it('computes ids from insertId and @@auto_increment_increment on MySQL (no RETURNING)', async () => {
    const info = await mysqlStore(t.db).serverInfo();
    const store = new MySqlQueueStore(t.db, {}, { ...info, mariadb: false });
    const [a] = await store.insert({ rows: [row()] });
    const concurrent = await Promise.all(
      Array.from({ length: 8 }, (_, w) =>
        store.insert({ rows: Array.from({ length: 200 }, (_, n) => row({ priority: w * 1000 + n })) }),
      ),
    );
    const listed = new Map((await store.listEvents()).map((r) => [r.id, r.priority]));
    expect(listed.get(a!)).toBe(0);
    concurrent.forEach((ids, w) => {
      ids.forEach((id, n) => {
        expect(listed.get(id)).toBe(w * 1000 + n);
      });
    });
    expect(listed.size).toBe(1 + 8 * 200);
  });

  it('splits a large batch into several statements inside one transaction', async () => {
    const store = mysqlStore(t.db);
    const big = new Uint8Array(300 * 1024).fill(7);
    const rows = Array.from({ length: 40 }, (_, n) => row({ payload: big, priority: n }));
    rows.push(...Array.from({ length: 2500 }, (_, n) => row({ priority: 100 + n })));
    const ids = await store.insert({ rows });
    expect(ids).toHaveLength(2540);
    const listed = new Map((await store.listEvents()).map((r) => [r.id, r]));
    ids.forEach((id, n) => {
      expect(listed.get(id)!.priority).toBe(n < 40 ? n : 100 + n - 40);
    });
    expect(listed.get(ids[0]!)!.payload).toEqual(big);

    // One transaction: a failure in a later statement leaves nothing behind.
    const bad = [...rows.slice(0, 1200), row({ queue: 'x'.repeat(300) })];
    const error = await store.insert({ rows: bad }).catch((e: unknown) => e);
    expect(isBusError(error, 'STORE_FAILED')).toBe(true);
    expect((await store.listEvents()).length).toBe(2540);
  });

  it('sets scheduled_at from database time: delay, runAt, and created_at', async () => {
    const store = mysqlStore(t.db);
    const now = await store.now();
    const runAt = new Date(now.getTime() + 123_456);
    const [d, r, z] = await store.insert({
      rows: [row({ delayMs: 60_000 }), row({ runAt }), row({ runAt: new Date('2020-01-01T00:00:00.001Z') })],
    });
    const rows = new Map((await store.listEvents()).map((x) => [x.id, x]));
    expect(rows.get(d!)!.scheduledAt.getTime() - rows.get(d!)!.createdAt.getTime()).toBeGreaterThanOrEqual(
      60_000,
    );
    expect(rows.get(d!)!.scheduledAt.getTime() - rows.get(d!)!.createdAt.getTime()).toBeLessThan(61_000);
    expect(rows.get(r!)!.scheduledAt.getTime()).toBe(runAt.getTime());
    expect(rows.get(z!)!.scheduledAt.toISOString()).toBe('2020-01-01T00:00:00.001Z');
    expect(Math.abs(rows.get(d!)!.createdAt.getTime() - now.getTime())).toBeLessThan(5000);
  });

  it('rejects a runAt outside the DATETIME range with INVALID_ARGUMENT', async () => {
    const error = await mysqlStore(t.db)
      .insert({ rows: [row({ runAt: new Date('0999-12-31T00:00:00Z') })] })
      .catch((e: unknown) => e);
    expect(isBusError(error, 'INVALID_ARGUMENT')).toBe(true);
  });
});

describe('claim', () => {
  it('claim and rescue read their index in order and stop at LIMIT: no sort, no lock on extra rows', async () => {
    const logged: { sql: string; params: unknown[] }[] = [];
    const db = drizzle(t.pool, { logger: { logQuery: (sql, params) => void logged.push({ sql, params }) } });
    const store = mysqlStore(db as unknown as MySqlTx);
    await store.insert({ rows: Array.from({ length: 500 }, (_, n) => row({ priority: n % 5 })) });
    await store.claim({ queue: 'q', limit: 50, workerId: 'w', leaseMs: 1 });
    await store.rescue({ error: 'x', limit: 20 });
    const statements = logged.filter((l) => /FOR UPDATE SKIP LOCKED/.test(l.sql));
    expect(statements).toHaveLength(2);
    await t.admin.query('ANALYZE TABLE bus_events');
    for (const { sql, params } of statements) {
      const text = mysql.format(sql, params as never[]).replace(/LIMIT \d+/, 'LIMIT 3');
      await t.admin.query('FLUSH STATUS');
      await t.admin.query('BEGIN');
      const [got] = (await t.admin.query(text)) as unknown as [unknown[]];
      const [status] = (await t.admin.query(
        "SHOW SESSION STATUS WHERE Variable_name IN ('Handler_read_next', 'Sort_rows', 'Sort_range', 'Sort_scan')",
      )) as unknown as [{ Variable_name: string; Value: string }[]];
      await t.admin.query('ROLLBACK');
      const counters = Object.fromEntries(status.map((s) => [s.Variable_name, Number(s.Value)]));
      expect(got.length, text).toBeLessThanOrEqual(3);
      expect(counters, text).toMatchObject({ Sort_rows: 0, Sort_range: 0, Sort_scan: 0 });
      expect(counters.Handler_read_next, text).toBeLessThanOrEqual(3);
    }
  });

  it('claims nothing for limit 0 and rejects a negative lease', async () => {
    const store = mysqlStore(t.db);
    await store.insert({ rows: [row()] });
    expect(await store.claim({ queue: 'q', limit: 0, workerId: 'w', leaseMs: 1000 })).toEqual([]);
    const error = await store
      .claim({ queue: 'q', limit: 1, workerId: 'w', leaseMs: -1 })
      .catch((e: unknown) => e);
    expect(isBusError(error, 'INVALID_ARGUMENT')).toBe(true);
  });

  it('queue names compare exactly (binary collation): q and Q are different queues', async () => {
    const store = mysqlStore(t.db);
    const [lower, upper] = await store.insert({ rows: [row({ queue: 'q' }), row({ queue: 'Q' })] });
    expect(
      (await store.claim({ queue: 'Q', limit: 10, workerId: 'w', leaseMs: 1000 })).map((c) => c.id),
    ).toEqual([upper]);
    expect(
      (await store.claim({ queue: 'q', limit: 10, workerId: 'w', leaseMs: 1000 })).map((c) => c.id),
    ).toEqual([lower]);
  });
});

describe('fencing', () => {
  it('worker ids compare exactly, trailing spaces and case included', async () => {
    const store = mysqlStore(t.db);
    const [id] = await store.insert({ rows: [row()] });
    await store.claim({ queue: 'q', limit: 1, workerId: 'Worker', leaseMs: 60_000 });
    for (const other of ['worker', 'Worker ', 'WORKER']) {
      expect(
        await store.extendLeases({ workerId: other, leaseMs: 1000, events: [{ id: id!, attempt: 1 }] }),
      ).toEqual([]);
      const r = await store.settle({
        workerId: other,
        outcomes: [{ kind: 'completed', id: id!, attempt: 1, archive: true }],
      });
      expect(r.settled).toEqual([]);
    }
    expect(
      await store.extendLeases({ workerId: 'Worker', leaseMs: 1000, events: [{ id: id!, attempt: 1 }] }),
    ).toEqual([id]);
  });

  it('settles a mixed batch: archived completions and failures, unarchived ones, retries; ignores strangers', async () => {
    const store = mysqlStore(t.db);
    const ids = await store.insert({ rows: Array.from({ length: 7 }, () => row({ maxRetries: 3 })) });
    await store.claim({ queue: 'q', limit: 7, workerId: 'w', leaseMs: 60_000 });
    const [c1, c2, f1, f2, r1, r2, r3] = ids as [string, string, string, string, string, string, string];
    const { settled } = await store.settle({
      workerId: 'w',
      outcomes: [
        { kind: 'completed', id: c1, attempt: 1, archive: true },
        { kind: 'completed', id: c2, attempt: 1, archive: false },
        { kind: 'failed', id: f1, attempt: 1, archive: true, error: "it's 'quoted' \\ and 🎉" },
        { kind: 'failed', id: f2, attempt: 1, archive: false, error: 'x' },
        { kind: 'retry', id: r1, attempt: 1, delayMs: 0, error: 'again' },
        { kind: 'retry', id: r2, attempt: 1, delayMs: 3_600_000, error: 'later' },
        { kind: 'retry', id: r3, attempt: 1, delayMs: 1e18, error: 'a delay beyond DATETIME is capped' },
        { kind: 'completed', id: '999999', attempt: 1, archive: true },
        { kind: 'completed', id: 'not-an-id', attempt: 1, archive: true },
        { kind: 'completed', id: c1, attempt: 1, archive: true },
      ],
    });
    expect(settled).toEqual([c1, c2, f1, f2, r1, r2, r3]);
    const archive = new Map((await store.listArchive()).map((a) => [a.id, a]));
    expect([...archive.keys()].sort()).toEqual([c1, f1].sort());
    expect(archive.get(c1)).toMatchObject({ status: 'completed', lastError: null, attempts: 1 });
    expect(archive.get(f1)).toMatchObject({ status: 'failed', lastError: "it's 'quoted' \\ and 🎉" });
    const live = new Map((await store.listEvents()).map((e) => [e.id, e]));
    expect([...live.keys()].sort()).toEqual([r1, r2, r3].sort());
    expect(live.get(r1)).toMatchObject({
      lockedBy: null,
      lockedUntil: null,
      lastError: 'again',
      attempts: 1,
    });
    const now = await store.now();
    expect(live.get(r2)!.scheduledAt.getTime() - now.getTime()).toBeGreaterThan(3_500_000);
    expect(
      (await store.claim({ queue: 'q', limit: 10, workerId: 'w', leaseMs: 1000 })).map((c) => c.id),
    ).toEqual([r1]);
    expect((await store.listArchive({ status: 'failed' })).map((a) => a.id)).toEqual([f1]);
  });
});

describe('time zones', () => {
  it('is right whatever the session time zone and the mysql2 timezone option are', async () => {
    const utc = mysqlStore(t.db);
    const { pool, db } = t.open({ timezone: '+05:30' });
    pool.pool.on('connection', (conn) => conn.query("SET time_zone = '-08:00'"));
    const skewed = mysqlStore(db);
    const [session] = (await pool.query('SELECT @@session.time_zone AS tz, NOW() AS local')) as unknown as [
      { tz: string }[],
    ];
    expect(session[0]!.tz).toBe('-08:00');

    const dbNow = await skewed.now();
    expect(Math.abs(dbNow.getTime() - Date.now())).toBeLessThan(5000);
    const runAt = new Date(dbNow.getTime() - 1000);
    const [due, later, explicit] = await skewed.insert({
      rows: [row(), row({ delayMs: 3_600_000 }), row({ runAt })],
    });
    const claimed = await skewed.claim({ queue: 'q', limit: 10, workerId: 'w', leaseMs: 60_000 });
    expect(claimed.map((c) => c.id).sort()).toEqual([due, explicit].sort());
    const seenFromUtc = new Map((await utc.listEvents()).map((r) => [r.id, r]));
    expect(seenFromUtc.get(explicit!)!.scheduledAt.getTime()).toBe(runAt.getTime());
    expect(seenFromUtc.get(later!)!.scheduledAt.getTime() - dbNow.getTime()).toBeGreaterThan(3_500_000);
    expect(Math.abs(seenFromUtc.get(due!)!.createdAt.getTime() - dbNow.getTime())).toBeLessThan(5000);
    expect(seenFromUtc.get(due!)!.lockedUntil!.getTime() - dbNow.getTime()).toBeGreaterThan(50_000);
  });

  it('parses and formats DATETIME(6) as UTC', () => {
    expect(parseUtc('2024-02-29 23:59:59.999999').toISOString()).toBe('2024-02-29T23:59:59.999Z');
    expect(parseUtc('2024-02-29 23:59:59').toISOString()).toBe('2024-02-29T23:59:59.000Z');
    expect(formatUtc(new Date('2024-02-29T23:59:59.123Z'))).toBe('2024-02-29 23:59:59.123');
  });
});

describe('errors', () => {
  it('wraps driver errors as STORE_FAILED with a short message and the driver error as cause', async () => {
    const store = mysqlStore(t.db, { eventsTable: 'missing_table' });
    const error = await store
      .claim({ queue: 'q', limit: 1, workerId: 'w', leaseMs: 1000 })
      .catch((e: unknown) => e);
    expect(isBusError(error, 'STORE_FAILED')).toBe(true);
    expect((error as BusError).message).toContain("missing_table' doesn't exist");
    expect((error as BusError).message.length).toBeLessThan(400);
    expect((error as { cause: { errno: number } }).cause.errno).toBe(1146);
  });

  it('store.transaction passes the caller’s own errors through untouched', async () => {
    const store = mysqlStore(t.db);
    const mine = new Error('mine');
    await expect(store.transaction(async () => Promise.reject(mine))).rejects.toBe(mine);
  });

  it('rejects a non-database argument', () => {
    expect(() => mysqlStore({} as never)).toThrow(BusError);
  });
});
