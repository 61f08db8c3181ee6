import { createAdmin, encodePayload, isBusError } from 'bus-core';
import { waitFor } from 'bus-testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type MySqlQueueStore, mysqlStore } from '../src/index.js';
import { archived, createTestDatabase, live, row, type TestDatabase, truncate } from './helpers.js';

// Job control on MariaDB, beyond the conformance suite: what the MySQL SQL could get wrong. Names
// compare exactly although utf8mb4_bin pads (`h` is not `h `), error text is searched as plain
// text under any sql_mode, cancel and redrive take part in the caller's transaction and skip
// rows other transactions hold, redriven rows keep their ids without moving AUTO_INCREMENT, and a
// duplicate pause inside a transaction leaves the transaction usable.

let t: TestDatabase;
let store: MySqlQueueStore;

const H = ['test.handler'];

beforeAll(async () => {
  t = await createTestDatabase();
  store = mysqlStore(t.db);
});

afterAll(async () => {
  await t?.drop();
});

beforeEach(async () => {
  await truncate(t);
});

async function failed(n: number, over: Parameters<typeof row>[0] = {}): Promise<string[]> {
  const ids = await store.insert({
    rows: Array.from({ length: n }, (_, i) => row({ payload: encodePayload(i), ...over })),
  });
  const handlers = [over.handlerName ?? 'test.handler'];
  const claimed = await store.claim({
    queue: over.queue ?? 'q',
    limit: n,
    workerId: 'w',
    leaseMs: 60_000,
    handlers,
  });
  await store.settle({
    workerId: 'w',
    outcomes: claimed.map((c) => ({
      kind: 'failed' as const,
      id: c.id,
      attempt: 1,
      archive: true,
      error: `boom ${c.id}`,
    })),
  });
  return ids;
}

describe('claim by handler names', () => {
  it('claims only the named handlers, compared exactly (trailing spaces, case)', async () => {
    const [a, padded, upper, other] = await store.insert({
      rows: [
        row({ handlerName: 'h' }),
        row({ handlerName: 'h ' }),
        row({ handlerName: 'H' }),
        row({ handlerName: 'x' }),
      ],
    });
    const claimed = await store.claim({
      queue: 'q',
      limit: 10,
      workerId: 'w',
      leaseMs: 60_000,
      handlers: ['h'],
    });
    expect(claimed.map((c) => c.id)).toEqual([a]);
    const rest = await live(store, { ids: [padded!, upper!, other!] });
    expect(rest.map((r) => [r.handlerName, r.attempts, r.lockedBy])).toEqual([
      ['h ', 0, null],
      ['H', 0, null],
      ['x', 0, null],
    ]);
    const more = await store.claim({
      queue: 'q',
      limit: 10,
      workerId: 'w',
      leaseMs: 60_000,
      handlers: ['x', 'h '],
    });
    expect(more.map((c) => c.id)).toEqual([padded, other]);
  });

  it("concurrent claims for different handlers never take each other's rows, and each gets all of its own", async () => {
    const xs = await store.insert({ rows: Array.from({ length: 50 }, () => row({ handlerName: 'x' })) });
    const ys = await store.insert({ rows: Array.from({ length: 5 }, () => row({ handlerName: 'y' })) });
    // A locking read keeps the rows it passed over locked until its claim commits (MariaDB, at
    // READ COMMITTED too), so a claim running at that instant for the other handler skips them:
    // it finds them at its next claim. Claim as the core's loop does until each has its rows.
    const got = { x: [] as string[], y: [] as string[] };
    await waitFor(
      async () => {
        const [a, b] = await Promise.all([
          store.claim({ queue: 'q', limit: 100, workerId: 'a', leaseMs: 60_000, handlers: ['x'] }),
          store.claim({ queue: 'q', limit: 100, workerId: 'b', leaseMs: 60_000, handlers: ['y'] }),
        ]);
        got.x.push(...a.map((c) => c.id));
        got.y.push(...b.map((c) => c.id));
        return got.x.length === xs.length && got.y.length === ys.length;
      },
      { timeoutMs: 10_000, message: 'each claimer to get all the rows of its handler' },
    );
    expect(got.x.sort()).toEqual([...xs].sort());
    expect(got.y.sort()).toEqual([...ys].sort());
    const rows = await live(store);
    expect(rows.every((r) => r.attempts === 1 && r.lockedBy === (r.handlerName === 'x' ? 'a' : 'b'))).toBe(
      true,
    );
  });
});

