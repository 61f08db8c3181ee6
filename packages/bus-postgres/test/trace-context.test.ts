import { createHash } from 'node:crypto';
import { CONTRACT_LIMITS } from 'bus-core/driver';
import { newEventRow, waitFor } from 'bus-testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type PgTx, type PostgresStore, postgresStore } from '../src/index.js';
import { rowsOf } from '../src/run.js';
import { archived, createPglite, createTestSchema, live, pgClient, type TestSchema } from './helpers.js';

// The trace_context column on PostgreSQL: what the store writes is the exact UTF-8 of the text
// given (checked in SQL, not only through the store's own reads), on postgres.js and on PGlite,
// through every path that moves a row (claim, settle, rescue); the insert keeps one statement
// text; U+0000, which no PostgreSQL text holds, does not fail a publish.

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
const GARBAGE = [
  '{"traceparent":',
  '00-zz-not-hex-at-all-99',
  "'; DROP TABLE bus_events; --",
  'back\\slash "quote" {brace,comma} NULL',
  'NULL',
  '',
  ' \t\n\r ',
  '\u0001\u0002\u001f\u007f control characters',
  '\uFFFD\uFFFF noncharacters',
  `${'x'.repeat(MAX - 2)}🚀`,
];

const TEXTS = [UNICODE, ...GARBAGE];

let t: TestSchema;
let lite: Awaited<ReturnType<typeof createPglite>>;
let pg: PostgresStore;
let pglite: PostgresStore;

