import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, waitFor } from '../../bus-testing/src/index.js';
import { createBus, defineEvent, type QueueConfig, type QueueLimits, Registry } from '../src/index.js';
import {
  expectBusError,
  expectRejects,
  GOOD_QUEUE,
  handlerClass,
  liveRows,
  makeBus,
  queue,
  simpleHandler,
} from './support.js';

// Flow control through the bus (docs/flow-control.md): limits are checked where they are given,
// partition keys at publish, and the workers of a process claim within the stored limits. The
// store-level rules are in bus-testing's conformance suite (flow.ts); the cluster-wide ones in
// each driver's flow-processes test.

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});

describe('limits in the queue configuration are validated at start-up', () => {
  const cases: [string, unknown][] = [
    ['a concurrency of 0', { concurrency: 0 }],
    ['a negative concurrency', { concurrency: -3 }],
    ['a fractional concurrency', { concurrency: 2.5 }],
    ['a concurrency in words', { concurrency: 'five' }],
    ['a key concurrency of 0', { keyConcurrency: 0 }],
    ['a rate of 0', { rate: { limit: 0, periodMs: 1000 } }],
    ['a rate period of 0', { rate: { limit: 10, periodMs: 0 } }],
    ['a rate without a period', { rate: { limit: 10 } }],
    ['a rate period over a day', { rate: { limit: 10, periodMs: 86_400_001 } }],
    ['a rate as a number', { rate: 50 }],
    ['a rate with an unknown option', { rate: { limit: 10, periodMs: 1000, burst: 5 } }],
    ['a negative key rate', { keyRate: { limit: -1, periodMs: 1000 } }],
    ['fair as a string', { fair: 'yes' }],
    ['an unknown limit', { concurrent: 5 }],
    ['limits as an array', [5]],
    ['limits as null', null],
  ];
  it.each(cases)('%s is INVALID_LIMITS', (_name, limits) => {
    expectBusError(
      () => createBus({ store, queues: [{ ...GOOD_QUEUE, limits } as QueueConfig] }),
      'INVALID_LIMITS',
    );
  });

  it('bus.admin.setLimits refuses the same values, and writes nothing', async () => {
    const registry = new Registry();
    registry.register(defineEvent('e'), simpleHandler('h'));
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    await expectRejects(bus.admin.setLimits('q', { rate: { limit: 5, periodMs: 0 } }), 'INVALID_LIMITS');
    await expectRejects(bus.admin.setLimits('q', { concurrency: -1 }), 'INVALID_LIMITS');
    await expectRejects(bus.admin.setLimits('no such queue!', { concurrency: 1 }), 'INVALID_ARGUMENT');
    expect(await bus.admin.limits()).toEqual([]);
  });
});

