import { type BusError, encodePayload, isBusError } from 'bus-core';
import { CONTRACT_LIMITS } from 'bus-core/driver';
import { waitFor } from 'bus-testing';
import { drizzle } from 'drizzle-orm/mysql2';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { formatUtc } from '../src/encode.js';
import { MySqlQueueStore, type MySqlTx, mysqlStore } from '../src/index.js';
import { parseUtc } from '../src/rows.js';
import { archived, createTestDatabase, live, row, type TestDatabase, truncate } from './helpers.js';

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
      const store = mysqlStore(db, { jsonPayload: true });
      const tricky = `it's "q" \\ \\' \0 ; DROP TABLE x; -- 🎉`;
      const payload = encodePayload({ tricky });
      const [id] = await store.insert({
        rows: [row({ queue: "o'brien", eventName: "e'v", handlerName: 'h', payload })],
      });
      const [stored] = await live(store, { ids: [id!] });
      expect(stored).toMatchObject({ queue: "o'brien", eventName: "e'v", payloadJson: { tricky } });
      expect(Buffer.from(stored!.payload).equals(Buffer.from(payload))).toBe(true);
    } finally {
      await pool.end();
    }
  });

  it('writes the JSON column only with jsonPayload, once per shared payload array', async () => {
    const payload = encodePayload({ n: 1, big: 2n ** 70n, bytes: new Uint8Array([1, 2]) });
    const [plain] = await mysqlStore(t.db).insert({ rows: [row({ payload })] });
    const [a, b] = await mysqlStore(t.db, { jsonPayload: true }).insert({
      rows: [row({ payload, handlerName: 'a' }), row({ payload, handlerName: 'b' })],
    });
    const rows = new Map((await live(mysqlStore(t.db))).map((r) => [r.id, r.payloadJson]));
    expect(rows.get(plain!)).toBeNull();
    const json = { n: 1, big: String(2n ** 70n), bytes: { $bytes: 'AQI=' } };
    expect(rows.get(a!)).toEqual(json);
    expect(rows.get(b!)).toEqual(json);
  });

  it('returns ids in input order for a multi-row insert (RETURNING on MariaDB)', async () => {
    const store = mysqlStore(t.db);
    expect((await store.serverInfo()).mariadb).toBe(true);
    const rows = Array.from({ length: 50 }, (_, n) =>
      row({ payload: encodePayload({ n }), priority: n % 3 }),
    );
    const ids = await store.insert({ rows });
    const listed = await live(store, { ids });
    const byId = new Map(listed.map((r) => [r.id, r]));
    ids.forEach((id, n) => {
      expect(byId.get(id)!.priority).toBe(n % 3);
    });
    expect(new Set(ids).size).toBe(50);
    // Numeric order (an id read as text must not sort '10' before '9').
    expect((await live(store)).map((r) => r.id)).toEqual(ids);
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
    const listed = new Map((await live(store)).map((r) => [r.id, r.priority]));
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
    const listed = new Map((await live(store)).map((r) => [r.id, r]));
    ids.forEach((id, n) => {
      expect(listed.get(id)!.priority).toBe(n < 40 ? n : 100 + n - 40);
    });
    expect(listed.get(ids[0]!)!.payload).toEqual(big);

    // One transaction: a failure in a later statement (a queue name wider than the column, which
    // the core would never pass) leaves nothing behind.
    const bad = [...rows.slice(0, 1200), row({ queue: 'x'.repeat(700) })];
    const error = await store.insert({ rows: bad }).catch((e: unknown) => e);
    expect(isBusError(error, 'STORE_FAILED'), String(error)).toBe(true);
    expect((await live(store)).length).toBe(2540);
  });

  it('takes queue, event and handler names of the contract’s full length', async () => {
    const store = mysqlStore(t.db);
    const name = 'n'.repeat(CONTRACT_LIMITS.maxNameLength);
    const [id] = await store.insert({ rows: [row({ queue: name, eventName: name, handlerName: name })] });
    const [claimed] = await store.claim({
      queue: name,
      limit: 1,
      workerId: 'w',
      leaseMs: 60_000,
      handlers: [name],
    });
    expect([claimed?.id, claimed?.queue, claimed?.eventName]).toEqual([id, name, name]);
    await store.settle({
      workerId: 'w',
      outcomes: [{ kind: 'completed', id: id!, attempt: 1, archive: true }],
    });
    expect((await archived(store)).map((a) => a.queue)).toEqual([name]);
  });

  it('sets scheduled_at from database time: a delay, an absolute due time, and created_at', async () => {
    const store = mysqlStore(t.db);
    const now = await store.now();
    const at = new Date(now.getTime() + 123_456);
    const [d, r, z] = await store.insert({
      rows: [row({ due: 60_000 }), row({ due: at }), row({ due: new Date('2020-01-01T00:00:00.001Z') })],
    });
    const rows = new Map((await live(store)).map((x) => [x.id, x]));
    const delay = rows.get(d!)!.scheduledAt.getTime() - rows.get(d!)!.createdAt.getTime();
    expect(delay).toBeGreaterThanOrEqual(60_000);
    expect(delay).toBeLessThan(61_000);
    expect(rows.get(r!)!.scheduledAt.getTime()).toBe(at.getTime());
    expect(rows.get(z!)!.scheduledAt.toISOString()).toBe('2020-01-01T00:00:00.001Z');
    expect(Math.abs(rows.get(d!)!.createdAt.getTime() - now.getTime())).toBeLessThan(5000);
  });
});