describe('settle snooze and cancelled', () => {
  it('snooze gives the attempt back, counts a snooze, keeps the error, clears the lease', async () => {
    const [id] = await failedOnce();
    const [c] = await store.claim({ queue: 'q', limit: 1, workerId: 'w', leaseMs: 60_000, handlers: H });
    expect([c!.attempts, c!.snoozes]).toEqual([2, 0]);
    const before = await store.now();
    expect(
      await store.settle({
        workerId: 'w',
        outcomes: [{ kind: 'snooze', id: id!, attempt: 2, delayMs: 60_000 }],
      }),
    ).toEqual({ settled: [id] });
    const [r] = await live(store, { ids: [id!] });
    expect([r!.attempts, r!.snoozes, r!.lockedBy, r!.lockedUntil, r!.lastError]).toEqual([
      1,
      1,
      null,
      null,
      'first',
    ]);
    expect(r!.scheduledAt.getTime()).toBeGreaterThanOrEqual(before.getTime() + 59_000);
    // A stale snooze (the attempt it held is gone) changes nothing.
    expect(
      await store.settle({ workerId: 'w', outcomes: [{ kind: 'snooze', id: id!, attempt: 2, delayMs: 0 }] }),
    ).toEqual({ settled: [] });
  });

  it('cancelled archives with status cancelled and the reason; without archive it is gone', async () => {
    const [a, b, c] = await store.insert({ rows: [row(), row(), row()] });
    await store.claim({ queue: 'q', limit: 3, workerId: 'w', leaseMs: 60_000, handlers: H });
    const result = await store.settle({
      workerId: 'w',
      outcomes: [
        { kind: 'cancelled', id: a!, attempt: 1, archive: true, error: 'stop: 100% \\ _done_' },
        { kind: 'cancelled', id: b!, attempt: 1, archive: false, error: 'gone' },
        { kind: 'completed', id: c!, attempt: 1, archive: true },
      ],
    });
    expect(result.settled.sort()).toEqual([a, b, c].sort());
    expect((await archived(store)).map((r) => [r.id, r.status, r.lastError])).toEqual([
      [a, 'cancelled', 'stop: 100% \\ _done_'],
      [c, 'completed', null],
    ]);
    expect(await live(store)).toEqual([]);
    expect((await store.inspect.countByQueue())[0]).toMatchObject({
      archivedCancelled: 1,
      archivedCompleted: 1,
    });
  });
});

async function failedOnce(): Promise<string[]> {
  const ids = await store.insert({ rows: [row({ maxRetries: 3 })] });
  await store.claim({ queue: 'q', limit: 1, workerId: 'w', leaseMs: 60_000, handlers: H });
  await store.settle({
    workerId: 'w',
    outcomes: [{ kind: 'retry', id: ids[0]!, attempt: 1, delayMs: 0, error: 'first' }],
  });
  return ids;
}

describe('checkLeases', () => {
  it('returns the rows still held for that attempt, changing nothing', async () => {
    const [a, b, c] = await store.insert({ rows: [row(), row(), row()] });
    await store.claim({ queue: 'q', limit: 3, workerId: 'w', leaseMs: 60_000, handlers: H });
    await store.admin.cancel({ ids: [b!], limit: 10, archive: false, reason: 'x' });
    const held = [
      { id: a!, attempt: 1 },
      { id: b!, attempt: 1 },
      { id: c!, attempt: 2 },
    ];
    expect(await store.checkLeases({ workerId: 'w', events: held })).toEqual([a]);
    expect(await store.checkLeases({ workerId: 'w ', events: held })).toEqual([]);
    expect((await live(store, { ids: [a!] }))[0]!.lockedBy).toBe('w');
  });
});

