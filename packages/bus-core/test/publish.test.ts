import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../bus-testing/src/index.js';
import { decodePayload, defineEvent, isBusError, Registry } from '../src/index.js';
import { handlerClass, makeBus, queue } from './support.js';

// publish options (delay, runAt, priority) become the row's due time and priority; bad ones are
// refused before anything is written; publishTxn writes in the caller's transaction.

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});

describe('publish', () => {
  it('publishTxn: rows exist after commit and not after rollback', async () => {
    const Event = defineEvent<{ n: number }>('txn.event');
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass('txn.handler', { queueName: 'q' }, () => {}),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const committed = await store.transaction((tx) => bus.publishTxn(tx, Event, { n: 1 }));
    const rolledBack: string[] = [];
    const error = await store
      .transaction(async (tx) => {
        rolledBack.push(...(await bus.publishBatchTxn(tx, Event, [{ n: 2 }, { n: 3 }])));
        throw new Error('rollback');
      })
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe('rollback');
    expect(rolledBack).toHaveLength(2);
    const rows = await store.inspect.listEvents({ limit: 10 });
    expect(rows.map((r) => r.id)).toEqual(committed);
    expect(decodePayload(rows[0]!.payload)).toEqual({ n: 1 });
  });

  it('delay and runAt set the due time from database time', async () => {
    const Event = defineEvent<{ n: number }>('delay.event');
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass('delay.handler', { queueName: 'q' }, () => {}),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const now = await store.now();
    const runAt = new Date(now.getTime() + 7_200_000);
    const [delayed] = await bus.publish(Event, { n: 1 }, { delay: 3_600_000 });
    const [scheduled] = await bus.publish(Event, { n: 2 }, { runAt });
    const [prioritized] = await bus.publish(Event, { n: 3 }, { priority: -5 });
    const rows = await store.inspect.listEvents({ limit: 10 });
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    const offset = byId[delayed!]!.scheduledAt.getTime() - now.getTime();
    expect(offset).toBeGreaterThanOrEqual(3_600_000 - 1000);
    expect(offset).toBeLessThan(3_600_000 + 60_000);
    expect(byId[scheduled!]!.scheduledAt.getTime()).toBe(runAt.getTime());
    expect(byId[prioritized!]!.priority).toBe(-5);
    const claimed = await store.claim({
      queue: 'q',
      limit: 10,
      workerId: 'w',
      leaseMs: 60_000,
      handlers: ['delay.handler'],
    });
    expect(claimed.map((c) => c.id)).toEqual([prioritized]);
  });

  it('rejects bad publish options with INVALID_ARGUMENT and writes nothing', async () => {
    const Event = defineEvent<{ n: number }>('bad.options');
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass('options.handler', { queueName: 'q' }, () => {}),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    for (const options of [
      { delay: -1 },
      { delay: Number.NaN },
      { runAt: new Date('nope') },
      { priority: 1.5 },
    ]) {
      const error = await bus.publish(Event, { n: 1 }, options).catch((e: unknown) => e);
      expect(isBusError(error, 'INVALID_ARGUMENT'), JSON.stringify(options)).toBe(true);
    }
    const encode = await bus.publish(Event, { n: 1, f: () => 1 } as never).catch((e: unknown) => e);
    expect(isBusError(encode, 'ENCODE_FAILED')).toBe(true);
    expect(await store.inspect.listEvents({ limit: 10 })).toEqual([]);
  });
});
