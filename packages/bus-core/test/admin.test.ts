import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, newEventRow, waitFor } from '../../bus-testing/src/index.js';
import { createAdmin, defineEvent, encodePayload, Registry } from '../src/index.js';
import { archiveOf, expectRejects, handlerClass, liveOf, liveRows, makeBus, queue } from './support.js';

// The admin API (bus.admin and createAdmin): reports, per-queue archive policy for cancels, and a
// clear BusError for every bad input, the same on every store (the store never sees garbage).

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});

/** Inserts `n` rows of `queue` directly (no bus needed) and returns their ids. */
function rows(n: number, over: Parameters<typeof newEventRow>[0] = {}): Promise<string[]> {
  return store.insert({ rows: Array.from({ length: n }, () => newEventRow(over)) });
}

/** Makes `ids` archived failures (claimed and failed for good). */
async function fail(ids: string[], queueName = 'q', handlerName = 'test.handler'): Promise<void> {
  const claimed = await store.claim({
    queue: queueName,
    limit: 1000,
    workerId: 'w',
    leaseMs: 60_000,
    handlers: [handlerName],
  });
  await store.settle({
    workerId: 'w',
    outcomes: claimed
      .filter((c) => ids.includes(c.id))
      .map((c) => ({ kind: 'failed' as const, id: c.id, attempt: c.attempts, archive: true, error: 'boom' })),
  });
  const others = claimed.filter((c) => !ids.includes(c.id)).map((c) => ({ id: c.id, attempt: c.attempts }));
  if (others.length > 0) await store.release({ workerId: 'w', events: others });
}

