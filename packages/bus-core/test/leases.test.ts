import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, newEventRow, waitFor } from '../../bus-testing/src/index.js';
import { defineEvent, type QueueStore, Registry, type Telemetry } from '../src/index.js';
import { archiveOf, handlerClass, liveOf, makeBus, queue } from './support.js';

// Leases through the bus: heartbeats keep running and buffered rows leased; the rescuer reads the
// expired rows of this process's queues and decides each (retry while tries remain, else fail).

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});

/** `store` with every call to `method` counted. */
function counting(inner: MemoryStore, method: keyof QueueStore): { store: MemoryStore; calls: () => number } {
  let calls = 0;
  const proxy = new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === method && typeof value === 'function') {
        return (...args: unknown[]) => {
          calls++;
          return value.apply(target, args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: proxy, calls: () => calls };
}

describe('rescue by the bus', () => {
  it('an expired lease is rescued, a worker runs the row again, the stale settle is refused', async () => {
    const Event = defineEvent<{ n: number }>('lease.rescued');
    const registry = new Registry();
    const attempts: number[] = [];
    registry.register(
      Event,
      handlerClass(
        'rescued.handler',
        { queueName: 'q', maxRetries: 5 },
        (_p, ctx) => void attempts.push(ctx.attempt),
      ),
    );
    const [id] = await store.insert({
      rows: [newEventRow({ eventName: 'lease.rescued', handlerName: 'rescued.handler', maxRetries: 5 })],
    });
    const [first] = await store.claim({
      queue: 'q',
      limit: 1,
      workerId: 'stale',
      leaseMs: 200,
      handlers: ['rescued.handler'],
    });
    expect(first).toMatchObject({ id, attempts: 1 });
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    await bus.controller.startWorkers();
    const archived = await waitFor(() => archiveOf(store, id!), { message: 'the rescued row handled' });
    expect(archived).toMatchObject({ status: 'completed', attempts: 2 });
    expect(archived.lastError).toContain('LEASE_EXPIRED');
    expect(archived.lastError).toContain('stale');
    expect(attempts).toEqual([2]);
    const stale = await store.settle({
      workerId: 'stale',
      outcomes: [{ kind: 'completed', id: id!, attempt: 1, archive: true }],
    });
    expect(stale.settled).toEqual([]);
  });

  it('leaves live leases alone, and rows of queues this process does not work', async () => {
    const [held, elsewhere] = await store.insert({
      rows: [newEventRow({ queue: 'q' }), newEventRow({ queue: 'other-process' })],
    });
    await store.claim({ queue: 'q', limit: 1, workerId: 'w', leaseMs: 60_000, handlers: ['test.handler'] });
    await store.claim({
      queue: 'other-process',
      limit: 1,
      workerId: 'gone',
      leaseMs: 1,
      handlers: ['test.handler'],
    });
    const watched = counting(store, 'listExpired');
    const bus = await makeBus({ store: watched.store, registry: new Registry(), queues: [queue('q')] });
    await bus.controller.startWorkers();
    await waitFor(() => watched.calls() >= 3, { message: 'three rescue passes' });
    expect((await liveOf(store, held!))?.lockedBy).toBe('w');
    expect((await liveOf(store, elsewhere!))?.lockedBy).toBe('gone');
  });

  it('a row whose lease expired on its last try fails with RETRIES_EXHAUSTED without running again', async () => {
    const Event = defineEvent<{ n: number }>('lease.crashy');
    const registry = new Registry();
    let ran = 0;
    registry.register(
      Event,
      handlerClass('crashy.handler', { queueName: 'q', maxRetries: 0 }, () => void ran++),
    );
    const rescued: number[] = [];
    const telemetry: Telemetry = { rescued: (n) => void rescued.push(n) };
    const [id] = await store.insert({
      rows: [newEventRow({ eventName: 'lease.crashy', handlerName: 'crashy.handler', maxRetries: 0 })],
    });
    // A worker dies holding the row on its only try.
    await store.claim({
      queue: 'q',
      limit: 1,
      workerId: 'dead-0',
      leaseMs: 100,
      handlers: ['crashy.handler'],
    });
    const bus = await makeBus({ store, registry, queues: [queue('q')], telemetry });
    await bus.controller.startWorkers();
    const archived = await waitFor(() => archiveOf(store, id!), { message: 'crashy row archived' });
    expect(archived).toMatchObject({ status: 'failed', attempts: 1 });
    expect(archived.lastError).toContain('RETRIES_EXHAUSTED');
    expect(archived.lastError).toContain('dead-0');
    expect(ran).toBe(0);
    expect(rescued).toEqual([1]);
  });

  it("a failure found by the rescuer follows the queue's archive policy", async () => {
    const [id] = await store.insert({ rows: [newEventRow({ maxRetries: 0 })] });
    await store.claim({ queue: 'q', limit: 1, workerId: 'dead', leaseMs: 1, handlers: ['test.handler'] });
    const bus = await makeBus({
      store,
      registry: new Registry(),
      queues: [queue('q', { archivePolicy: 'none' })],
    });
    await bus.controller.startWorkers();
    await waitFor(async () => (await liveOf(store, id!)) === undefined, { message: 'the row failed' });
    expect(await archiveOf(store, id!)).toBeUndefined();
  });
});

describe('heartbeats', () => {
  it("heartbeats keep a long handler's lease: no second worker runs it", async () => {
    const Event = defineEvent<{ n: number }>('lease.long');
    const registry = new Registry();
    const runs: string[] = [];
    registry.register(
      Event,
      handlerClass('long.handler', { queueName: 'q', maxRetries: 3 }, async (_p, ctx) => {
        runs.push(ctx.id);
        await new Promise((resolve) => setTimeout(resolve, 2500));
      }),
    );
    const config = [queue('q', { leaseDuration: 1000 })];
    const a = await makeBus({ store, registry, queues: config, workerId: 'worker-a' });
    const b = await makeBus({ store, registry, queues: config, workerId: 'worker-b' });
    const [id] = await a.publish(Event, { n: 1 });
    await a.controller.startWorkers();
    await b.controller.startWorkers();
    const archived = await waitFor(() => archiveOf(store, id!), {
      timeoutMs: 15_000,
      message: 'long row archived',
    });
    expect(archived).toMatchObject({ status: 'completed', attempts: 1 });
    expect(runs).toEqual([id]);
  });

  it('buffered rows keep their lease by heartbeat while they wait for a slot', async () => {
    const Event = defineEvent<{ n: number }>('lease.buffered');
    const registry = new Registry();
    const ran: number[] = [];
    registry.register(
      Event,
      handlerClass('lease-buffered.handler', { queueName: 'q' }, async (p: { n: number }) => {
        ran.push(p.n);
        // Each run outlasts half the 1 s lease: only heartbeats keep the waiting rows leased.
        await new Promise((resolve) => setTimeout(resolve, 700));
      }),
    );
    // Every claim and hand-back this bus makes, to see that no row left the buffer and came back.
    const claimed: string[] = [];
    const released: string[] = [];
    const watched = new Proxy(store, {
      get(target, prop) {
        if (prop === 'claim') {
          return async (params: Parameters<MemoryStore['claim']>[0]) => {
            const rows = await target.claim(params);
            claimed.push(...rows.map((r) => r.id));
            return rows;
          };
        }
        if (prop === 'release') {
          return async (params: Parameters<MemoryStore['release']>[0]) => {
            released.push(...params.events.map((e) => e.id));
            return target.release(params);
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const bus = await makeBus({
      store: watched,
      registry,
      queues: [queue('q', { workers: 1, batchSize: 10, prefetch: 3, leaseDuration: 1000 })],
    });
    const ids = await bus.publishBatch(
      Event,
      [1, 2, 3, 4].map((n) => ({ n })),
    );
    await bus.controller.startWorkers();
    await waitFor(async () => (await store.inspect.listArchive({ ids, limit: 10 })).length === 4, {
      timeoutMs: 15_000,
      message: 'all four rows done',
    });
    // Claimed once, in order, never handed back or rescued: the buffered rows' leases held.
    expect(claimed).toEqual(ids);
    expect(released).toEqual([]);
    expect(ran).toEqual([1, 2, 3, 4]);
    const archived = await store.inspect.listArchive({ ids, limit: 10 });
    expect(archived.map((a) => [a.status, a.attempts])).toEqual(archived.map(() => ['completed', 1]));
  });
});
