import { describe, expect, it } from 'vitest';
import { memoryStore, runUntilIdle } from '../../bus-testing/src/index.js';
import { createBus, defineEvent, type QueueLimits, type QueueStore, Registry } from '../src/index.js';

// The buffer's size decides how far ahead of its free slots a queue claims: whole batches for fast
// handlers, nothing beyond the free slots for slow ones (whose rows another process could run).

const Event = defineEvent<{ n: number }>('prefetch.event');

/** The memory store, recording the `limit` of every claim. */
function recordingStore(): { store: QueueStore<unknown>; limits: number[] } {
  const inner = memoryStore();
  const limits: number[] = [];
  const store = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'claim') {
        return (params: Parameters<QueueStore<unknown>['claim']>[0]) => {
          limits.push(params.limit);
          return target.claim(params);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: store as QueueStore<unknown>, limits };
}

// With `flow` (the queue's limits), each row's partition key is `k` + its number modulo 10.
async function drain(
  prefetch: number | 'auto' | undefined,
  handlerMs: number,
  events: number,
  flow?: QueueLimits,
) {
  const { store, limits } = recordingStore();
  const registry = new Registry();
  const ran: number[] = [];
  registry.register(
    Event,
    class {
      static readonly handlerName = 'prefetch.handler';
      static readonly settings = {
        queueName: 'q',
        maxRetries: 0,
        executionTimeout: 10_000,
        ...(flow === undefined ? {} : { partitionKey: (p: { n: number }) => `k${p.n % 10}` }),
      };
      async handle(p: { n: number }): Promise<void> {
        ran.push(p.n);
        if (handlerMs > 0) await new Promise((resolve) => setTimeout(resolve, handlerMs));
      }
    },
  );
  const bus = createBus({
    store,
    registry,
    queues: [
      {
        queueName: 'q',
        workers: 2,
        batchSize: 50,
        sleepInterval: 10,
        archivePolicy: 'none',
        ...(prefetch === undefined ? {} : { prefetch }),
        ...(flow === undefined ? {} : { limits: flow }),
      },
    ],
  });
  await bus.init();
  await bus.publishBatch(
    Event,
    Array.from({ length: events }, (_, n) => ({ n })),
  );
  await runUntilIdle(bus, { timeoutMs: 30_000 });
  await bus.controller.awaitTerminationWithTimeout(1000);
  // Rows still start in claim order, one each; with keys, in publish order within each key.
  const all = Array.from({ length: events }, (_, n) => n);
  if (flow === undefined) expect(ran).toEqual(all);
  else {
    expect([...ran].sort((a, b) => a - b)).toEqual(all);
    for (let key = 0; key < 10; key++) {
      expect(ran.filter((n) => n % 10 === key)).toEqual(all.filter((n) => n % 10 === key));
    }
  }
  return limits.filter((l) => l > 0);
}

describe('prefetch', () => {
  it("'auto' (the default) claims whole batches ahead of two slots once handlers prove fast", async () => {
    const limits = await drain(undefined, 0, 500);
    // The first claim knows no handler speed yet: only the free slots.
    expect(limits[0]).toBe(2);
    expect(Math.max(...limits)).toBe(50);
    // Up to two batches held: 100 rows claimed ahead of the two slots at most.
    expect(limits.every((l) => l <= 102)).toBe(true);
    // 500 rows in far fewer claims than one per two rows.
    expect(limits.length).toBeLessThan(40);
  });

  it("'auto' claims only for free slots when two slots take longer than its 100 ms horizon per row", async () => {
    // 2 slots × 100 ms ÷ 250 ms per run rounds down to no row held ahead.
    const limits = await drain('auto', 250, 6);
    expect(limits.every((l) => l <= 2)).toBe(true);
  });

  it('a fixed prefetch claims up to slots + prefetch; 0 claims only for free slots', async () => {
    expect(Math.max(...(await drain(10, 1, 60)))).toBe(12);
    expect(Math.max(...(await drain(0, 0, 60)))).toBe(2);
  });

  it('under per-key concurrency only, holds at most two more sets of slots ahead; other limits, none', async () => {
    // The buffered row holds only its own key's slot: up to 2 slots + 4 rows ahead.
    const keyed = await drain(undefined, 0, 300, { keyConcurrency: 1 });
    expect(Math.max(...keyed)).toBe(6);
    // A global limit (a buffered row would hold one of its slots) or a rate (counted at the
    // claim): only the free slots.
    expect(Math.max(...(await drain(undefined, 0, 300, { keyConcurrency: 1, concurrency: 5 })))).toBe(2);
    expect(Math.max(...(await drain(undefined, 0, 300, { rate: { limit: 10_000, periodMs: 1000 } })))).toBe(
      2,
    );
    // `fair` alone: a big key's buffered rows would sit ahead of a new key's row.
    expect(Math.max(...(await drain(undefined, 0, 300, { fair: true })))).toBe(2);
  });
});