beforeAll(async () => {
  [t, lite] = await Promise.all([createTestSchema('trace'), createPglite()]);
  pg = postgresStore(t.db, { listen: false });
  pglite = postgresStore(lite.db, { listen: false });
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
    ['postgres.js', pg, t.db],
    ['PGlite', pglite, lite.db],
  ] as [string, PostgresStore, PgTx][];

const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');

/** What the column holds for each id, as PostgreSQL sees it: byte length and MD5 of the UTF-8. */
async function stored(db: PgTx, table: string, ids: string[]): Promise<Map<string, [number, string] | null>> {
  const rows = rowsOf<{ id: string; bytes: number | null; md5: string | null }>(
    await db.execute(sql`SELECT id::text AS id, octet_length(trace_context) AS bytes, md5(trace_context) AS md5
      FROM ${sql.identifier(table)} WHERE id = ANY(${`{${ids.join(',')}}`}::int8[])`),
  );
  return new Map(rows.map((r) => [r.id, r.md5 === null ? null : [Number(r.bytes), r.md5]]));
}

const expectedStored = (text: string | null) =>
  text === null ? null : [Buffer.byteLength(text, 'utf8'), md5(text)];

describe.each(['postgres.js', 'PGlite'])('%s: trace contexts byte-exact', (name) => {
  const driver = () => drivers().find(([n]) => n === name)!;

  it('a 1000-unit unicode text and garbage: stored as their UTF-8, given back by listEvents, claim and the archive', async () => {
    const [, store, db] = driver();
    expect(UNICODE.length).toBe(MAX);
    expect(GARBAGE.at(-1)!.length).toBe(MAX);
    const texts: (string | null)[] = [...TEXTS, null];
    const ids = await store.insert({
      rows: texts.map((traceContext, n) => newEventRow({ traceContext, priority: n })),
    });

    const bytes = await stored(db, 'bus_events', ids);
    for (const [n, id] of ids.entries()) {
      expect(bytes.get(id), `row ${n} in bus_events`).toEqual(expectedStored(texts[n]!));
    }
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

    // Completed and failed rows, archived by the one settle statement.
    const { settled } = await store.settle({
      workerId: 'w',
      outcomes: claimed.map((r, n) =>
        n % 2 === 0
          ? { kind: 'completed' as const, id: r.id, attempt: 1, archive: true }
          : { kind: 'failed' as const, id: r.id, attempt: 1, archive: true, error: 'no' },
      ),
    });
    expect(settled).toHaveLength(ids.length);
    const archivedBytes = await stored(db, 'bus_events_archive', ids);
    for (const [n, id] of ids.entries()) {
      expect(archivedBytes.get(id), `row ${n} in bus_events_archive`).toEqual(expectedStored(texts[n]!));
    }
    expect((await archived(store)).map((r) => r.traceContext)).toEqual(texts);
  });

  it('rescue archives the trace context of a row whose lease expired, and a retried one keeps it', async () => {
    const [, store, db] = driver();
    const [failed, retried] = await store.insert({
      rows: [newEventRow({ traceContext: UNICODE }), newEventRow({ traceContext: GARBAGE[0]! })],
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
    expect((await stored(db, 'bus_events_archive', [failed!])).get(failed!)).toEqual(expectedStored(UNICODE));
    expect((await archived(store)).map((r) => [r.id, r.traceContext])).toEqual([[failed, UNICODE]]);
    const [again] = await store.claim({
      queue: 'q',
      limit: 10,
      workerId: 'fresh',
      leaseMs: 60_000,
      handlers: ['test.handler'],
    });
    expect([again?.id, again?.attempts, again?.traceContext]).toEqual([retried, 2, GARBAGE[0]]);
  });

  it('garbage written by hand into the column comes back through claim exactly', async () => {
    const [, store, db] = driver();
    const [id] = await store.insert({ rows: [newEventRow()] });
    const hand = '{"traceparent":"00-\u00ff\u00fe-👩‍👩‍👧", "tracestate": [1, {}]';
    await db.execute(sql`UPDATE bus_events SET trace_context = ${hand}::text WHERE id = ${id}::int8`);
    const [claimed] = await store.claim({
      queue: 'q',
      limit: 1,
      workerId: 'w',
      leaseMs: 60_000,
      handlers: ['test.handler'],
    });
    expect(claimed?.traceContext).toBe(hand);
  });

  it('text UTF-8 cannot carry becomes U+FFFD instead of failing the publish: U+0000 and lone surrogates', async () => {
    const [, store] = driver();
    // No PostgreSQL text holds U+0000 (the store replaces it); a lone surrogate has no UTF-8
    // (the client's encoder replaces it). The core writes neither: JSON.stringify escapes both.
    const ids = await store.insert({
      rows: [
        newEventRow({ traceContext: 'a\u0000b\u0000' }),
        newEventRow({ traceContext: 'half \ud83d pair' }),
        newEventRow({ traceContext: UNICODE }),
      ],
    });
    expect(ids).toHaveLength(3);
    expect((await live(store)).map((r) => r.traceContext)).toEqual([
      'a\uFFFDb\uFFFD',
      'half \uFFFD pair',
      UNICODE,
    ]);
  });
});

describe('the insert statement', () => {
  it('is one statement of one text whatever the batch size and whether rows carry trace contexts', async () => {
    // One connection, so the prepared statements postgres.js made are all in this session.
    const client = pgClient({ schema: t.schema, max: 1 });
    try {
      const store = postgresStore(drizzle(client), { listen: false });
      const batches = [
        [newEventRow()],
        [newEventRow({ traceContext: UNICODE })],
        Array.from({ length: 500 }, (_, n) =>
          newEventRow({ traceContext: n % 3 === 0 ? null : TEXTS[n % 11]! }),
        ),
        Array.from({ length: 500 }, () => newEventRow({ queue: 'other' })),
      ];
      for (const rows of batches) expect(await store.insert({ rows })).toHaveLength(rows.length);
      const prepared = await client`SELECT statement FROM pg_prepared_statements
        WHERE statement LIKE '%INSERT INTO%' AND statement NOT LIKE '%pg_prepared_statements%'`;
      expect(prepared).toHaveLength(1);
      expect(String(prepared[0]!.statement)).toContain('trace_context');
      expect(await live(pg)).toHaveLength(1002);
    } finally {
      await client.end();
    }
  });
});

describe('countByQueue on PostgreSQL', () => {
  it('oldestAvailableAt is the due time in whole milliseconds (scheduled_at has microseconds)', async () => {
    const [id] = await pg.insert({ rows: [newEventRow({ queue: 'micro' })] });
    await t.db.execute(
      sql`UPDATE bus_events SET scheduled_at = '2020-01-02 03:04:05.678999+00' WHERE id = ${id}::int8`,
    );
    const counts = await pg.inspect.countByQueue();
    expect(counts.map((c) => [c.queue, c.available, c.oldestAvailableAt])).toEqual([
      ['micro', 1, new Date('2020-01-02T03:04:05.678Z')],
    ]);
  });
});
