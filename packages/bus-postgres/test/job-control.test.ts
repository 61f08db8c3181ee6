import { createAdmin, encodePayload, isBusError } from 'bus-core';
import { newEventRow, waitFor } from 'bus-testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type PgTx, type PostgresStore, postgresStore } from '../src/index.js';
import {
  archived,
  createPglite,
  createTestSchema,
  live,
  pgClient,
  type TestSchema,
  uniqueName,
} from './helpers.js';

// Job control on PostgreSQL itself: what the shared suite cannot see from the contract — the
// caller's transaction on both drivers, rows locked by another session, ids kept through the
// identity column, NOTIFY at commit, text that LIKE would misread, and rows written by hand.

const row = newEventRow;
const HANDLERS = ['test.handler'];

let t: TestSchema;
let store: PostgresStore;
let lite: Awaited<ReturnType<typeof createPglite>>;
let liteStore: PostgresStore;

beforeAll(async () => {
  [t, lite] = await Promise.all([createTestSchema('jobctl'), createPglite()]);
  store = postgresStore(t.db, { channel: uniqueName('wake') });
  liteStore = postgresStore(lite.db);
});

beforeEach(async () => {
  await t.truncate();
  await lite.db.execute(sql`TRUNCATE bus_events, bus_events_archive, bus_events_pauses, bus_events_workers`);
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
const NAMES = ['postgres.js', 'PGlite'];
const driver = (name: string) => drivers().find(([n]) => n === name)!;

async function failedRows(s: PostgresStore, n: number, error = 'boom') {
  const ids = await s.insert({ rows: Array.from({ length: n }, () => row()) });
  const claimed = await s.claim({ queue: 'q', limit: n, workerId: 'w', leaseMs: 60_000, handlers: HANDLERS });
  await s.settle({
    workerId: 'w',
    outcomes: claimed.map((r) => ({
      kind: 'failed' as const,
      id: r.id,
      attempt: r.attempts,
      archive: true,
      error,
    })),
  });
  return ids;
}

describe('cancel', () => {
  it.each(NAMES)('%s: in a transaction that rolls back, cancels nothing', async (name) => {
    const [, s, db] = driver(name);
    const ids = await s.insert({ rows: [row(), row(), row()] });
    const error = await db
      .transaction(async (tx) => {
        const cancelled = await s.admin.cancel({
          filter: { queue: 'q' },
          limit: 10,
          archive: true,
          reason: 'r',
          tx,
        });
        expect(cancelled).toEqual(ids);
        throw new Error('roll back');
      })
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe('roll back');
    expect((await live(s)).map((r) => r.id)).toEqual(ids);
    expect(await archived(s)).toEqual([]);
  });

  it.each(NAMES)('%s: in a transaction that commits, removes and archives with it', async (name) => {
    const [, s, db] = driver(name);
    const ids = await s.insert({ rows: [row(), row()] });
    await db.transaction(async (tx) => {
      expect(await s.admin.cancel({ ids: [ids[1]!], limit: 10, archive: true, reason: 'gone', tx })).toEqual([
        ids[1],
      ]);
    });
    expect((await live(s)).map((r) => r.id)).toEqual([ids[0]]);
    expect((await archived(s)).map((r) => [r.id, r.status, r.lastError])).toEqual([
      [ids[1], 'cancelled', 'gone'],
    ]);
  });

  it('skips rows another session holds locked, without waiting, and takes them on a later call', async () => {
    const ids = await store.insert({ rows: [row(), row(), row()] });
    const other = pgClient({ schema: t.schema, max: 1 });
    try {
      let unlock!: () => void;
      const held = new Promise<void>((resolve) => {
        unlock = resolve;
      });
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const session = other.begin(async (tx) => {
        await tx.unsafe(`SELECT id FROM bus_events WHERE id = ${Number(ids[1])} FOR UPDATE`);
        locked();
        await held;
      });
      await isLocked;
      expect(
        await store.admin.cancel({ filter: { queue: 'q' }, limit: 10, archive: false, reason: 'r' }),
      ).toEqual([ids[0], ids[2]]);
      unlock();
      await session;
      expect(
        await store.admin.cancel({ filter: { queue: 'q' }, limit: 10, archive: false, reason: 'r' }),
      ).toEqual([ids[1]]);
      expect(await archived(store)).toEqual([]);
    } finally {
      await other.end();
    }
  });

  it.each(NAMES)('%s: a cancelled leased row fails its holder fence everywhere', async (name) => {
    const [, s] = driver(name);
    const [id] = await s.insert({ rows: [row()] });
    const [claimed] = await s.claim({
      queue: 'q',
      limit: 1,
      workerId: 'w',
      leaseMs: 60_000,
      handlers: HANDLERS,
    });
    const held = [{ id: id!, attempt: claimed!.attempts }];
    expect(await s.checkLeases({ workerId: 'w', events: held })).toEqual([id]);
    expect(
      await s.admin.cancel({ filter: { state: 'running' }, limit: 10, archive: true, reason: 'stop' }),
    ).toEqual([id]);
    expect(await s.checkLeases({ workerId: 'w', events: held })).toEqual([]);
    expect(await s.extendLeases({ workerId: 'w', events: held, leaseMs: 60_000 })).toEqual([]);
    expect(await s.release({ workerId: 'w', events: held })).toEqual([]);
    const late = await s.settle({
      workerId: 'w',
      outcomes: [{ kind: 'completed', id: id!, attempt: 1, archive: true }],
    });
    expect(late).toEqual({ settled: [] });
    expect((await archived(s)).map((r) => [r.status, r.lastError, r.attempts])).toEqual([
      ['cancelled', 'stop', 1],
    ]);
  });
});

describe('redrive', () => {
  it.each(NAMES)('%s: the same ids come back, fresh, and new rows still get new ids', async (name) => {
    const [, s] = driver(name);
    const ids = await failedRows(s, 3, 'bad input');
    expect(await s.admin.redrive({ statuses: ['failed'], limit: 10 })).toEqual(ids);
    const back = await live(s);
    expect(back.map((r) => [r.id, r.attempts, r.snoozes, r.lockedBy, r.lastError])).toEqual(
      ids.map((id) => [id, 0, 0, null, 'bad input']),
    );
    expect(await archived(s)).toEqual([]);
    // The identity sequence was never asked for those ids: a new row does not collide.
    const [fresh] = await s.insert({ rows: [row()] });
    expect(BigInt(fresh!)).toBeGreaterThan(BigInt(ids[2]!));
    // And they run again: claimed with attempt 1.
    const claimed = await s.claim({
      queue: 'q',
      limit: 10,
      workerId: 'w2',
      leaseMs: 60_000,
      handlers: HANDLERS,
    });
    expect(claimed.map((r) => [r.id, r.attempts])).toEqual([...ids, fresh!].map((id) => [id, 1]));
  });

  it('wakes listeners at commit, never for a rolled-back redrive', async () => {
    const ids = await failedRows(store, 2);
    const woken: string[] = [];
    const sub = await store.listen({ onWake: (q) => void woken.push(q ?? ''), onError: () => {} });
    try {
      await t.db
        .transaction(async (tx) => {
          expect(await store.admin.redrive({ ids: [ids[0]!], statuses: ['failed'], limit: 10, tx })).toEqual([
            ids[0],
          ]);
          throw new Error('roll back');
        })
        .catch(() => {});
      expect((await archived(store)).map((r) => r.id)).toEqual(ids);
      await store.admin.redrive({ ids: [ids[0]!], statuses: ['failed'], limit: 10 });
      await waitFor(() => woken.includes('q'), {
        message: 'a wake-up for the redriven queue',
        timeoutMs: 5000,
      });
      // The rolled-back redrive sent nothing: one wake-up, for the one that committed.
      expect(woken.filter((q) => q === 'q')).toHaveLength(1);
    } finally {
      await sub.close();
    }
  });
});

describe('filters', () => {
  it.each(
    NAMES,
  )('%s: errorContains is plain text: percent, underscore and backslash match only themselves', async (name) => {
    const [, s] = driver(name);
    const texts = ['100% done', '100 done', 'a_b', 'axb', 'back\\slash', 'backslash', 'nul\u0000here'];
    for (const text of texts) await failedRows(s, 1, text);
    const match = async (errorContains: string) =>
      (await s.inspect.listArchive({ errorContains, limit: 100 })).map((r) => r.lastError);
    expect(await match('0%')).toEqual(['100% done']);
    expect(await match('_')).toEqual(['a_b']);
    expect(await match('\\')).toEqual(['back\\slash']);
    expect(await match('%')).toEqual(['100% done']);
    expect(await match('DONE')).toEqual([]);
    // Stored error text has U+FFFD for U+0000, and so does the filter.
    expect(await match('nul\u0000')).toEqual(['nul\uFFFDhere']);
    const redriven = await s.admin.redrive({
      filter: { errorContains: '_' },
      statuses: ['failed'],
      limit: 10,
    });
    expect((await live(s, { ids: redriven })).map((r) => r.lastError)).toEqual(['a_b']);
  });

  it.each(NAMES)('%s: newestFirst pages by descending id, afterId then means smaller', async (name) => {
    const [, s] = driver(name);
    const ids = await s.insert({ rows: Array.from({ length: 5 }, () => row()) });
    const first = await s.inspect.listEvents({ newestFirst: true, limit: 2 });
    expect(first.map((r) => r.id)).toEqual([ids[4], ids[3]]);
    const next = await s.inspect.listEvents({ newestFirst: true, afterId: ids[3]!, limit: 10 });
    expect(next.map((r) => r.id)).toEqual([ids[2], ids[1], ids[0]]);
  });
});

describe('pauses and workers', () => {
  it.each(NAMES)('%s: a second pause keeps the first time; resume wakes only when paused', async (name) => {
    const [, s] = driver(name);
    expect(await s.admin.pause({ queue: 'q' })).toBe(true);
    const [first] = await s.inspect.listPauses();
    await waitFor(async () => (await s.now()) > first!.pausedAt, { message: 'the clock to move' });
    expect(await s.admin.pause({ queue: 'q' })).toBe(false);
    expect(await s.inspect.listPauses()).toEqual([first]);
    expect(await s.admin.resume({ queue: 'q', handlerName: 'h' })).toBe(false);
    expect(await s.admin.resume({ queue: 'q' })).toBe(true);
    expect(await s.admin.resume({ queue: 'q' })).toBe(false);
  });

  it.each(NAMES)('%s: pause in a rolled-back transaction leaves nothing', async (name) => {
    const [, s, db] = driver(name);
    await db
      .transaction(async (tx) => {
        expect(await s.admin.pause({ queue: 'q', handlerName: 'h', tx })).toBe(true);
        throw new Error('roll back');
      })
      .catch(() => {});
    expect(await s.inspect.listPauses()).toEqual([]);
  });

  it.each(
    NAMES,
  )('%s: worker queues and info round-trip exactly; the heartbeat keeps started_at', async (name) => {
    const [, s] = driver(name);
    const queues = ['q', 'with "quotes", commas and \\', 'ünï €ode 🚀', ''];
    await s.admin.recordWorker({ workerId: 'w1', queues, info: 'host pid 1' });
    const [before] = await s.inspect.listWorkers({ seenWithinMs: 60_000 });
    expect(before).toMatchObject({ workerId: 'w1', queues, info: 'host pid 1' });
    await waitFor(async () => (await s.now()) > before!.lastSeenAt, { message: 'the clock to move' });
    await s.admin.recordWorker({ workerId: 'w1', queues: ['q'], info: 'host pid 1' });
    const [after] = await s.inspect.listWorkers({ seenWithinMs: 60_000 });
    expect(after!.startedAt).toEqual(before!.startedAt);
    expect(after!.lastSeenAt.getTime()).toBeGreaterThan(before!.lastSeenAt.getTime());
    expect(after!.queues).toEqual(['q']);
    await s.admin.removeWorker({ workerId: 'w1' });
    expect(await s.inspect.listWorkers({ seenWithinMs: 60_000 })).toEqual([]);
  });

  it('a worker row written by hand with garbage queues is a STORE_FAILED naming the column', async () => {
    await t.db.execute(
      sql`INSERT INTO bus_events_workers (worker_id, queues, info) VALUES ('hand', 'not json', '')`,
    );
    const error = await store.inspect.listWorkers({ seenWithinMs: 60_000 }).catch((e: unknown) => e);
    expect(isBusError(error, 'STORE_FAILED')).toBe(true);
    expect((error as Error).message).toContain('queues column');
  });
});

describe('snooze and run now', () => {
  it.each(
    NAMES,
  )('%s: a snooze gives the attempt back, counts the snooze and keeps the last error', async (name) => {
    const [, s] = driver(name);
    const [id] = await s.insert({ rows: [row({ maxRetries: 3 })] });
    const lease = { queue: 'q', limit: 1, workerId: 'w', leaseMs: 60_000, handlers: HANDLERS };
    const [a] = await s.claim(lease);
    await s.settle({
      workerId: 'w',
      outcomes: [{ kind: 'retry', id: id!, attempt: a!.attempts, delayMs: 0, error: 'e1' }],
    });
    for (let i = 0; i < 3; i++) {
      const [c] = await s.claim(lease);
      expect([c!.attempts, c!.snoozes]).toEqual([2, i]);
      await s.settle({
        workerId: 'w',
        outcomes: [{ kind: 'snooze', id: id!, attempt: c!.attempts, delayMs: 0 }],
      });
    }
    const [r] = await live(s);
    expect([r!.attempts, r!.snoozes, r!.lastError, r!.lockedBy]).toEqual([1, 3, 'e1', null]);
  });

  it.each(
    NAMES,
  )('%s: runNow makes a later row due; a leased or missing row is not returned', async (name) => {
    const [, s] = driver(name);
    const [later, leased] = await s.insert({ rows: [row({ due: 3_600_000 }), row({ queue: 'other' })] });
    await s.claim({ queue: 'other', limit: 1, workerId: 'w', leaseMs: 60_000, handlers: HANDLERS });
    expect(await s.admin.runNow({ ids: [later!, leased!, '999999999'] })).toEqual([later]);
    const [r] = await live(s, { ids: [later!] });
    expect(r!.scheduledAt.getTime()).toBeLessThanOrEqual((await s.now()).getTime());
    expect((await live(s, { state: 'available' })).map((x) => x.id)).toEqual([later]);
  });
});

describe('PGlite only has one connection', () => {
  it('cancel, redrive and pause inside its transaction use the given tx (no hang)', async () => {
    const ids = await failedRows(liteStore, 1);
    await lite.db.transaction(async (tx) => {
      expect(await liteStore.admin.redrive({ ids, statuses: ['failed'], limit: 1, tx })).toEqual(ids);
      expect(await liteStore.admin.runNow({ ids, tx })).toEqual(ids);
      expect(await liteStore.admin.pause({ queue: 'q', tx })).toBe(true);
      expect(await liteStore.admin.cancel({ ids, limit: 1, archive: true, reason: 'again', tx })).toEqual(
        ids,
      );
    });
    expect((await archived(liteStore)).map((r) => [r.id, r.status])).toEqual([[ids[0], 'cancelled']]);
  });
});

describe('cancel locks only what it cancels', () => {
  it('while its transaction is open, claims of its own queue and of others take the rest', async () => {
    const bs: string[] = [];
    for (let i = 0; i < 4; i++) {
      bs.push(...(await store.insert({ rows: Array.from({ length: 1000 }, () => row({ queue: 'b' })) })));
    }
    const as = await store.insert({ rows: Array.from({ length: 500 }, () => row({ queue: 'a' })) });
    await t.db.execute(sql`ANALYZE bus_events`);
    await t.db.transaction(async (tx) => {
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
        store.claim({ queue, limit: 1000, workerId: `w-${queue}`, leaseMs: 60_000, handlers: HANDLERS });
      expect((await claim('b')).map((c) => c.id)).toEqual(bs.slice(0, 1000));
      expect((await claim('a')).map((c) => c.id)).toEqual(as.slice(10));
    });
    expect(await live(store, { ids: as.slice(0, 10) })).toEqual([]);
  });

  it('a cancel that fails in SQL is a STORE_FAILED BusError, and removes nothing', async () => {
    const broken = postgresStore(t.db, { archiveTable: 'no_such_archive', listen: false });
    const [id] = await store.insert({ rows: [row()] });
    const error = await broken.admin
      .cancel({ ids: [id!], limit: 1, archive: true, reason: 'x' })
      .catch((e: unknown) => e);
    expect(isBusError(error, 'STORE_FAILED'), String(error)).toBe(true);
    expect(String(error)).toContain('cancel');
    expect(String(error)).toContain('no_such_archive');
    expect((await live(store)).map((r) => r.id)).toEqual([id]);
  });
});

describe('the admin API on PostgreSQL (createAdmin)', () => {
  it.each(
    NAMES,
  )('%s: cancels 10,000 queued rows by filter in one call, archived as cancelled', async (name) => {
    const [, s] = driver(name);
    await s.insert({ rows: Array.from({ length: 10_000 }, (_, n) => row({ payload: encodePayload(n) })) });
    const report = await createAdmin({ store: s }).cancel(
      { filter: { queue: 'q', state: 'available' } },
      { reason: 'bad batch' },
    );
    expect(report.count).toBe(10_000);
    expect(await live(s)).toEqual([]);
    const [counts] = await s.inspect.countByQueue();
    expect(counts).toMatchObject({ queue: 'q', available: 0, archivedCancelled: 10_000 });
  }, 60_000);

  it.each(NAMES)("%s: a cancel in the caller's transaction that rolls back cancels nothing", async (name) => {
    const [, s, db] = driver(name);
    const ids = await s.insert({ rows: [row(), row(), row()] });
    const admin = createAdmin({ store: s });
    const error = await db
      .transaction(async (tx) => {
        expect((await admin.cancel({ ids }, { tx })).count).toBe(3);
        throw new Error('rolled back');
      })
      .catch((e: unknown) => e);
    expect(String(error)).toContain('rolled back');
    expect((await live(s)).map((r) => r.id)).toEqual(ids);
    expect(await archived(s)).toEqual([]);
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