describe('cancel', () => {
  it('by filter, lowest ids first in limit-sized calls, running rows too; the holder is fenced out', async () => {
    const ids = await store.insert({
      rows: Array.from({ length: 25 }, (_, i) => row({ payload: encodePayload(i) })),
    });
    const [running] = await store.claim({
      queue: 'q',
      limit: 1,
      workerId: 'w',
      leaseMs: 60_000,
      handlers: H,
    });
    const first = await store.admin.cancel({
      filter: { queue: 'q' },
      limit: 10,
      archive: true,
      reason: 'bad batch',
    });
    expect(first).toEqual(ids.slice(0, 10));
    const rest = [
      ...(await store.admin.cancel({
        filter: { queue: 'q' },
        limit: 10,
        archive: true,
        reason: 'bad batch',
      })),
      ...(await store.admin.cancel({
        filter: { queue: 'q' },
        limit: 10,
        archive: true,
        reason: 'bad batch',
      })),
    ];
    expect(rest).toEqual(ids.slice(10));
    expect(
      await store.admin.cancel({ filter: { queue: 'q' }, limit: 10, archive: true, reason: 'x' }),
    ).toEqual([]);
    expect(
      await store.settle({
        workerId: 'w',
        outcomes: [{ kind: 'completed', id: running!.id, attempt: 1, archive: true }],
      }),
    ).toEqual({ settled: [] });
    const rows = await archived(store);
    expect(rows).toHaveLength(25);
    expect(rows.every((r) => r.status === 'cancelled' && r.lastError === 'bad batch')).toBe(true);
    expect(rows.find((r) => r.id === running!.id)!.attempts).toBe(1);
  });

  it('by state and exact names', async () => {
    const [due, later, leased, other, padded] = await store.insert({
      rows: [
        row(),
        row({ due: 3_600_000 }),
        row(),
        row({ eventName: 'other.event' }),
        row({ handlerName: 'test.handler ' }),
      ],
    });
    await t.db.execute(
      sql.raw(
        `UPDATE bus_events SET locked_by = 'z', locked_until = UTC_TIMESTAMP(6) + INTERVAL 1 HOUR WHERE id = ${leased}`,
      ),
    );
    const cancel = (filter: object) =>
      store.admin.cancel({ filter: filter as never, limit: 100, archive: false, reason: 'x' });
    expect(await cancel({ state: 'scheduled' })).toEqual([later]);
    expect(await cancel({ state: 'running' })).toEqual([leased]);
    expect(await cancel({ eventName: 'other.event' })).toEqual([other]);
    expect(await cancel({ handlerName: 'test.handler', state: 'available' })).toEqual([due]);
    expect((await live(store)).map((r) => r.id)).toEqual([padded]);
  });

  it("in the caller's transaction: a rollback cancels nothing, a commit cancels", async () => {
    const ids = await store.insert({ rows: [row(), row()] });
    const rollback = await store
      .transaction(async (tx) => {
        expect(await store.admin.cancel({ ids, limit: 10, archive: true, reason: 'x', tx })).toEqual(ids);
        throw new Error('roll back');
      })
      .catch((e: unknown) => e);
    expect(String(rollback)).toContain('roll back');
    expect((await live(store)).map((r) => r.id)).toEqual(ids);
    expect(await archived(store)).toEqual([]);
    await store.transaction((tx) =>
      store.admin.cancel({ ids: [ids[0]!], limit: 10, archive: true, reason: 'x', tx }),
    );
    expect((await live(store)).map((r) => r.id)).toEqual([ids[1]]);
  });

  it('locks only the rows it cancels: while it is open, claims of its own queue and of others take the rest', async () => {
    // Enough rows, with fresh statistics, for the plans a single locking scan gets on a real
    // table: through claim_idx and a sort (every row of the queue) or locked_until_idx (every
    // unleased row of every queue).
    const bs: string[] = [];
    for (let i = 0; i < 4; i++) {
      bs.push(...(await store.insert({ rows: Array.from({ length: 1000 }, () => row({ queue: 'b' })) })));
    }
    const as = await store.insert({ rows: Array.from({ length: 500 }, () => row({ queue: 'a' })) });
    await t.admin.query('ANALYZE TABLE bus_events');
    await store.transaction(async (tx) => {
      const cancelled = await store.admin.cancel({
        filter: { queue: 'a', state: 'available' },
        limit: 10,
        archive: false,
        reason: 'x',
        tx,
      });
      expect(cancelled).toEqual(as.slice(0, 10));
      // Other connections, while the cancel's transaction holds its locks.
      const claim = (queue: string) =>
        store.claim({ queue, limit: 1000, workerId: `w-${queue}`, leaseMs: 60_000, handlers: H });
      expect((await claim('b')).map((c) => c.id)).toEqual(bs.slice(0, 1000));
      expect((await claim('a')).map((c) => c.id)).toEqual(as.slice(10));
    });
    expect(await live(store, { ids: as.slice(0, 10) })).toEqual([]);
  });

  it('skips rows another transaction holds, without waiting', async () => {
    const [a, b] = await store.insert({ rows: [row(), row()] });
    const conn = await t.pool.getConnection();
    try {
      await conn.query('START TRANSACTION');
      await conn.query(`SELECT id FROM bus_events WHERE id = ${a} FOR UPDATE`);
      expect(await store.admin.cancel({ filter: {}, limit: 10, archive: false, reason: 'x' })).toEqual([b]);
      await conn.query('ROLLBACK');
    } finally {
      conn.release();
    }
    expect(await store.admin.cancel({ filter: {}, limit: 10, archive: false, reason: 'x' })).toEqual([a]);
  });
});

