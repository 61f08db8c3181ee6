import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, waitFor } from '../../bus-testing/src/index.js';
import { defineEvent, Registry } from '../src/index.js';
import { archiveOf, handlerClass, makeBus, queue } from './support.js';

// A transactional handler runs in the transaction that settles its row: its writes and its
// completion commit together, or roll back together when it fails.

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});

describe('transactional completion', () => {
  it('a transactional handler gets ctx.tx and completes in it', async () => {
    const Event = defineEvent<{ n: number }>('txc.event');
    const registry = new Registry();
    const seen: unknown[] = [];
    registry.register(
      Event,
      handlerClass(
        'txc.handler',
        { queueName: 'q', transactional: true },
        (_p, ctx) => void seen.push(ctx.tx),
      ),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    const archived = await waitFor(() => archiveOf(store, id!), { message: 'transactional row archived' });
    expect(archived.status).toBe('completed');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeDefined();
  });

  it('a transactional handler that fails rolls its writes back with the completion', async () => {
    const Event = defineEvent<{ n: number }>('txc.fails');
    const FollowUp = defineEvent<{ n: number }>('txc.follow-up');
    const registry = new Registry();
    let runs = 0;
    let bus: Awaited<ReturnType<typeof makeBus>> | undefined;
    registry.register(
      Event,
      handlerClass(
        'txc.failing',
        { queueName: 'q', transactional: true, maxRetries: 1 },
        async (p: { n: number }, ctx) => {
          runs++;
          await bus!.publishTxn(ctx.tx, FollowUp, { n: p.n });
          if (runs === 1) throw new Error('after the write');
        },
        () => 0,
      ),
    );
    const followed: number[] = [];
    registry.register(
      FollowUp,
      handlerClass(
        'txc.follow-up-handler',
        { queueName: 'q' },
        (p: { n: number }) => void followed.push(p.n),
      ),
    );
    bus = await makeBus({ store, registry, queues: [queue('q')] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    const archived = await waitFor(() => archiveOf(store, id!), { message: 'row archived' });
    expect(archived).toMatchObject({ status: 'completed', attempts: 2 });
    await waitFor(() => followed.length === 1, { message: 'the follow-up of the second run' });
    // The first run's follow-up rolled back with its failure: one follow-up, not two.
    expect(followed).toEqual([1]);
    // The follow-up's own outcome is written after its handler returns: wait for it, then check
    // that exactly one follow-up row ever existed.
    const followUps = async () =>
      (await store.inspect.listArchive({ limit: 10 })).filter((r) => r.eventName === 'txc.follow-up');
    await waitFor(async () => (await followUps()).length > 0, { message: 'the follow-up archived' });
    expect(await followUps()).toHaveLength(1);
    expect(await store.inspect.listEvents({ limit: 10 })).toEqual([]);
  });
});