describe('claim and listExpired', () => {
  it('read their index in order and stop at LIMIT: no sort, no extra rows read', async () => {
    const logged: { sql: string; params: unknown[] }[] = [];
    const db = drizzle(t.pool, { logger: { logQuery: (sql, params) => void logged.push({ sql, params }) } });
    const store = mysqlStore(db as unknown as MySqlTx);
    await store.insert({ rows: Array.from({ length: 500 }, (_, n) => row({ priority: n % 5 })) });
    await store.claim({ queue: 'q', limit: 50, workerId: 'w', leaseMs: 1, handlers: ['test.handler'] });
    await waitFor(async () => (await store.listExpired({ queues: ['q'], limit: 20 })).length === 20, {
      message: 'the 1 ms leases to end',
    });
    const statements = logged.filter((l) => /FORCE INDEX \((claim_idx|locked_until_idx)\)/.test(l.sql));
    expect(new Set(statements.map((s) => /FORCE INDEX \((\w+)\)/.exec(s.sql)![1]))).toEqual(
      new Set(['claim_idx', 'locked_until_idx']),
    );
    await t.admin.query('ANALYZE TABLE bus_events');
    for (const { sql, params } of statements.slice(0, 2)) {
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

  it('queue names compare exactly (binary collation): q and Q are different queues', async () => {
    const store = mysqlStore(t.db);
    const [lower, upper] = await store.insert({ rows: [row({ queue: 'q' }), row({ queue: 'Q' })] });
    expect(
      (
        await store.claim({ queue: 'Q', limit: 10, workerId: 'w', leaseMs: 1000, handlers: ['test.handler'] })
      ).map((c) => c.id),
    ).toEqual([upper]);
    expect(
      (
        await store.claim({ queue: 'q', limit: 10, workerId: 'w', leaseMs: 1000, handlers: ['test.handler'] })
      ).map((c) => c.id),
    ).toEqual([lower]);
  });
});

describe('fencing', () => {
  it('worker ids compare exactly, trailing spaces and case included', async () => {
    const store = mysqlStore(t.db);
    const [id] = await store.insert({ rows: [row()] });
    await store.claim({
      queue: 'q',
      limit: 1,
      workerId: 'Worker',
      leaseMs: 60_000,
      handlers: ['test.handler'],
    });
    for (const other of ['worker', 'Worker ', 'WORKER']) {
      expect(
        await store.extendLeases({ workerId: other, leaseMs: 1000, events: [{ id: id!, attempt: 1 }] }),
      ).toEqual([]);
      const r = await store.settle({
        workerId: other,
        outcomes: [{ kind: 'completed', id: id!, attempt: 1, archive: true }],
      });
      expect(r.settled).toEqual([]);
      // The one-statement path (MariaDB, plain completions) fences the same way.
      const plain = await store.settle({
        workerId: other,
        outcomes: [{ kind: 'completed', id: id!, attempt: 1, archive: false }],
      });
      expect(plain.settled).toEqual([]);
    }
    expect(
      await store.extendLeases({ workerId: 'Worker', leaseMs: 1000, events: [{ id: id!, attempt: 1 }] }),
    ).toEqual([id]);
  });

  it('settles a mixed batch: archived completions and failures, unarchived ones, retries; ignores strangers', async () => {
    const store = mysqlStore(t.db);
    const ids = await store.insert({ rows: Array.from({ length: 7 }, () => row({ maxRetries: 3 })) });
    await store.claim({ queue: 'q', limit: 7, workerId: 'w', leaseMs: 60_000, handlers: ['test.handler'] });
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
        { kind: 'retry', id: r3, attempt: 1, delayMs: CONTRACT_LIMITS.maxDelayMs, error: 'in a century' },
        { kind: 'completed', id: '999999', attempt: 1, archive: true },
      ],
    });
    expect(settled).toEqual([c1, c2, f1, f2, r1, r2, r3]);
    const archive = new Map((await archived(store)).map((a) => [a.id, a]));
    expect([...archive.keys()].sort()).toEqual([c1, f1].sort());
    expect(archive.get(c1)).toMatchObject({ status: 'completed', lastError: null, attempts: 1 });
    expect(archive.get(f1)).toMatchObject({ status: 'failed', lastError: "it's 'quoted' \\ and 🎉" });
    const rows = new Map((await live(store)).map((e) => [e.id, e]));
    expect([...rows.keys()].sort()).toEqual([r1, r2, r3].sort());
    expect(rows.get(r1)).toMatchObject({
      lockedBy: null,
      lockedUntil: null,
      lastError: 'again',
      attempts: 1,
    });
    const now = await store.now();
    expect(rows.get(r2)!.scheduledAt.getTime() - now.getTime()).toBeGreaterThan(3_500_000);
    expect(rows.get(r3)!.scheduledAt.getUTCFullYear()).toBeGreaterThan(now.getUTCFullYear() + 99);
    expect(
      (
        await store.claim({ queue: 'q', limit: 10, workerId: 'w', leaseMs: 1000, handlers: ['test.handler'] })
      ).map((c) => c.id),
    ).toEqual([r1]);
    expect((await archived(store, { status: 'failed' })).map((a) => a.id)).toEqual([f1]);
  });

  it('release sets attempts to the held attempt minus one and keeps the due time', async () => {
    const store = mysqlStore(t.db);
    const [id] = await store.insert({ rows: [row()] });
    const [before] = await live(store);
    await store.claim({ queue: 'q', limit: 1, workerId: 'w', leaseMs: 60_000, handlers: ['test.handler'] });
    expect(await store.release({ workerId: 'w', events: [{ id: id!, attempt: 2 }] })).toEqual([]);
    expect(await store.release({ workerId: 'w', events: [{ id: id!, attempt: 1 }] })).toEqual([id]);
    const [after] = await live(store);
    expect([after!.attempts, after!.lockedBy, after!.lockedUntil]).toEqual([0, null, null]);
    expect(after!.scheduledAt).toEqual(before!.scheduledAt);
  });
});

