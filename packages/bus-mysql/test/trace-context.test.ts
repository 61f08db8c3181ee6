import { CONTRACT_LIMITS } from 'bus-core/driver';
import { waitFor } from 'bus-testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrate, mysqlStore } from '../src/index.js';
import { archived, createTestDatabase, live, row, type TestDatabase, truncate } from './helpers.js';

// The trace_context column on MySQL/MariaDB: what the store writes is the exact UTF-8 of the text
// given (checked in SQL with HEX, not only through the store's own reads), under any sql_mode and
// whatever the database's default character set, through every path that moves a row (claim,
// settle, rescue).

const MAX = CONTRACT_LIMITS.maxTraceContextChars;

// 1000 UTF-16 units: two-byte, combining (never normalized), three-byte, astral (surrogate
// pairs), zero-width and BOM characters.
const UNICODE =
  'ü'.repeat(200) +
  'e\u0301'.repeat(50) +
  '日本'.repeat(150) +
  '𝄞'.repeat(100) +
  'Ж'.repeat(100) +
  '\u200d\ufeff'.repeat(50);

// Text no tracer writes: the core validates it when it reads it back, the store keeps it as is.
// Backslashes and NUL take the literal's base64 path (src/encode.ts), quotes the doubled one.
const GARBAGE = [
  '{"traceparent":',
  '00-zz-not-hex-at-all-99',
  "'; DROP TABLE bus_events; --",
  'back\\slash \\\' "quote" {brace,comma} NULL',
  'nul \u0000 inside\u0000',
  'NULL',
  '',
  ' \t\n\r ',
  '\u0001\u0002\u001f\u007f control characters',
  '\uFFFD\uFFFF noncharacters',
  `${'x'.repeat(MAX - 2)}🚀`,
  `${'\\'.repeat(MAX - 1)}'`,
];

const TEXTS = [UNICODE, ...GARBAGE];

const hexOf = (text: string | null) => (text === null ? null : Buffer.from(text, 'utf8').toString('hex'));

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

/** The column's bytes for each id, as the server holds them (hex of the stored UTF-8). */
async function stored(table: string, ids: readonly string[]): Promise<Map<string, string | null>> {
  const [rows] = (await t.admin.query(
    `SELECT CAST(id AS CHAR) AS id, LOWER(HEX(trace_context)) AS hex FROM \`${table}\` WHERE id IN (${ids.map(Number).join(', ')})`,
  )) as unknown as [{ id: string; hex: string | null }[]];
  return new Map(rows.map((r) => [String(r.id), r.hex]));
}

describe.each([
  ['the default sql_mode', ''],
  ['NO_BACKSLASH_ESCAPES', 'NO_BACKSLASH_ESCAPES'],
])('trace contexts byte-exact under %s', (_name, mode) => {
  it('a 1000-unit unicode text and garbage: stored as their UTF-8, given back by listEvents, claim and the archive', async () => {
    const { db, pool } = t.open({ connectionLimit: 1 });
    try {
      if (mode !== '') await pool.query(`SET SESSION sql_mode = CONCAT(@@sql_mode, ',${mode}')`);
      const store = mysqlStore(db);
      expect(UNICODE.length).toBe(MAX);
      for (const text of GARBAGE.slice(-2)) expect(text.length).toBe(MAX);
      const texts: (string | null)[] = [...TEXTS, null];
      const ids = await store.insert({
        rows: texts.map((traceContext, n) => row({ traceContext, priority: n })),
      });

      const bytes = await stored('bus_events', ids);
      for (const [n, id] of ids.entries())
        expect(bytes.get(id), `row ${n} in bus_events`).toBe(hexOf(texts[n]!));
      expect((await live(store)).map((r) => r.traceContext)).toEqual(texts);

      const claimed = await store.claim({
        queue: 'q',
        limit: 100,
        workerId: 'w',
        leaseMs: 60_000,
        handlers: ['test.handler'],
      });
      expect(claimed.map((r) => r.id)).toEqual(ids);
      expect(claimed.map((r) => r.traceContext)).toEqual(texts);

      // Completed and failed rows, through the archive insert of one settle.
      const { settled } = await store.settle({
        workerId: 'w',
        outcomes: claimed.map((r, n) =>
          n % 2 === 0
            ? { kind: 'completed' as const, id: r.id, attempt: 1, archive: true }
            : { kind: 'failed' as const, id: r.id, attempt: 1, archive: true, error: 'no' },
        ),
      });
      expect(settled).toHaveLength(ids.length);
      const archivedBytes = await stored('bus_events_archive', ids);
      for (const [n, id] of ids.entries()) {
        expect(archivedBytes.get(id), `row ${n} in bus_events_archive`).toBe(hexOf(texts[n]!));
      }
      expect((await archived(store)).map((r) => r.traceContext)).toEqual(texts);
    } finally {
      await pool.end();
    }
  });
});