describe('redrive', () => {
  it('moves failed rows back under their ids, fresh attempts, due now, error kept; AUTO_INCREMENT untouched', async () => {
    const ids = await failed(3, { maxRetries: 0, priority: 4, traceContext: '{"t":1}' });
    const before = await store.now();
    expect(await store.admin.redrive({ filter: {}, statuses: ['failed'], limit: 2 })).toEqual(
      ids.slice(0, 2),
    );
    expect(await store.admin.redrive({ ids, statuses: ['failed'], limit: 10 })).toEqual(ids.slice(2));
    expect(await archived(store)).toEqual([]);
    const rows = await live(store);
    expect(
      rows.map((r) => [r.id, r.attempts, r.snoozes, r.lockedBy, r.lastError, r.priority, r.traceContext]),
    ).toEqual(ids.map((id) => [id, 0, 0, null, `boom ${id}`, 4, '{"t":1}']));
    for (const r of rows) expect(r.scheduledAt.getTime()).toBeGreaterThanOrEqual(before.getTime() - 5);
    const [next] = await store.insert({ rows: [row()] });
    expect(BigInt(next!)).toBeGreaterThan(BigInt(ids[2]!));
    // They run again with their handler (priority 4 kept: after the new row of priority 0).
    const claimed = await store.claim({
      queue: 'q',
      limit: 10,
      workerId: 'w2',
      leaseMs: 60_000,
      handlers: H,
    });
    expect(claimed.map((c) => [c.id, c.attempts])).toEqual([next!, ...ids].map((id) => [id, 1]));
  });

  it('only the given statuses and filters; a rolled-back transaction moves nothing', async () => {
    const [f] = await failed(1);
    const [x] = await failed(1, { handlerName: 'x' });
    const [c] = await store.insert({ rows: [row()] });
    await store.admin.cancel({ ids: [c!], limit: 1, archive: true, reason: 'stop' });
    expect(
      await store.admin.redrive({ filter: { handlerName: 'x' }, statuses: ['cancelled'], limit: 10 }),
    ).toEqual([]);
    await store
      .transaction(async (tx) => {
        expect(
          await store.admin.redrive({ filter: {}, statuses: ['failed', 'cancelled'], limit: 10, tx }),
        ).toEqual([f, x, c]);
        throw new Error('no');
      })
      .catch(() => undefined);
    expect((await archived(store)).map((r) => r.id)).toEqual([f, x, c]);
    expect(
      await store.admin.redrive({ filter: { errorContains: 'boom' }, statuses: ['failed'], limit: 10 }),
    ).toEqual([f, x]);
    expect(await store.admin.redrive({ filter: {}, statuses: ['cancelled'], limit: 10 })).toEqual([c]);
  });
});

