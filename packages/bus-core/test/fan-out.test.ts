import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, waitFor } from '../../bus-testing/src/index.js';
import { defineEvent, isBusError, Registry } from '../src/index.js';
import { handlerClass, makeBus, queue } from './support.js';

// One row per handler of an event, each in its handler's queue with its retry settings.

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});

describe('init', () => {
  it('passes on a store whose schema check resolves', async () => {
    await expect(store.checkSchema()).resolves.toBeUndefined();
    const bus = await makeBus({ store, registry: new Registry(), queues: [queue('schema.q')] });
    expect(bus).toBeDefined();
  });
});

describe('fan-out', () => {
  it('publishes one row per handler, each in its queue with its retry settings', async () => {
    const Event = defineEvent<{ n: number }>('fanout.event');
    const registry = new Registry();
    const seen: string[] = [];
    registry.register(
      Event,
      handlerClass('fanout.a', { queueName: 'qa', maxRetries: 2 }, () => void seen.push('a')),
    );
    registry.register(
      Event,
      handlerClass('fanout.b', { queueName: 'qb', maxRetries: 5 }, () => void seen.push('b')),
    );
    const bus = await makeBus({ store, registry, queues: [queue('qa'), queue('qb')] });

    const ids = await bus.publish(Event, { n: 1 });
    expect(ids).toHaveLength(2);
    const rows = await store.inspect.listEvents({ ids, limit: 10 });
    expect(rows.map((r) => [r.queue, r.handlerName, r.maxRetries, r.attempts]).sort()).toEqual([
      ['qa', 'fanout.a', 2, 0],
      ['qb', 'fanout.b', 5, 0],
    ]);
    expect(rows.every((r) => r.eventName === 'fanout.event')).toBe(true);
    // Rows of one event share one payload array in the insert: the stored bytes are equal.
    expect(Buffer.from(rows[0]!.payload).equals(Buffer.from(rows[1]!.payload))).toBe(true);

    await bus.controller.startWorkers();
    await waitFor(async () => (await store.inspect.listArchive({ ids, limit: 10 })).length === 2, {
      message: 'both handlers done',
    });
    expect(seen.sort()).toEqual(['a', 'b']);
  });

  it('handlers fail and retry independently', async () => {
    const Event = defineEvent<{ n: number }>('fanout.independent');
    const registry = new Registry();
    const runs = { ok: 0, flaky: 0 };
    registry.register(
      Event,
      handlerClass('ind.ok', { queueName: 'q' }, () => void runs.ok++),
    );
    registry.register(
      Event,
      handlerClass(
        'ind.flaky',
        { queueName: 'q', maxRetries: 3 },
        () => {
          runs.flaky++;
          if (runs.flaky === 1) throw new Error('first try fails');
        },
        () => 0,
      ),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const ids = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    await waitFor(async () => (await store.inspect.listArchive({ ids, limit: 10 })).length === 2, {
      message: 'both archived',
    });
    const archived = await store.inspect.listArchive({ ids, limit: 10 });
    const byName = Object.fromEntries(archived.map((r) => [r.handlerName, r]));
    expect(byName['ind.ok']).toMatchObject({ status: 'completed', attempts: 1 });
    expect(byName['ind.flaky']).toMatchObject({ status: 'completed', attempts: 2 });
    expect(runs).toEqual({ ok: 1, flaky: 2 });
  });

  it('publishing an event with no handler throws NO_HANDLER and writes nothing', async () => {
    const Orphan = defineEvent<{ n: number }>('fanout.orphan');
    const bus = await makeBus({ store, registry: new Registry(), queues: [queue('q')] });
    const error = await bus.publish(Orphan, { n: 1 }).catch((e: unknown) => e);
    expect(isBusError(error, 'NO_HANDLER')).toBe(true);
    expect((error as { value: unknown }).value).toBe('fanout.orphan');
    expect(await bus.publish(Orphan, { n: 1 }, { allowNoHandler: true })).toEqual([]);
    expect(await store.inspect.listEvents({ limit: 10 })).toEqual([]);
  });
});

describe('row ids', () => {
  it('ids beyond 2^53 stay exact strings from publish to the archive', async () => {
    const big = new MemoryStore({ firstId: 2n ** 60n });
    const Event = defineEvent<{ n: number }>('ids.big');
    const registry = new Registry();
    const seen: string[] = [];
    registry.register(
      Event,
      handlerClass('ids.handler', { queueName: 'q' }, (_p, ctx) => void seen.push(ctx.id)),
    );
    const bus = await makeBus({ store: big, registry, queues: [queue('q')] });
    const ids = await bus.publishBatch(Event, [{ n: 1 }, { n: 2 }]);
    expect(ids).toEqual(['1152921504606846976', '1152921504606846977']);
    await bus.controller.startWorkers();
    await waitFor(async () => (await big.inspect.listArchive({ ids, limit: 10 })).length === 2, {
      message: 'both archived',
    });
    expect(seen.sort()).toEqual(ids);
    expect((await bus.inspect.archive({ afterId: ids[0]! })).map((r) => r.id)).toEqual([ids[1]]);
  });
});