describe('trace contexts', () => {
  it('rescue archives the trace context of a row whose lease expired, and a retried one keeps it', async () => {
    const store = mysqlStore(t.db);
    const [failed, retried] = await store.insert({
      rows: [row({ traceContext: UNICODE }), row({ traceContext: GARBAGE[3]! })],
    });
    await store.claim({ queue: 'q', limit: 10, workerId: 'dead', leaseMs: 1, handlers: ['test.handler'] });
    const expired = await waitFor(
      async () => {
        const rows = await store.listExpired({ queues: ['q'], limit: 10 });
        return rows.length === 2 ? rows : undefined;
      },
      { timeoutMs: 5000, message: 'both leases to expire' },
    );
    expect(expired.map((r) => r.id).sort()).toEqual([failed, retried].sort());
    const applied = await store.rescue({
      decisions: [
        { kind: 'failed', id: failed!, attempt: 1, workerId: 'dead', archive: true, error: 'expired' },
        { kind: 'retry', id: retried!, attempt: 1, workerId: 'dead', delayMs: 0, error: 'expired' },
      ],
    });
    expect(applied.sort()).toEqual([failed, retried].sort());
    expect((await stored('bus_events_archive', [failed!])).get(failed!)).toBe(hexOf(UNICODE));
    expect((await archived(store)).map((r) => [r.id, r.traceContext])).toEqual([[failed, UNICODE]]);
    const [again] = await store.claim({
      queue: 'q',
      limit: 10,
      workerId: 'fresh',
      leaseMs: 60_000,
      handlers: ['test.handler'],
    });
    expect([again?.id, again?.attempts, again?.traceContext]).toEqual([retried, 2, GARBAGE[3]]);
  });

  it('garbage written by hand into the column comes back through claim exactly', async () => {
    const store = mysqlStore(t.db);
    const [id] = await store.insert({ rows: [row()] });
    const hand = '{"traceparent":"00-\u00ff\u00fe-👩‍👩‍👧", "tracestate": [1, {}]';
    await t.admin.query('UPDATE bus_events SET trace_context = ? WHERE id = ?', [hand, Number(id)]);
    const [claimed] = await store.claim({
      queue: 'q',
      limit: 1,
      workerId: 'w',
      leaseMs: 60_000,
      handlers: ['test.handler'],
    });
    expect(claimed?.traceContext).toBe(hand);
  });

  it('a lone surrogate, which has no UTF-8, is stored as U+FFFD (the core writes none: JSON.stringify escapes it)', async () => {
    const store = mysqlStore(t.db);
    await store.insert({ rows: [row({ traceContext: 'half \ud83d pair' })] });
    expect((await live(store)).map((r) => r.traceContext)).toEqual(['half \uFFFD pair']);
  });

  it('the column is utf8mb4 whatever the database default: exact in a latin1 database', async () => {
    const latin = await createTestDatabase({ migrate: false });
    try {
      await latin.admin.query(
        `ALTER DATABASE \`${latin.name}\` CHARACTER SET latin1 COLLATE latin1_swedish_ci`,
      );
      await migrate(latin.db);
      const [columns] = (await latin.admin.query(
        `SELECT TABLE_NAME AS t, CHARACTER_SET_NAME AS cs FROM information_schema.COLUMNS
         WHERE TABLE_SCHEMA = ? AND COLUMN_NAME = 'trace_context' ORDER BY TABLE_NAME`,
        [latin.name],
      )) as unknown as [{ t: string; cs: string }[]];
      expect(columns.map((c) => [c.t, c.cs])).toEqual([
        ['bus_events', 'utf8mb4'],
        ['bus_events_archive', 'utf8mb4'],
      ]);
      const store = mysqlStore(latin.db);
      const [id] = await store.insert({ rows: [row({ traceContext: UNICODE })] });
      const [claimed] = await store.claim({
        queue: 'q',
        limit: 1,
        workerId: 'w',
        leaseMs: 60_000,
        handlers: ['test.handler'],
      });
      expect([claimed?.id, claimed?.traceContext]).toEqual([id, UNICODE]);
    } finally {
      await latin.drop();
    }
  });
});

describe('countByQueue on MySQL', () => {
  it('oldestAvailableAt is the due time in whole milliseconds (DATETIME(6) has microseconds)', async () => {
    const store = mysqlStore(t.db);
    const [id] = await store.insert({ rows: [row({ queue: 'micro' })] });
    await t.admin.query("UPDATE bus_events SET scheduled_at = '2020-01-02 03:04:05.678999' WHERE id = ?", [
      Number(id),
    ]);
    const counts = await store.inspect.countByQueue();
    expect(counts.map((c) => [c.queue, c.available, c.oldestAvailableAt])).toEqual([
      ['micro', 1, new Date('2020-01-02T03:04:05.678Z')],
    ]);
  });
});