describe('runNow', () => {
  it('makes unleased rows due now; leased and unknown ids are left out', async () => {
    const [later, leased, due] = await store.insert({ rows: [row({ due: 3_600_000 }), row(), row()] });
    await store.claim({ queue: 'q', limit: 1, workerId: 'w', leaseMs: 60_000, handlers: H });
    const [dueBefore] = await live(store, { ids: [due!] });
    const result = await store.admin.runNow({ ids: [later!, leased!, due!, '999999'] });
    expect(result.sort()).toEqual([later, due].sort());
    const [l, d] = await live(store, { ids: [later!, due!] });
    expect(l!.scheduledAt.getTime()).toBeLessThanOrEqual((await store.now()).getTime());
    expect(d!.scheduledAt).toEqual(dueBefore!.scheduledAt);
  });
});

describe('pauses', () => {
  it('pause and resume a queue and a handler exactly; the whole queue is handler null', async () => {
    expect(await store.admin.pause({ queue: 'q' })).toBe(true);
    expect(await store.admin.pause({ queue: 'q', handlerName: null })).toBe(false);
    expect(await store.admin.pause({ queue: 'q', handlerName: 'h' })).toBe(true);
    expect(await store.admin.pause({ queue: 'q', handlerName: 'h ' })).toBe(true);
    expect(await store.admin.pause({ queue: 'Q' })).toBe(true);
    const pauses = await store.inspect.listPauses();
    expect(pauses.map((p) => [p.queue, p.handlerName])).toEqual([
      ['Q', null],
      ['q', null],
      ['q', 'h'],
      ['q', 'h '],
    ]);
    expect(pauses.every((p) => p.pausedAt instanceof Date)).toBe(true);
    expect(await store.admin.resume({ queue: 'q', handlerName: 'h' })).toBe(true);
    expect(await store.admin.resume({ queue: 'q', handlerName: 'h' })).toBe(false);
    expect(await store.admin.resume({ queue: 'q' })).toBe(true);
    expect((await store.inspect.listPauses()).map((p) => [p.queue, p.handlerName])).toEqual([
      ['Q', null],
      ['q', 'h '],
    ]);
  });

  it('pausing twice keeps the first time; a duplicate inside a transaction leaves it usable', async () => {
    await store.admin.pause({ queue: 'q' });
    const [first] = await store.inspect.listPauses();
    await store.transaction(async (tx) => {
      expect(await store.admin.pause({ queue: 'q', tx })).toBe(false);
      expect(await store.admin.pause({ queue: 'r', tx })).toBe(true);
    });
    const pauses = await store.inspect.listPauses();
    expect(pauses.map((p) => p.queue)).toEqual(['q', 'r']);
    expect(pauses[0]!.pausedAt).toEqual(first!.pausedAt);
    await store
      .transaction(async (tx) => {
        await store.admin.resume({ queue: 'q', tx });
        throw new Error('no');
      })
      .catch(() => undefined);
    expect((await store.inspect.listPauses()).map((p) => p.queue)).toEqual(['q', 'r']);
  });
});