describe('partition keys are checked at publish, and a bad one writes nothing', () => {
  const Event = defineEvent<{ account: unknown }>('account.event');

  async function busWith(partitionKey?: (p: any) => any) {
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass('first', { queueName: 'q' }, () => {}),
    );
    registry.register(
      Event,
      handlerClass('second', { queueName: 'q', ...(partitionKey ? { partitionKey } : {}) }, () => {}),
    );
    return makeBus({ store, registry, queues: [queue('q')] });
  }

  const badKeys: [string, unknown][] = [
    ['an empty key', ''],
    ['a key over 255 characters', 'k'.repeat(256)],
    ['a number', 42],
    ['a key with U+0000', 'a\u0000b'],
    ['a lone surrogate', 'a\uD800'],
  ];
  it.each(badKeys)('the publish option: %s is INVALID_PARTITION_KEY', async (_name, key) => {
    const bus = await busWith();
    await expectRejects(
      bus.publish(Event, { account: 1 }, { partitionKey: key as string }),
      'INVALID_PARTITION_KEY',
    );
    expect(await liveRows(store)).toEqual([]);
  });

  it.each(
    badKeys,
  )('the key function returns %s: INVALID_PARTITION_KEY naming the handler', async (_name, key) => {
    const bus = await busWith(() => key);
    const error = await bus.publish(Event, { account: 1 }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('INVALID_PARTITION_KEY');
    expect((error as Error).message).toContain('handler second');
    // The other handler's row is not written either: the publish is all or nothing.
    expect(await liveRows(store)).toEqual([]);
  });

  it('a key function that throws fails the publish with its message, and nothing is written', async () => {
    const bus = await busWith((p: { account: { id: string } }) => p.account.id);
    const error = await bus.publish(Event, { account: null }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('INVALID_PARTITION_KEY');
    expect((error as Error).message).toMatch(/handler second: settings\.partitionKey threw: .*null/);
    expect(await liveRows(store)).toEqual([]);
  });

  it('a key function that is not a function is INVALID_HANDLER at registration', () => {
    const registry = new Registry();
    expectBusError(
      () =>
        registry.register(
          Event,
          handlerClass('h', { queueName: 'q', partitionKey: 'account' as never }, () => {}),
        ),
      'INVALID_HANDLER',
    );
  });

  it("rows carry the handler's key, and the publish option wins for every handler", async () => {
    const bus = await busWith((p: { account: string }) => `acct-${p.account}`);
    await bus.publish(Event, { account: '7' });
    await bus.publish(Event, { account: '8' }, { partitionKey: 'fixed' });
    const rows = await liveRows(store);
    expect(rows.map((r) => [r.handlerName, r.partitionKey])).toEqual([
      ['first', null],
      ['second', 'acct-7'],
      ['first', 'fixed'],
      ['second', 'fixed'],
    ]);
  });
});

describe("a handler sees its row's partition key", () => {
  const Event = defineEvent<{ account: string }>('keyed.event');

  it("ctx.partitionKey: the handler's key, the publish option's, or null", async () => {
    const seen: [string, string | null][] = [];
    const record = (name: string) => (p: { account: string }, ctx: { partitionKey: string | null }) => {
      seen.push([`${name} ${p.account}`, ctx.partitionKey]);
    };
    const registry = new Registry();
    registry.register(Event, handlerClass('plain', { queueName: 'q' }, record('plain')));
    registry.register(
      Event,
      handlerClass('keyed', { queueName: 'q', partitionKey: (p) => `acct-${p.account}` }, record('keyed')),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    await bus.publish(Event, { account: '7' });
    await bus.publish(Event, { account: '8' }, { partitionKey: 'fixed' });
    await bus.controller.startWorkers();
    await waitFor(() => seen.length === 4, { timeoutMs: 10_000, message: '4 runs' });
    expect(new Map(seen)).toEqual(
      new Map([
        ['plain 7', null],
        ['keyed 7', 'acct-7'],
        ['plain 8', 'fixed'],
        ['keyed 8', 'fixed'],
      ]),
    );
  });
});

/** A queue's handler that records how many of its runs overlap, per key and in all. */
function overlapRecorder() {
  let running = 0;
  const perKey = new Map<string, number>();
  const seen = { max: 0, maxPerKey: 0, runs: 0, attempts: new Set<number>() };
  const handle = async (p: { key: string; ms: number }, ctx: { attempt: number }) => {
    running++;
    perKey.set(p.key, (perKey.get(p.key) ?? 0) + 1);
    seen.max = Math.max(seen.max, running);
    seen.maxPerKey = Math.max(seen.maxPerKey, perKey.get(p.key)!);
    seen.attempts.add(ctx.attempt);
    await new Promise((resolve) => setTimeout(resolve, p.ms));
    perKey.set(p.key, perKey.get(p.key)! - 1);
    running--;
    seen.runs++;
  };
  return { seen, handle };
}

describe('workers claim within the stored limits', () => {
  const Event = defineEvent<{ key: string; ms: number }>('limited.event');

  // Runs `rows` rows of 5 ms over `keys` keys on a queue with 8 slots and `limits`.
  async function runLimited(limits: QueueLimits, rows: number, keys: number) {
    const { seen, handle } = overlapRecorder();
    const registry = new Registry();
    registry.register(Event, handlerClass('limited', { queueName: 'q', partitionKey: (p) => p.key }, handle));
    const bus = await makeBus({ store, registry, queues: [queue('q', { workers: 8, limits })] });
    await bus.publishBatch(
      Event,
      Array.from({ length: rows }, (_, n) => ({ key: `k${n % keys}`, ms: 5 })),
    );
    await bus.controller.startWorkers();
    await waitFor(() => seen.runs === rows, { timeoutMs: 10_000, message: `${rows} runs` });
    return seen;
  }

  it('a concurrency limit of 2 holds with 8 slots, is reached, and waiting uses no attempt', async () => {
    const seen = await runLimited({ concurrency: 2 }, 30, 3);
    expect(seen.max).toBe(2);
    expect([...seen.attempts]).toEqual([1]);
  });

  it('a key concurrency of 1 never overlaps a key, while keys run side by side', async () => {
    const seen = await runLimited({ keyConcurrency: 1 }, 40, 4);
    expect(seen.maxPerKey).toBe(1);
    expect(seen.max).toBeGreaterThan(1);
  });

  it('a run-time change from another process is followed within about a second', async () => {
    const { seen, handle } = overlapRecorder();
    const registry = new Registry();
    registry.register(Event, handlerClass('limited', { queueName: 'q' }, handle));
    const bus = await makeBus({ store, registry, queues: [queue('q', { workers: 8 })] });
    await bus.controller.startWorkers();
    // Another process's admin: its write reaches this one only through the store.
    const operator = await makeBus({ store, registry: new Registry(), queues: [queue('q')] });
    await operator.admin.setLimits('q', { concurrency: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await bus.publishBatch(
      Event,
      Array.from({ length: 12 }, () => ({ key: 'x', ms: 5 })),
    );
    await waitFor(() => seen.runs === 12, { timeoutMs: 10_000, message: '12 runs' });
    expect(seen.max).toBe(1);
  });
});

describe('the configured limits are stored, and an operator change outlives a restart', () => {
  const registry = () => {
    const r = new Registry();
    r.register(defineEvent('e'), simpleHandler('h'));
    return r;
  };

  it('a deploy with unchanged limits keeps the operator change; changed limits replace it', async () => {
    const first = await makeBus({
      store,
      registry: registry(),
      queues: [queue('q', { limits: { concurrency: 3 } })],
    });
    await first.controller.startWorkers();
    expect((await first.admin.limits()).map((l) => [l.queue, l.limits])).toEqual([['q', { concurrency: 3 }]]);
    expect(
      (await first.admin.setLimits('q', { concurrency: 1, rate: { limit: 10, periodMs: 1000 } })).changed,
    ).toBe(true);

    const restarted = await makeBus({
      store,
      registry: registry(),
      queues: [queue('q', { limits: { concurrency: 3 } })],
    });
    await restarted.controller.startWorkers();
    expect((await restarted.admin.limits())[0]!.limits).toEqual({
      concurrency: 1,
      rate: { limit: 10, periodMs: 1000 },
    });

    const redeployed = await makeBus({
      store,
      registry: registry(),
      queues: [queue('q', { limits: { keyConcurrency: 2, fair: true } })],
    });
    await redeployed.controller.startWorkers();
    expect((await redeployed.admin.limits())[0]!.limits).toEqual({ keyConcurrency: 2, fair: true });
    const overview = (await redeployed.admin.queues()).find((q) => q.queue === 'q');
    expect(overview?.limits).toEqual({ keyConcurrency: 2, fair: true });

    expect((await redeployed.admin.setLimits('q', null)).changed).toBe(true);
    expect(await redeployed.admin.limits()).toEqual([]);
    expect((await redeployed.admin.queues()).find((q) => q.queue === 'q')?.limits).toBeNull();
  });
});
