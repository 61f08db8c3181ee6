import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../bus-testing/src/index.js';
import { defineEvent, isBusError, Registry } from '../src/index.js';
import { connectionsNeeded } from '../src/pool-budget.js';
import { handlerClass, makeBus, queue } from './support.js';

// What the workers of one process need of the store's pool: one connection for the bus's own
// statements plus one per transactional run that may be in progress; startWorkers refuses less.

const A = defineEvent<{ n: number }>('pool.a');
const B = defineEvent<{ n: number }>('pool.b');

function registry(): Registry {
  const r = new Registry();
  r.register(
    A,
    handlerClass('pool.a-plain', { queueName: 'plain' }, () => undefined),
  );
  r.register(
    B,
    handlerClass('pool.b-tx', { queueName: 'tx', transactional: true }, () => undefined),
  );
  return r;
}

function storeWithPool(poolSize: number | undefined): MemoryStore {
  const store = new MemoryStore();
  Object.defineProperty(store, 'capabilities', {
    value: Object.freeze({ ...store.capabilities, ...(poolSize === undefined ? {} : { poolSize }) }),
  });
  return store;
}

describe('the connection budget of a worker process', () => {
  it('is 1 plus the workers of queues with a transactional handler', () => {
    const r = registry();
    const queues = [queue('plain', { workers: 7 }), queue('tx', { workers: 3 })].map((q) => ({
      ...q,
      leaseDuration: 30_000,
      prefetch: 'auto' as const,
    }));
    expect(connectionsNeeded(queues as never, r.handlers())).toEqual({ needed: 4, transactionalSlots: 3 });
    expect(connectionsNeeded([queues[0]] as never, r.handlers())).toEqual({
      needed: 1,
      transactionalSlots: 0,
    });
  });

  it('startWorkers refuses a smaller pool with POOL_TOO_SMALL naming both numbers', async () => {
    const bus = await makeBus({
      store: storeWithPool(3),
      registry: registry(),
      queues: [queue('plain', { workers: 7 }), queue('tx', { workers: 3 })],
    });
    const error = await bus.controller.startWorkers().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBusError(error, 'POOL_TOO_SMALL'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/holds 3 connections, but these workers need 4/);
    // Only the plain queue in this process: one connection is enough.
    await bus.controller.startWorkers({ queues: ['plain'] });
  });

  it('passes when the pool is large enough or the store does not say', async () => {
    for (const poolSize of [4, undefined]) {
      const bus = await makeBus({
        store: storeWithPool(poolSize),
        registry: registry(),
        queues: [queue('plain', { workers: 7 }), queue('tx', { workers: 3 })],
      });
      await bus.controller.startWorkers();
      bus.controller.shutdown();
    }
  });
});