describe('workers', () => {
  it('records, updates and removes a heartbeat; lists those seen within the window', async () => {
    await store.admin.recordWorker({ workerId: 'b', queues: ['q', "o'brien \\ 😀"], info: 'host 1' });
    await store.admin.recordWorker({ workerId: 'a', queues: [], info: 'host 2' });
    const [a0] = await store.inspect.listWorkers({ seenWithinMs: 60_000 });
    await store.admin.recordWorker({ workerId: 'a', queues: ['x'], info: 'host 2b' });
    const workers = await store.inspect.listWorkers({ seenWithinMs: 60_000 });
    expect(workers.map((w) => [w.workerId, w.queues, w.info])).toEqual([
      ['a', ['x'], 'host 2b'],
      ['b', ['q', "o'brien \\ 😀"], 'host 1'],
    ]);
    expect(workers[0]!.startedAt).toEqual(a0!.startedAt);
    expect(workers[0]!.lastSeenAt.getTime()).toBeGreaterThanOrEqual(a0!.lastSeenAt.getTime());
    await t.admin.query(
      "UPDATE bus_events_workers SET last_seen_at = UTC_TIMESTAMP(6) - INTERVAL 1 HOUR WHERE worker_id = 'b'",
    );
    expect((await store.inspect.listWorkers({ seenWithinMs: 60_000 })).map((w) => w.workerId)).toEqual(['a']);
    expect((await store.inspect.listWorkers({ seenWithinMs: 7_200_000 })).map((w) => w.workerId)).toEqual([
      'a',
      'b',
    ]);
    await store.admin.removeWorker({ workerId: 'a' });
    await store.admin.removeWorker({ workerId: 'a' });
    expect((await store.inspect.listWorkers({ seenWithinMs: 7_200_000 })).map((w) => w.workerId)).toEqual([
      'b',
    ]);
  });
});

describe('list filters', () => {
  it('errorContains is plain, case-sensitive text under NO_BACKSLASH_ESCAPES too', async () => {
    const errors = ['100% done', '100 percent', 'a_b', 'axb', 'back\\slash', "Quote's", 'CASE', 'ünï 😀'];
    const ids = await store.insert({ rows: errors.map(() => row({ maxRetries: 1 })) });
    const claimed = await store.claim({ queue: 'q', limit: 10, workerId: 'w', leaseMs: 60_000, handlers: H });
    await store.settle({
      workerId: 'w',
      outcomes: claimed.map((c, i) => ({
        kind: 'retry' as const,
        id: c.id,
        attempt: 1,
        delayMs: 0,
        error: errors[i]!,
      })),
    });
    const byError = async (needle: string, s: MySqlQueueStore = store) =>
      (await s.inspect.listEvents({ errorContains: needle, limit: 100 })).map((r) => r.lastError);
    const cases: [string, string[]][] = [
      ['%', ['100% done']],
      ['_', ['a_b']],
      ['\\', ['back\\slash']],
      ["'", ["Quote's"]],
      ['case', []],
      ['CASE', ['CASE']],
      ['😀', ['ünï 😀']],
    ];
    for (const [needle, expected] of cases) expect(await byError(needle), needle).toEqual(expected);
    // One connection, so the session's sql_mode holds for every statement of this store.
    const strict = t.open({ connectionLimit: 1 });
    await strict.pool.query("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')");
    const noEscapes = mysqlStore(strict.db);
    for (const [needle, expected] of cases)
      expect(await byError(needle, noEscapes), needle).toEqual(expected);
    await strict.pool.end();
    expect(ids).toHaveLength(errors.length);
  });

  it('newestFirst pages down from afterId; state is judged with the database now', async () => {
    const ids = await store.insert({ rows: Array.from({ length: 5 }, () => row()) });
    await store.insert({ rows: [row({ due: 3_600_000 })] });
    const page1 = await store.inspect.listEvents({ newestFirst: true, state: 'available', limit: 2 });
    expect(page1.map((r) => r.id)).toEqual([ids[4], ids[3]]);
    const page2 = await store.inspect.listEvents({
      newestFirst: true,
      state: 'available',
      afterId: ids[3]!,
      limit: 10,
    });
    expect(page2.map((r) => r.id)).toEqual([ids[2], ids[1], ids[0]]);
    expect(
      (await store.inspect.listEvents({ afterId: ids[1]!, state: 'available', limit: 2 })).map((r) => r.id),
    ).toEqual([ids[2], ids[3]]);
    await store.admin.cancel({ ids, limit: 10, archive: true, reason: 'x' });
    const newest = await store.inspect.listArchive({ newestFirst: true, status: 'cancelled', limit: 2 });
    expect(newest.map((r) => r.id)).toEqual([ids[4], ids[3]]);
  });

  it('a cancel that fails in SQL is a STORE_FAILED BusError', async () => {
    const broken = mysqlStore(t.db, { archiveTable: 'no_such_archive' });
    const [id] = await store.insert({ rows: [row()] });
    const error = await broken.admin
      .cancel({ ids: [id!], limit: 1, archive: true, reason: 'x' })
      .catch((e: unknown) => e);
    expect(isBusError(error, 'STORE_FAILED'), String(error)).toBe(true);
    expect(String(error)).toContain('cancel');
    expect((await live(store)).map((r) => r.id)).toEqual([id]);
  });
});