describe('admin.cancel', () => {
  it('reports the ids it cancelled and the unknown ones (missing, finished, not ids) without throwing', async () => {
    const admin = createAdmin({ store });
    const [a, b] = await rows(2);
    const report = await admin.cancel({ ids: [a!, b!, b!, '999999', 'not-an-id', '007'] });
    expect(report).toEqual({ count: 2, ids: [a, b], unknown: ['not-an-id', '007', '999999'] });
    expect(await archiveOf(store, a!)).toMatchObject({
      status: 'cancelled',
      lastError: 'cancelled by an operator',
    });
    expect(await admin.cancel({ ids: [a!] })).toEqual({ count: 0, ids: [], unknown: [a] });
  });

  it('by filter: 10,000 queued rows in one call (the core loops in store batches), reporting only the count', async () => {
    await rows(10_000, { queue: 'bulk' });
    const [other] = await rows(1, { queue: 'keep' });
    const report = await createAdmin({ store }).cancel(
      { filter: { queue: 'bulk', state: 'available' } },
      { reason: 'bad batch' },
    );
    expect(report).toEqual({ count: 10_000, ids: [], unknown: [] });
    expect((await liveRows(store)).map((r) => r.id)).toEqual([other]);
    expect((await store.inspect.countByQueue()).find((c) => c.queue === 'bulk')?.archivedCancelled).toBe(
      10_000,
    );
  });

  it('refuses a target that would match everything unless all: true says so', async () => {
    const admin = createAdmin({ store });
    await rows(3);
    await expectRejects(admin.cancel({}), 'INVALID_ARGUMENT');
    await expectRejects(admin.cancel({ filter: {} }), 'INVALID_ARGUMENT');
    await expectRejects(admin.cancel({ all: false }), 'INVALID_ARGUMENT');
    expect((await liveRows(store)).length).toBe(3);
    expect(await admin.cancel({ all: true })).toMatchObject({ count: 3 });
    expect(await liveRows(store)).toEqual([]);
  });

  it('archives per the queue policy: a queue that drops failures drops cancelled rows; unknown queues keep them', async () => {
    const registry = new Registry();
    const bus = await makeBus({
      store,
      registry,
      queues: [
        queue('dropping', { archivePolicy: 'completed' }),
        queue('keeping', { archivePolicy: 'failed' }),
      ],
    });
    const [d] = await rows(1, { queue: 'dropping' });
    const [k] = await rows(1, { queue: 'keeping' });
    const [u] = await rows(1, { queue: 'elsewhere' });
    expect(await bus.admin.cancel({ ids: [d!, k!, u!] })).toMatchObject({ count: 3, unknown: [] });
    expect(await archiveOf(store, d!)).toBeUndefined();
    expect((await archiveOf(store, k!))?.status).toBe('cancelled');
    expect((await archiveOf(store, u!))?.status).toBe('cancelled');
    const [d2] = await rows(1, { queue: 'dropping' });
    expect(await bus.admin.cancel({ all: true })).toMatchObject({ count: 1 });
    expect(await archiveOf(store, d2!)).toBeUndefined();
  });

  it("in the caller's transaction: a rollback cancels nothing", async () => {
    const admin = createAdmin({ store });
    const ids = await rows(3);
    await store
      .transaction(async (tx) => {
        expect(await admin.cancel({ ids }, { tx })).toMatchObject({ count: 3 });
        throw new Error('roll back');
      })
      .catch(() => undefined);
    expect((await liveRows(store)).length).toBe(3);
    await store.transaction((tx) => admin.cancel({ filter: { queue: 'q' } }, { tx }));
    expect(await liveRows(store)).toEqual([]);
  });

  it('refuses bad input with INVALID_ARGUMENT: unknown keys, bad filter values, reasons, id lists', async () => {
    const admin = createAdmin({ store });
    const bad: [string, Promise<unknown>][] = [
      ['no target', admin.cancel(undefined as never)],
      ['an array target', admin.cancel([] as never)],
      ['an unknown target key', admin.cancel({ id: ['1'] } as never)],
      ['an unknown filter key', admin.cancel({ filter: { queueName: 'q' } as never })],
      ['a misspelt filter key', admin.cancel({ filter: { handler: 'h' } as never })],
      ['a filter of the wrong type', admin.cancel({ filter: 'q' as never })],
      ['an empty queue name', admin.cancel({ filter: { queue: '' } })],
      ['a queue name with NUL', admin.cancel({ filter: { queue: 'q\u0000' } })],
      ['a too long name', admin.cancel({ filter: { eventName: 'e'.repeat(201) } })],
      ['a number as name', admin.cancel({ filter: { handlerName: 5 as never } })],
      ['a bad state', admin.cancel({ filter: { state: 'done' as never } })],
      ['all not a boolean', admin.cancel({ all: 'yes' as never })],
      ['ids not an array', admin.cancel({ ids: '1' as never })],
      ['too many ids', admin.cancel({ ids: Array.from({ length: 10_001 }, (_, n) => String(n + 1)) })],
      ['an empty reason', admin.cancel({ ids: ['1'] }, { reason: '' })],
      ['a reason with NUL', admin.cancel({ ids: ['1'] }, { reason: 'a\u0000b' })],
      ['a too long reason', admin.cancel({ ids: ['1'] }, { reason: 'x'.repeat(4001) })],
      ['a reason not a string', admin.cancel({ ids: ['1'] }, { reason: 42 as never })],
      ['an unknown option', admin.cancel({ ids: ['1'] }, { reasn: 'x' } as never)],
    ];
    for (const [what, promise] of bad) {
      const error = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((error as { code?: string })?.code, what).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('admin.redrive', () => {
  it('re-runs failed rows once with their handler and settings; unknown ids are reported', async () => {
    const Event = defineEvent<{ n: number }>('adm.redrive');
    const registry = new Registry();
    let failing = true;
    const runs: [number, number, number][] = [];
    registry.register(
      Event,
      handlerClass(
        'redrive.handler',
        { queueName: 'q', maxRetries: 1, priority: -3 },
        (p: { n: number }, ctx) => {
          runs.push([p.n, ctx.attempt, ctx.maxRetries]);
          if (failing) throw new Error('provider down');
        },
        () => 10,
      ),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const ids = await bus.publishBatch(
      Event,
      Array.from({ length: 5 }, (_, n) => ({ n })),
    );
    await bus.controller.startWorkers();
    await waitFor(async () => (await store.inspect.countByQueue())[0]?.archivedFailed === 5, {
      timeoutMs: 15_000,
    });
    failing = false;
    runs.length = 0;
    const report = await bus.admin.redrive({ ids: [...ids, '424242'] });
    expect(report).toEqual({ count: 5, ids, unknown: ['424242'] });
    await waitFor(async () => (await store.inspect.countByQueue())[0]?.archivedCompleted === 5);
    expect(runs.map((r) => r[0]).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(runs.every(([, attempt, maxRetries]) => attempt === 1 && maxRetries === 1)).toBe(true);
    const [back] = await store.inspect.listArchive({ ids: [ids[0]!], limit: 1 });
    expect(back).toMatchObject({ status: 'completed', priority: -3, handlerName: 'redrive.handler' });
  });

  it('takes failed and cancelled rows by default, completed ones only when named; all needs all: true', async () => {
    const admin = createAdmin({ store });
    const [f, c, done] = await rows(3);
    await fail([f!]);
    await admin.cancel({ ids: [c!] });
    const claimed = await store.claim({
      queue: 'q',
      limit: 1,
      workerId: 'w',
      leaseMs: 60_000,
      handlers: ['test.handler'],
    });
    await store.settle({
      workerId: 'w',
      outcomes: [{ kind: 'completed', id: done!, attempt: claimed[0]!.attempts, archive: true }],
    });
    await expectRejects(admin.redrive({}), 'INVALID_ARGUMENT');
    await expectRejects(admin.redrive({ filter: { statuses: ['failed'] } }), 'INVALID_ARGUMENT');
    expect(await admin.redrive({ all: true })).toMatchObject({ count: 2 });
    expect(await admin.redrive({ ids: [done!] })).toEqual({ count: 0, ids: [], unknown: [done] });
    expect(await admin.redrive({ ids: [done!], filter: { statuses: ['completed'] } })).toMatchObject({
      count: 1,
    });
    expect((await liveRows(store)).map((r) => r.id).sort()).toEqual([f, c, done].sort());
  });

  it('refuses bad statuses and filter keys', async () => {
    const admin = createAdmin({ store });
    await expectRejects(admin.redrive({ filter: { queue: 'q', statuses: [] } }), 'INVALID_ARGUMENT');
    await expectRejects(
      admin.redrive({ filter: { queue: 'q', statuses: ['lost' as never] } }),
      'INVALID_ARGUMENT',
    );
    await expectRejects(
      admin.redrive({ filter: { queue: 'q', statuses: 'failed' as never } }),
      'INVALID_ARGUMENT',
    );
    await expectRejects(
      admin.redrive({ filter: { queue: 'q', state: 'running' } as never }),
      'INVALID_ARGUMENT',
    );
    await expectRejects(
      admin.redrive({ ids: ['1'] }, { tx: undefined, all: true } as never),
      'INVALID_ARGUMENT',
    );
  });
});

describe('admin.runNow, pause, views', () => {
  it('runNow makes scheduled rows due and reports leased or missing ones as unknown', async () => {
    const admin = createAdmin({ store });
    const [later] = await rows(1, { due: 3_600_000 });
    const [running] = await rows(1, { queue: 'r' });
    await store.claim({ queue: 'r', limit: 1, workerId: 'w', leaseMs: 60_000, handlers: ['test.handler'] });
    const report = await admin.runNow([later!, running!, 'x']);
    expect(report).toEqual({ count: 1, ids: [later], unknown: ['x', running] });
    expect((await liveOf(store, later!))!.scheduledAt.getTime()).toBeLessThanOrEqual(Date.now());
    await expectRejects(admin.runNow('1' as never), 'INVALID_ARGUMENT');
    await expectRejects(admin.runNow(['1'], { now: true } as never), 'INVALID_ARGUMENT');
  });

  it('pause of a queue nobody knows is UNKNOWN_QUEUE; a queue with rows, a config or a worker is known', async () => {
    const admin = createAdmin({ store });
    await expectRejects(admin.pause('nowhere'), 'UNKNOWN_QUEUE', 'nowhere');
    await expectRejects(admin.resume('nowhere'), 'UNKNOWN_QUEUE');
    await rows(1, { queue: 'has-rows' });
    expect(await admin.pause('has-rows')).toEqual({ changed: true });
    expect(await createAdmin({ store, queues: [queue('configured')] }).pause('configured')).toEqual({
      changed: true,
    });
    await store.admin.recordWorker({ workerId: 'w1', queues: ['worked'], info: 'x' });
    expect(await admin.pause('worked', { handlerName: 'h' })).toEqual({ changed: true });
    // Known now through its pause.
    expect(await admin.resume('configured')).toEqual({ changed: true });
    expect((await admin.pauses()).map((p) => [p.queue, p.handlerName])).toEqual([
      ['has-rows', null],
      ['worked', 'h'],
    ]);
    for (const bad of ['', 5, null, 'q\u0000', 'x'.repeat(201)]) {
      await expectRejects(admin.pause(bad as never), 'INVALID_ARGUMENT');
    }
    await expectRejects(admin.pause('has-rows', { handlerName: '' }), 'INVALID_ARGUMENT');
    await expectRejects(admin.pause('has-rows', { handler: 'h' } as never), 'INVALID_ARGUMENT');
  });

  it('a pause in a transaction that rolls back leaves the queue running', async () => {
    const admin = createAdmin({ store, queues: [queue('q')] });
    await store
      .transaction(async (tx) => {
        await admin.pause('q', { tx });
        throw new Error('roll back');
      })
      .catch(() => undefined);
    expect(await admin.pauses()).toEqual([]);
  });

  it('lists with defaults and validation: events, archive, event(id), workers, purgeArchive, queues', async () => {
    const admin = createAdmin({ store, queues: [queue('configured')] });
    const ids = await rows(150, { payload: encodePayload({ big: 1 }) });
    expect((await admin.events()).length).toBe(100);
    expect((await admin.events({ newestFirst: true, limit: 2 })).map((r) => r.id)).toEqual([
      ids[149],
      ids[148],
    ]);
    expect(await admin.events({ ids: ['x'] } as never).catch((e: { code: string }) => e.code)).toBe(
      'INVALID_ARGUMENT',
    );
    await expectRejects(admin.events({ status: 'failed' } as never), 'INVALID_ARGUMENT');
    await expectRejects(admin.archive({ state: 'running' } as never), 'INVALID_ARGUMENT');
    await expectRejects(admin.events({ limit: 0 }), 'INVALID_ARGUMENT');
    await expectRejects(admin.events({ afterId: 'abc' }), 'INVALID_ARGUMENT');
    await expectRejects(admin.events({ newestFirst: 'yes' as never }), 'INVALID_ARGUMENT');
    await fail([ids[0]!]);
    expect((await admin.archive({ status: 'failed' })).map((r) => r.id)).toEqual([ids[0]]);
    expect(await admin.event(ids[0]!)).toMatchObject({ where: 'archive', row: { id: ids[0] } });
    expect(await admin.event(ids[1]!)).toMatchObject({ where: 'live', row: { id: ids[1] } });
    expect(await admin.event('99999')).toBeNull();
    expect(await admin.event('garbage')).toBeNull();
    await expectRejects(admin.event(7 as never), 'INVALID_ARGUMENT');
    await expectRejects(admin.workers({ seenWithinMs: -1 }), 'INVALID_ARGUMENT');
    await expectRejects(admin.workers({ within: 5 } as never), 'INVALID_ARGUMENT');
    await expectRejects(admin.purgeArchive({ olderThanMs: 1.5 }), 'INVALID_ARGUMENT');
    await expectRejects(admin.purgeArchive(undefined as never), 'INVALID_ARGUMENT');
    const [archived] = await store.inspect.listArchive({ limit: 1 });
    await waitFor(async () => (await store.now()).getTime() > archived!.finishedAt.getTime());
    expect(await admin.purgeArchive({ olderThanMs: 0 })).toBe(1);
    await admin.pause('q', { handlerName: 'test.handler' });
    const overview = await admin.queues();
    expect(overview.map((q) => q.queue)).toEqual(['configured', 'q']);
    expect(overview[1]).toMatchObject({
      available: 149,
      paused: false,
      pausedHandlers: ['test.handler'],
      archivedCancelled: 0,
    });
    expect(overview[0]).toMatchObject({ available: 0, paused: false, pausedHandlers: [] });
    expect((await admin.now()).getTime()).toBeGreaterThan(0);
  });

  it('createAdmin refuses options without a job-control store or with unknown keys', () => {
    expect(() => createAdmin(undefined as never)).toThrow(/INVALID_CONFIG/);
    expect(() => createAdmin({ store: {} as never })).toThrow(/INVALID_CONFIG/);
    expect(() => createAdmin({ store, queue: [] } as never)).toThrow(/INVALID_ARGUMENT/);
    expect(() => createAdmin({ store, queues: [{ queueName: 'q' }] as never })).toThrow(
      /INVALID_QUEUE_CONFIG/,
    );
  });
});
