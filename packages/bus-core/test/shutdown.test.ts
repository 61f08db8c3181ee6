import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, waitFor } from '../../bus-testing/src/index.js';
import { defineEvent, isBusError, Registry } from '../src/index.js';
import { archiveOf, handlerClass, makeBus, queue } from './support.js';

// Shutdown waits for running handlers, aborts them at the timeout and hands every row it still
// holds (running or buffered) back uncounted.

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});

describe('shutdown', () => {
  it('waits for running handlers, then refuses to publish', async () => {
    const Event = defineEvent<{ n: number }>('shutdown.wait');
    const registry = new Registry();
    let started = false;
    registry.register(
      Event,
      handlerClass('wait.handler', { queueName: 'q' }, async () => {
        started = true;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    await waitFor(() => started, { message: 'handler started' });
    bus.controller.shutdown();
    expect(await bus.controller.awaitTerminationWithTimeout(5000)).toBe(true);
    expect(await archiveOf(store, id!)).toMatchObject({ status: 'completed' });
    const error = await bus.publish(Event, { n: 2 }).catch((e: unknown) => e);
    expect(isBusError(error, 'SHUT_DOWN')).toBe(true);
  });

  it('aborts handlers still running at the timeout and hands their rows back', async () => {
    const Event = defineEvent<{ n: number }>('shutdown.abort');
    const registry = new Registry();
    let signal: AbortSignal | undefined;
    registry.register(
      Event,
      handlerClass('abort.handler', { queueName: 'q', executionTimeout: 60_000 }, (_p, ctx) => {
        signal = ctx.signal;
        return new Promise(() => {});
      }),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    await waitFor(() => signal, { message: 'handler started' });
    bus.controller.shutdown();
    expect(await bus.controller.awaitTerminationWithTimeout(200)).toBe(false);
    expect(signal!.aborted).toBe(true);
    expect(isBusError(signal!.reason, 'HANDLER_ABORTED')).toBe(true);
    const row = (await store.inspect.listEvents({ ids: [id!], limit: 1 }))[0];
    expect(row).toMatchObject({ lockedBy: null, lockedUntil: null, attempts: 0 });
    const [again] = await store.claim({
      queue: 'q',
      limit: 1,
      workerId: 'next',
      leaseMs: 60_000,
      handlers: ['abort.handler'],
    });
    expect(again).toMatchObject({ id, attempts: 1 });
  });

  it('hands buffered rows back at once on shutdown, uncounted, while the running one finishes', async () => {
    const Event = defineEvent<{ n: number }>('shutdown.buffered');
    const registry = new Registry();
    const ran: number[] = [];
    let release: (() => void) | undefined;
    registry.register(
      Event,
      handlerClass('buffered.handler', { queueName: 'q' }, async (p: { n: number }) => {
        ran.push(p.n);
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      }),
    );
    // One slot and five rows claimed ahead of it: six leased, one running, five buffered.
    const bus = await makeBus({
      store,
      registry,
      queues: [queue('q', { workers: 1, batchSize: 10, prefetch: 5 })],
    });
    const ids = await bus.publishBatch(
      Event,
      [1, 2, 3, 4, 5, 6].map((n) => ({ n })),
    );
    await bus.controller.startWorkers();
    await waitFor(
      async () => release !== undefined && (await store.inspect.countByQueue())[0]?.running === 6,
      { message: 'one row running, five buffered' },
    );
    expect(ran).toEqual([1]);

    bus.controller.shutdown();
    // The buffered rows are available again before the running handler is done.
    await waitFor(async () => (await store.inspect.countByQueue())[0]?.available === 5, {
      message: 'buffered rows handed back',
    });
    const rows = await store.inspect.listEvents({ ids: ids.slice(1), limit: 10 });
    expect(rows.map((r) => [r.attempts, r.lockedBy, r.lockedUntil])).toEqual(rows.map(() => [0, null, null]));
    release!();
    expect(await bus.controller.awaitTerminationWithTimeout(5000)).toBe(true);
    expect(await archiveOf(store, ids[0]!)).toMatchObject({ status: 'completed', attempts: 1 });
    expect(ran).toEqual([1]);
  });
});