describe('rescue', () => {
  it('applies decisions through the settle path, each fenced on its own holder and an ended lease', async () => {
    const store = mysqlStore(t.db);
    const ids = await store.insert({ rows: Array.from({ length: 5 }, () => row({ maxRetries: 1 })) });
    const [a, b, c, d, e] = ids as [string, string, string, string, string];
    await store.claim({
      queue: 'q',
      limit: 3,
      workerId: 'crashed-1',
      leaseMs: 1,
      handlers: ['test.handler'],
    });
    await store.claim({
      queue: 'q',
      limit: 1,
      workerId: 'crashed-2',
      leaseMs: 1,
      handlers: ['test.handler'],
    });
    await store.claim({
      queue: 'q',
      limit: 1,
      workerId: 'alive',
      leaseMs: 60_000,
      handlers: ['test.handler'],
    });
    const expired = await waitFor(
      async () => {
        const rows = await store.listExpired({ queues: ['q', 'other'], limit: 10 });
        return rows.length === 4 ? rows : undefined;
      },
      { message: 'four leases to end' },
    );
    expect(expired.map((x) => [x.id, x.workerId, x.attempts, x.maxRetries]).sort()).toEqual(
      [
        [a, 'crashed-1', 1, 1],
        [b, 'crashed-1', 1, 1],
        [c, 'crashed-1', 1, 1],
        [d, 'crashed-2', 1, 1],
      ].sort(),
    );
    expect(await store.listExpired({ queues: ['other'], limit: 10 })).toEqual([]);

    const applied = await store.rescue({
      decisions: [
        { kind: 'retry', id: a, attempt: 1, delayMs: 0, error: 'lease expired', workerId: 'crashed-1' },
        { kind: 'failed', id: b, attempt: 1, archive: true, error: 'gave up', workerId: 'crashed-1' },
        // Wrong holder, wrong attempt, a live lease: refused.
        { kind: 'retry', id: c, attempt: 1, delayMs: 0, error: 'x', workerId: 'crashed-2' },
        { kind: 'retry', id: d, attempt: 2, delayMs: 0, error: 'x', workerId: 'crashed-2' },
        { kind: 'retry', id: e, attempt: 1, delayMs: 0, error: 'x', workerId: 'alive' },
      ],
    });
    expect(applied.sort()).toEqual([a, b].sort());
    const rows = new Map((await live(store)).map((r) => [r.id, r]));
    expect(rows.get(a)).toMatchObject({
      lockedBy: null,
      lockedUntil: null,
      lastError: 'lease expired',
      attempts: 1,
    });
    expect(rows.get(c)).toMatchObject({ lockedBy: 'crashed-1', lastError: null });
    expect(rows.get(e)).toMatchObject({ lockedBy: 'alive' });
    expect((await archived(store)).map((x) => [x.id, x.status, x.lastError])).toEqual([
      [b, 'failed', 'gave up'],
    ]);

    // A holder that extended its lease in between keeps the row.
    expect(
      await store.extendLeases({ workerId: 'crashed-1', leaseMs: 60_000, events: [{ id: c, attempt: 1 }] }),
    ).toEqual([c]);
    expect(
      await store.rescue({
        decisions: [{ kind: 'retry', id: c, attempt: 1, delayMs: 0, error: 'x', workerId: 'crashed-1' }],
      }),
    ).toEqual([]);
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
    const at = new Date(dbNow.getTime() - 1000);
    const [due, later, explicit] = await skewed.insert({
      rows: [row(), row({ due: 3_600_000 }), row({ due: at })],
    });
    const claimed = await skewed.claim({
      queue: 'q',
      limit: 10,
      workerId: 'w',
      leaseMs: 60_000,
      handlers: ['test.handler'],
    });
    expect(claimed.map((c) => c.id).sort()).toEqual([due, explicit].sort());
    const seenFromUtc = new Map((await live(utc)).map((r) => [r.id, r]));
    expect(seenFromUtc.get(explicit!)!.scheduledAt.getTime()).toBe(at.getTime());
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
      .claim({ queue: 'q', limit: 1, workerId: 'w', leaseMs: 1000, handlers: ['test.handler'] })
      .catch((e: unknown) => e);
    expect(isBusError(error, 'STORE_FAILED'), String(error)).toBe(true);
    expect((error as BusError).message).toContain("missing_table' doesn't exist");
    expect((error as BusError).message.length).toBeLessThan(400);
    expect((error as { cause: { errno: number } }).cause.errno).toBe(1146);
  });

  it('a lock-wait timeout (1205) is STORE_CONFLICT, for the core to retry; the store does not', async () => {
    const { db, pool } = t.open({ connectionLimit: 1 });
    pool.pool.on('connection', (conn) => conn.query('SET SESSION innodb_lock_wait_timeout = 1'));
    const store = mysqlStore(db);
    const [id] = await store.insert({ rows: [row()] });
    await store.claim({ queue: 'q', limit: 1, workerId: 'w', leaseMs: 60_000, handlers: ['test.handler'] });
    await t.admin.query('BEGIN');
    try {
      await t.admin.query(`SELECT id FROM bus_events WHERE id = ${Number(id)} FOR UPDATE`);
      const started = Date.now();
      const error = await store
        .extendLeases({ workerId: 'w', leaseMs: 60_000, events: [{ id: id!, attempt: 1 }] })
        .catch((e: unknown) => e);
      expect(isBusError(error, 'STORE_CONFLICT'), String(error)).toBe(true);
      expect((error as BusError).message).toContain('1205');
      // One wait of innodb_lock_wait_timeout, not several.
      expect(Date.now() - started).toBeLessThan(1900);
    } finally {
      await t.admin.query('ROLLBACK');
    }
    await pool.end();
  });

  it('a deadlock (1213) is STORE_CONFLICT, and nothing of the call stays applied', async () => {
    const store = mysqlStore(t.db);
    const [a, b] = await store.insert({ rows: [row(), row()] });
    await store.claim({ queue: 'q', limit: 2, workerId: 'w', leaseMs: 60_000, handlers: ['test.handler'] });
    const other = await mysql.createConnection({ uri: t.url });
    try {
      // The other transaction writes many rows first, so InnoDB picks the store's (smaller) one as
      // the victim: it locks a, waits for b; the other then asks for a.
      await other.query('CREATE TABLE IF NOT EXISTS heavy (n int) ENGINE=InnoDB');
      await other.query('BEGIN');
      await other.query('INSERT INTO heavy SELECT seq FROM seq_1_to_2000');
      await other.query(`UPDATE bus_events SET priority = 5 WHERE id = ${Number(b)}`);
      const release = store
        .release({
          workerId: 'w',
          events: [
            { id: a!, attempt: 1 },
            { id: b!, attempt: 1 },
          ],
        })
        .catch((e: unknown) => e);
      await waitFor(
        async () => {
          const [rows] = (await t.admin.query(
            "SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'",
          )) as unknown as [{ n: number }[]];
          return Number(rows[0]!.n) > 0;
        },
        // InnoDB refreshes INNODB_TRX at most every 100 ms of quiet: poll slower than that.
        { intervalMs: 150, message: 'the release to wait for the other transaction' },
      );
      await other.query(`UPDATE bus_events SET priority = 6 WHERE id = ${Number(a)}`);
      const error = await release;
      expect(isBusError(error, 'STORE_CONFLICT'), String(error)).toBe(true);
      expect((error as BusError).message).toContain('1213');
      await other.query('COMMIT');
    } finally {
      await other.end();
    }
    expect((await live(store)).map((r) => [r.lockedBy, r.attempts])).toEqual([
      ['w', 1],
      ['w', 1],
    ]);
  });

  it('store.transaction passes the caller’s own errors through untouched', async () => {
    const store = mysqlStore(t.db);
    const mine = new Error('mine');
    await expect(store.transaction(async () => Promise.reject(mine))).rejects.toBe(mine);
  });

  it('rejects a non-database argument with INVALID_CONFIG', () => {
    let error: unknown;
    try {
      mysqlStore({} as never);
    } catch (e) {
      error = e;
    }
    expect(isBusError(error, 'INVALID_CONFIG'), String(error)).toBe(true);
  });

  it('listen rejects with UNSUPPORTED (no LISTEN/NOTIFY; capabilities.notify is false)', async () => {
    const store = mysqlStore(t.db);
    // The pool size is the mysql2 pool's connectionLimit (the helper's pool has 10).
    expect(store.capabilities).toEqual({ notify: false, poolSize: 10 });
    const error = await store.listen({ onWake() {}, onError() {} }).catch((e: unknown) => e);
    expect(isBusError(error, 'UNSUPPORTED'), String(error)).toBe(true);
  });
});