describe('the admin API on MariaDB (createAdmin)', () => {
  it('cancels 10,000 queued rows by filter in one call, archived as cancelled', async () => {
    for (let i = 0; i < 10; i++) {
      await store.insert({
        rows: Array.from({ length: 1000 }, (_, n) => row({ payload: encodePayload(n) })),
      });
    }
    const admin = createAdmin({ store });
    const report = await admin.cancel(
      { filter: { queue: 'q', state: 'available' } },
      { reason: 'bad batch' },
    );
    expect(report.count).toBe(10_000);
    expect(await live(store)).toEqual([]);
    const [counts] = await store.inspect.countByQueue();
    expect(counts).toMatchObject({ queue: 'q', available: 0, archivedCancelled: 10_000 });
  }, 60_000);

  it("a cancel in the caller's transaction that rolls back cancels nothing", async () => {
    const ids = await store.insert({ rows: [row(), row(), row()] });
    const admin = createAdmin({ store });
    const error = await store
      .transaction(async (tx) => {
        expect((await admin.cancel({ ids }, { tx })).count).toBe(3);
        throw new Error('rolled back');
      })
      .catch((e: unknown) => e);
    expect(String(error)).toContain('rolled back');
    expect((await live(store)).map((r) => r.id)).toEqual(ids);
    expect(await archived(store)).toEqual([]);
  });

  it('unknown ids are reported, a match-everything target needs all: true, an unknown queue cannot be paused', async () => {
    const [id] = await store.insert({ rows: [row()] });
    const admin = createAdmin({ store });
    const cancelled = await admin.cancel({ ids: [id!, '999999', 'nope'] });
    expect([cancelled.count, cancelled.ids, [...cancelled.unknown].sort()]).toEqual([
      1,
      [id],
      ['999999', 'nope'],
    ]);
    expect(await admin.redrive({ ids: ['999999'] })).toEqual({ count: 0, ids: [], unknown: ['999999'] });
    const everything = await admin.cancel({ filter: {} }).catch((e: unknown) => e);
    expect(isBusError(everything, 'INVALID_ARGUMENT'), String(everything)).toBe(true);
    const unknownQueue = await admin.pause('no-such-queue').catch((e: unknown) => e);
    expect(isBusError(unknownQueue, 'UNKNOWN_QUEUE'), String(unknownQueue)).toBe(true);
    expect(await store.inspect.listPauses()).toEqual([]);
  });
});
