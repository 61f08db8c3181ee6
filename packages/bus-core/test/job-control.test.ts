import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryStore, waitFor } from '../../bus-testing/src/index.js';
import { createAdmin, defineEvent, isBusError, Registry, type SettledInfo } from '../src/index.js';
import { archiveOf, handlerClass, liveOf, makeBus, queue } from './support.js';

// The worker side of job control: a cancelled running row has its signal aborted within about a
// second and cannot settle; a pause stops claims in every process (and a process started paused
// never claims); a resume restarts them; worker heartbeats.

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('cancel of a running row', () => {
  it('aborts its signal with CANCELLED within 1.5 s, archives it cancelled, and refuses its late completion', async () => {
    const Event = defineEvent<{ n: number }>('jc.cancel-running');
    const registry = new Registry();
    let signal: AbortSignal | undefined;
    let finish: (() => void) | undefined;
    registry.register(
      Event,
      handlerClass('long.handler', { queueName: 'q', executionTimeout: 60_000 }, (_p, ctx) => {
        signal = ctx.signal;
        // Ignores its signal: finishes only when the test says so, after the cancel.
        return new Promise<void>((resolve) => {
          finish = resolve;
        });
      }),
    );
    const settled: SettledInfo[] = [];
    const bus = await makeBus({
      store,
      registry,
      queues: [queue('q', { workers: 1 })],
      telemetry: { settled: (s) => void settled.push(s) },
    });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    await waitFor(() => signal, { message: 'the handler started' });
    // An operator elsewhere (no bus): the worker learns it from its lease check.
    const admin = createAdmin({ store });
    const cancelledAt = Date.now();
    const report = await admin.cancel({ ids: [id!] }, { reason: 'stop the batch' });
    expect(report).toEqual({ count: 1, ids: [id], unknown: [] });
    await waitFor(() => signal!.aborted, { timeoutMs: 1500, message: 'the signal aborted within 1.5 s' });
    expect(Date.now() - cancelledAt).toBeLessThan(1500);
    expect(isBusError(signal!.reason, 'CANCELLED')).toBe(true);
    finish!();
    expect(await archiveOf(store, id!)).toMatchObject({ status: 'cancelled', lastError: 'stop the batch' });
    // The slot is free again: the next row runs.
    const [next] = await bus.publish(Event, { n: 2 });
    await waitFor(() => liveOf(store, next!).then((r) => r?.lockedBy !== null));
    expect(settled.filter((s) => s.id === id)).toEqual([]);
    expect((await archiveOf(store, id!))?.status).toBe('cancelled');
    finish!();
  });

  it('a row whose lease another worker took is aborted with LEASE_LOST, not CANCELLED', async () => {
    const Event = defineEvent<{ n: number }>('jc.taken');
    const registry = new Registry();
    let signal: AbortSignal | undefined;
    registry.register(
      Event,
      handlerClass('taken.handler', { queueName: 'q', executionTimeout: 60_000 }, (_p, ctx) => {
        signal = ctx.signal;
        return new Promise<void>(() => {});
      }),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q', { workers: 1 })] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    await waitFor(() => signal);
    const row = (await liveOf(store, id!))!;
    // Another worker's rescue and claim, as after a long stall: the row lives on, held by another.
    await store.release({ workerId: row.lockedBy!, events: [{ id: id!, attempt: row.attempts }] });
    await store.claim({
      queue: 'q',
      limit: 1,
      workerId: 'other',
      leaseMs: 60_000,
      handlers: ['taken.handler'],
    });
    await waitFor(() => signal!.aborted, { timeoutMs: 1500 });
    expect(isBusError(signal!.reason, 'LEASE_LOST')).toBe(true);
    expect((await liveOf(store, id!))?.lockedBy).toBe('other');
  });
  it("a row that finished elsewhere after this worker's lease expired (a frozen process) is LEASE_LOST, not CANCELLED", async () => {
    const Event = defineEvent<{ n: number }>('jc.frozen');
    const registry = new Registry();
    let signal: AbortSignal | undefined;
    registry.register(
      Event,
      handlerClass('frozen.handler', { queueName: 'q', executionTimeout: 600_000 }, (_p, ctx) => {
        signal = ctx.signal;
        return new Promise<void>(() => {});
      }),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q', { workers: 1 })] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    await waitFor(() => signal);
    const row = (await liveOf(store, id!))!;
    // While this process slept past its lease, another worker rescued, claimed and completed
    // the row: it left the hot table as a cancelled row would.
    await store.release({ workerId: row.lockedBy!, events: [{ id: id!, attempt: row.attempts }] });
    const [taken] = await store.claim({
      queue: 'q',
      limit: 1,
      workerId: 'other',
      leaseMs: 60_000,
      handlers: ['frozen.handler'],
    });
    await store.settle({
      workerId: 'other',
      outcomes: [{ kind: 'completed', id: id!, attempt: taken!.attempts, archive: true }],
    });
    // The process wakes up: by its own clock, its lease ended long ago.
    const woke = Date.now() + 10 * 60_000;
    vi.spyOn(Date, 'now').mockImplementation(() => woke);
    await waitFor(() => signal!.aborted, { timeoutMs: 3000 });
    expect(isBusError(signal!.reason, 'LEASE_LOST')).toBe(true);
    expect((await archiveOf(store, id!))?.status).toBe('completed');
  });
});

describe('pause and resume', () => {
  it('a paused queue starts nothing new within the bounded time; running rows finish; resume starts them again', async () => {
    const Event = defineEvent<{ n: number }>('jc.pause');
    const registry = new Registry();
    const started: number[] = [];
    registry.register(
      Event,
      handlerClass('pause.handler', { queueName: 'q' }, async (p: { n: number }) => {
        started.push(p.n);
        await new Promise((r) => setTimeout(r, 20));
      }),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q', { workers: 2, batchSize: 5 })] });
    await bus.controller.startWorkers();
    // Paused by another process: this one learns it from its watcher.
    const other = createAdmin({ store });
    expect(await other.pause('q')).toEqual({ changed: true });
    expect(await other.pause('q')).toEqual({ changed: false });
    await new Promise((r) => setTimeout(r, 1200));
    await bus.publishBatch(
      Event,
      Array.from({ length: 20 }, (_, n) => ({ n })),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(started).toEqual([]);
    const rows = await store.inspect.listEvents({ queue: 'q', limit: 100 });
    expect(rows.every((r) => r.attempts === 0 && r.lockedBy === null)).toBe(true);
    expect((await bus.admin.queues()).find((q) => q.queue === 'q')).toMatchObject({
      paused: true,
      available: 20,
    });
    expect(await bus.admin.resume('q')).toEqual({ changed: true });
    await waitFor(async () => (await store.inspect.countByQueue())[0]?.archivedCompleted === 20, {
      message: 'all 20 ran after the resume',
    });
    expect(new Set(started).size).toBe(20);
  });

  it('a bus started while its queue is paused never claims; a paused handler leaves its rows while its neighbour runs', async () => {
    const Event = defineEvent<{ n: number }>('jc.paused-start');
    const registry = new Registry();
    const runs: string[] = [];
    registry.register(
      Event,
      handlerClass('a.handler', { queueName: 'q' }, () => void runs.push('a')),
    );
    registry.register(
      Event,
      handlerClass('b.handler', { queueName: 'q' }, () => void runs.push('b')),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    await bus.admin.pause('q');
    await bus.admin.pause('q', { handlerName: 'b.handler' });
    const [a, b] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    await new Promise((r) => setTimeout(r, 300));
    expect(runs).toEqual([]);
    expect((await liveOf(store, a!))?.attempts).toBe(0);
    // The queue resumes; its handler b stays paused on its own.
    await bus.admin.resume('q');
    await waitFor(() => archiveOf(store, a!));
    await new Promise((r) => setTimeout(r, 300));
    expect(runs).toEqual(['a']);
    expect(await liveOf(store, b!)).toMatchObject({ attempts: 0, lockedBy: null });
    expect((await bus.admin.queues()).find((q) => q.queue === 'q')).toMatchObject({
      paused: false,
      pausedHandlers: ['b.handler'],
    });
    await bus.admin.resume('q', { handlerName: 'b.handler' });
    await waitFor(() => archiveOf(store, b!));
    expect(runs).toEqual(['a', 'b']);
  });

  it('rows buffered when a pause arrives go back unstarted, their attempts given back', async () => {
    const Event = defineEvent<{ n: number }>('jc.buffered');
    const registry = new Registry();
    let release: (() => void) | undefined;
    const started: number[] = [];
    registry.register(
      Event,
      handlerClass('slow.handler', { queueName: 'q', executionTimeout: 60_000 }, (p: { n: number }) => {
        started.push(p.n);
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      }),
    );
    const bus = await makeBus({
      store,
      registry,
      queues: [queue('q', { workers: 1, prefetch: 5, batchSize: 6 })],
    });
    await bus.publishBatch(
      Event,
      Array.from({ length: 6 }, (_, n) => ({ n })),
    );
    await bus.controller.startWorkers();
    await waitFor(async () => (await store.inspect.countByQueue())[0]?.running === 6, {
      message: 'one running, five buffered',
    });
    await bus.admin.pause('q');
    await waitFor(async () => (await store.inspect.countByQueue())[0]?.running === 1, {
      message: 'the buffered rows handed back',
    });
    const back = await store.inspect.listEvents({ queue: 'q', state: 'available', limit: 10 });
    expect(back).toHaveLength(5);
    expect(back.every((r) => r.attempts === 0)).toBe(true);
    release!();
    await new Promise((r) => setTimeout(r, 200));
    expect(started).toHaveLength(1);
  });
});

describe('worker heartbeats', () => {
  it('a running bus is listed with its queues and host/pid; it leaves the list at shutdown', async () => {
    const registry = new Registry();
    registry.register(
      defineEvent<{ n: number }>('jc.hb'),
      handlerClass('hb.handler', { queueName: 'hb' }, () => {}),
    );
    const bus = await makeBus({ store, registry, queues: [queue('hb')], workerId: 'hb-worker' });
    await bus.controller.startWorkers();
    const [me] = await waitFor(async () => {
      const list = await bus.admin.workers();
      return list.length > 0 ? list : undefined;
    });
    expect(me).toMatchObject({ workerId: 'hb-worker', queues: ['hb'] });
    expect(me!.info).toMatch(/pid \d+/);
    await bus.controller.awaitTerminationWithTimeout(1000);
    expect(await bus.admin.workers()).toEqual([]);
  });

  it('a failing heartbeat or pause read is logged, never fatal', async () => {
    const registry = new Registry();
    const Event = defineEvent<{ n: number }>('jc.hb-fail');
    registry.register(
      Event,
      handlerClass('hb-fail.handler', { queueName: 'q' }, () => {}),
    );
    const warnings: string[] = [];
    const logger = {
      debug() {},
      info() {},
      warn: (m: string) => void warnings.push(m),
      error() {},
    };
    const bus = await makeBus({ store, registry, queues: [queue('q')], logger });
    const failing = store.admin.recordWorker.bind(store.admin);
    store.admin.recordWorker = async () => {
      throw new Error('database down');
    };
    try {
      await bus.controller.startWorkers();
      await waitFor(() => warnings.some((w) => w.includes('heartbeat')));
      const [id] = await bus.publish(Event, { n: 1 });
      await waitFor(() => archiveOf(store, id!));
    } finally {
      store.admin.recordWorker = failing;
    }
  });
});

describe('start-up with pauses', () => {
  it('startWorkers fails with STORE_FAILED when it cannot read the pauses, and can be called again', async () => {
    const registry = new Registry();
    const Event = defineEvent<{ n: number }>('jc.pause-read');
    registry.register(
      Event,
      handlerClass('pause-read.handler', { queueName: 'q' }, () => {}),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const listPauses = store.inspect.listPauses.bind(store.inspect);
    store.inspect.listPauses = async () => {
      throw new Error('database down');
    };
    const error = await bus.controller.startWorkers().catch((e: unknown) => e);
    expect(isBusError(error, 'STORE_FAILED')).toBe(true);
    expect(String((error as Error).message)).toMatch(/paused and limited queues: Error: database down/);
    store.inspect.listPauses = listPauses;
    await bus.controller.startWorkers();
    const [id] = await bus.publish(Event, { n: 1 });
    await waitFor(() => archiveOf(store, id!));
  });

  it('bus.inspect lists take the new filters and refuse unknown fields', async () => {
    const bus = await makeBus({ store, registry: new Registry(), queues: [queue('q')] });
    const [a, b] = await store.insert({
      rows: [
        {
          queue: 'q',
          eventName: 'e',
          handlerName: 'h',
          payload: new Uint8Array([0xc0]),
          maxRetries: 0,
          priority: 0,
          due: 0,
        },
        {
          queue: 'q',
          eventName: 'e',
          handlerName: 'h',
          payload: new Uint8Array([0xc0]),
          maxRetries: 0,
          priority: 0,
          due: 60_000,
        },
      ],
    });
    expect((await bus.inspect.events({ state: 'scheduled' })).map((r) => r.id)).toEqual([b]);
    expect((await bus.inspect.events({ newestFirst: true })).map((r) => r.id)).toEqual([b, a]);
    await expect(bus.inspect.events({ status: 'failed' } as never)).rejects.toThrow(/unknown field "status"/);
    await expect(bus.inspect.archive({ state: 'running' } as never)).rejects.toThrow(/unknown field "state"/);
  });
});
