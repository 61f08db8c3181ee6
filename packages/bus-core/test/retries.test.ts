import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, waitFor } from '../../bus-testing/src/index.js';
import { defineEvent, Registry } from '../src/index.js';
import { archiveOf, handlerClass, makeBus, queue } from './support.js';

// A failed attempt runs again after calculateScheduledAt's backoff, until maxRetries are used up.

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});

describe('retries', () => {
  it('a retry due before the next poll runs when it is due, not at the poll', async () => {
    const Event = defineEvent<{ n: number }>('retry.soon');
    const registry = new Registry();
    const runs: number[] = [];
    registry.register(
      Event,
      handlerClass(
        'retry-soon.handler',
        { queueName: 'q', maxRetries: 1 },
        () => {
          runs.push(Date.now());
          if (runs.length === 1) throw new Error('first attempt fails');
        },
        () => 300,
      ),
    );
    // A 60 s poll: only the worker's own wake-up can run the retry within the deadline.
    const bus = await makeBus({ store, registry, queues: [queue('q', { sleepInterval: 60_000 })] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    await waitFor(async () => (await archiveOf(store, id!))?.status === 'completed', {
      timeoutMs: 10_000,
      message: 'the retry ran',
    });
    expect(runs).toHaveLength(2);
    // The backoff was honoured: not run before it was due.
    expect(runs[1]! - runs[0]!).toBeGreaterThanOrEqual(290);
  });

  it('reschedules a failed attempt by calculateScheduledAt, clears the lease and records the error', async () => {
    const Event = defineEvent<{ n: number }>('retry.event');
    const registry = new Registry();
    const retries: number[] = [];
    registry.register(
      Event,
      handlerClass(
        'retry.handler',
        { queueName: 'q', maxRetries: 3 },
        () => {
          throw new Error('boom');
        },
        (retry) => {
          retries.push(retry);
          return retry * 3_600_000;
        },
      ),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    const row = await waitFor(
      async () =>
        (await store.inspect.listEvents({ ids: [id!], limit: 1 })).find((r) => r.lastError !== null),
      { message: 'first attempt failed' },
    );
    const now = await store.now();
    expect(row.attempts).toBe(1);
    expect(row.lockedBy).toBeNull();
    expect(row.lockedUntil).toBeNull();
    expect(row.lastError).toContain('boom');
    expect(row.scheduledAt.getTime() - now.getTime()).toBeGreaterThan(3_600_000 - 60_000);
    expect(row.scheduledAt.getTime() - now.getTime()).toBeLessThanOrEqual(3_600_000 + 1000);
    expect(retries).toEqual([1]);
  });

  it('runs maxRetries + 1 times, then archives the row as failed', async () => {
    const Event = defineEvent<{ n: number }>('retry.exhaust');
    const registry = new Registry();
    const attempts: number[] = [];
    const retries: number[] = [];
    registry.register(
      Event,
      handlerClass(
        'exhaust.handler',
        { queueName: 'q', maxRetries: 2 },
        (_p, ctx) => {
          attempts.push(ctx.attempt);
          throw new Error(`fail ${ctx.attempt}`);
        },
        (retry) => {
          retries.push(retry);
          return 0;
        },
      ),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q', { archivePolicy: 'failed' })] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    const archived = await waitFor(() => archiveOf(store, id!), { message: 'row archived as failed' });
    expect(archived).toMatchObject({ status: 'failed', attempts: 3 });
    expect(archived.lastError).toContain('fail 3');
    expect(attempts).toEqual([1, 2, 3]);
    expect(retries).toEqual([1, 2]);
  });

  it('a handler that throws a non-Error fails with HANDLER_FAILED', async () => {
    const Event = defineEvent<{ n: number }>('retry.non-error');
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass('non-error.handler', { queueName: 'q' }, () => {
        throw { reason: 'a plain object' };
      }),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    const archived = await waitFor(() => archiveOf(store, id!), { message: 'row archived' });
    expect(archived.status).toBe('failed');
    expect(archived.lastError).toContain('HANDLER_FAILED');
    expect(archived.lastError).toContain('a plain object');
  });

  it('a 10,000-character error is stored cut to the contract limit, the same on every store', async () => {
    const Event = defineEvent<{ n: number }>('retry.long-error');
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass('long-error.handler', { queueName: 'q' }, () => {
        throw new Error('x'.repeat(10_000));
      }),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    const archived = await waitFor(() => archiveOf(store, id!), { message: 'row archived' });
    expect(archived.lastError!.length).toBe(4000);
    expect(archived.lastError!.endsWith('…')).toBe(true);
  });
});
