import {
  BusError,
  createBus,
  decodePayload,
  defineEvent,
  encodePayload,
  type HandlerSettings,
  isBusError,
  type Logger,
  type QueueConfig,
  Registry,
  type SettledInfo,
} from 'bus-core';
import { describe, expect, it } from 'vitest';
import {
  assertPublished,
  ManualClock,
  memoryStore,
  publishedEvents,
  runUntilIdle,
  waitFor,
} from '../src/index.js';

const good: QueueConfig = {
  queueName: 'q',
  workers: 2,
  batchSize: 10,
  sleepInterval: 10,
  archivePolicy: 'all',
};

function handler(
  name: string,
  settings: Partial<HandlerSettings> = {},
  handle: (p: any) => unknown = () => {},
) {
  return class {
    static readonly handlerName = name;
    static readonly settings: HandlerSettings = {
      queueName: 'q',
      maxRetries: 0,
      executionTimeout: 1000,
      ...settings,
    };
    async handle(p: unknown): Promise<void> {
      await handle(p);
    }
  };
}

function expectBusError(fn: () => unknown, code: string, value?: unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(isBusError(thrown), `expected a BusError ${code}, got ${String(thrown)}`).toBe(true);
  expect((thrown as BusError).code).toBe(code);
  if (value !== undefined) expect((thrown as BusError).value).toEqual(value);
}

async function expectRejects(p: Promise<unknown>, code: string, value?: unknown): Promise<void> {
  const thrown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBusError(thrown), `expected a BusError ${code}, got ${String(thrown)}`).toBe(true);
  expect((thrown as BusError).code).toBe(code);
  if (value !== undefined) expect((thrown as BusError).value).toEqual(value);
}

describe('queue configuration is validated at start-up', () => {
  const cases: [string, unknown, string, unknown][] = [
    ['0 workers', [{ ...good, workers: 0 }], 'INVALID_QUEUE_CONFIG', 0],
    ['fractional workers', [{ ...good, workers: 1.5 }], 'INVALID_QUEUE_CONFIG', 1.5],
    ['batch size 0', [{ ...good, batchSize: 0 }], 'INVALID_QUEUE_CONFIG', 0],
    ['batch size above the cap', [{ ...good, batchSize: 5000 }], 'INVALID_QUEUE_CONFIG', 5000],
    ['negative sleep interval', [{ ...good, sleepInterval: -1 }], 'INVALID_QUEUE_CONFIG', -1],
    ['NaN sleep interval', [{ ...good, sleepInterval: Number.NaN }], 'INVALID_QUEUE_CONFIG', Number.NaN],
    ['negative lease', [{ ...good, leaseDuration: -5 }], 'INVALID_QUEUE_CONFIG', -5],
    ['a word for prefetch', [{ ...good, prefetch: 'lots' }], 'INVALID_QUEUE_CONFIG', 'lots'],
    ['negative prefetch', [{ ...good, prefetch: -1 }], 'INVALID_QUEUE_CONFIG', -1],
    ['fractional prefetch', [{ ...good, prefetch: 2.5 }], 'INVALID_QUEUE_CONFIG', 2.5],
    ['prefetch above the cap', [{ ...good, prefetch: 10_001 }], 'INVALID_QUEUE_CONFIG', 10_001],
    [
      'unknown archive policy',
      [{ ...good, archivePolicy: 'sometimes' }],
      'INVALID_QUEUE_CONFIG',
      'sometimes',
    ],
    ['duplicate queue names', [good, { ...good }], 'DUPLICATE_QUEUE', 'q'],
    ['a queue name with spaces', [{ ...good, queueName: 'my queue' }], 'INVALID_QUEUE_CONFIG', 'my queue'],
    ['not an array', 'q', 'INVALID_CONFIG', 'q'],
    ['a null entry', [null], 'INVALID_QUEUE_CONFIG', null],
  ];
  it.each(cases)('%s', (_name, queues, code, value) => {
    expectBusError(() => createBus({ store: memoryStore(), queues: queues as QueueConfig[] }), code, value);
  });

  it('a handler whose queue has no configuration fails init with QUEUE_NOT_CONFIGURED', async () => {
    const registry = new Registry();
    registry.register(defineEvent<object>('cfg.event'), handler('cfg.handler', { queueName: 'missing' }));
    const bus = createBus({ store: memoryStore(), registry, queues: [good] });
    await expectRejects(bus.init(), 'QUEUE_NOT_CONFIGURED', 'missing');
  });

  it('bad bus options fail at createBus', () => {
    expectBusError(
      () => createBus({ store: memoryStore(), queues: [good], rescueInterval: 0 }),
      'INVALID_CONFIG',
      0,
    );
    expectBusError(() => createBus({ store: {} as never, queues: [good] }), 'INVALID_CONFIG');
    expectBusError(
      () => createBus({ store: memoryStore(), queues: [good], archiveRetention: -1 }),
      'INVALID_CONFIG',
      -1,
    );
    expectBusError(
      () => createBus({ store: memoryStore(), queues: [good], telemetry: 5 as never }),
      'INVALID_CONFIG',
      5,
    );
    const badHook = { settled: 'count me' };
    expectBusError(
      () => createBus({ store: memoryStore(), queues: [good], telemetry: badHook as never }),
      'INVALID_CONFIG',
      badHook,
    );
  });
});

describe('registration', () => {
  it('refuses duplicate event names and duplicate handler names', () => {
    const registry = new Registry();
    registry.register(defineEvent<object>('dup.event'), handler('dup.a'));
    expectBusError(
      () => registry.register(defineEvent<object>('dup.event'), handler('dup.b')),
      'DUPLICATE_EVENT',
      'dup.event',
    );
    const other = defineEvent<object>('dup.other');
    expectBusError(() => registry.register(other, handler('dup.a')), 'DUPLICATE_HANDLER', 'dup.a');
  });

  it('refuses bad names and settings with INVALID_EVENT / INVALID_HANDLER', () => {
    expectBusError(() => defineEvent(''), 'INVALID_EVENT', '');
    expectBusError(() => defineEvent('has space'), 'INVALID_EVENT', 'has space');
    const registry = new Registry();
    const event = defineEvent<object>('reg.event');
    expectBusError(() => registry.register(event, handler('bad name')), 'INVALID_HANDLER', 'bad name');
    expectBusError(() => registry.register(event, handler('h1', { maxRetries: -1 })), 'INVALID_HANDLER', -1);
    expectBusError(
      () => registry.register(event, handler('h2', { executionTimeout: 0 })),
      'INVALID_HANDLER',
      0,
    );
    expectBusError(
      () => registry.register(event, handler('h3', { queueName: 'x y' })),
      'INVALID_HANDLER',
      'x y',
    );
    expectBusError(() => registry.register(event, handler('h4', { priority: 0.5 })), 'INVALID_HANDLER', 0.5);
    class NoHandle {
      static readonly handlerName = 'h5';
      static readonly settings = { queueName: 'q', maxRetries: 0, executionTimeout: 1 };
    }
    expectBusError(() => registry.register(event, NoHandle as never), 'INVALID_HANDLER', 'h5');
    expect(registry.handlers()).toEqual([]);
  });
});

describe('lifecycle', () => {
  it('publishing before init throws NOT_INITIALIZED; after shutdown SHUT_DOWN; published rows stay', async () => {
    const registry = new Registry();
    const Event = defineEvent<{ n: number }>('life.event');
    registry.register(Event, handler('life.handler'));
    const store = memoryStore();
    const bus = createBus({ store, registry, queues: [good] });
    await expectRejects(bus.publish(Event, { n: 0 }), 'NOT_INITIALIZED', 'life.event');
    await expectRejects(bus.controller.startWorkers(), 'NOT_INITIALIZED');
    await bus.init();
    const [id] = await bus.publish(Event, { n: 1 });
    bus.controller.shutdown();
    await expectRejects(bus.publish(Event, { n: 2 }), 'SHUT_DOWN', 'life.event');
    await expectRejects(bus.controller.startWorkers(), 'SHUT_DOWN');
    expect((await store.listEvents()).map((r) => r.id)).toEqual([id]);
    await expectRejects(bus.controller.awaitTerminationWithTimeout(-1), 'INVALID_ARGUMENT', -1);
  });

  it('publish with a hand-made event of an invalid name says the name is invalid, not NO_HANDLER', async () => {
    const bus = createBus({ store: memoryStore(), registry: new Registry(), queues: [good] });
    await bus.init();
    await expectRejects(bus.publish({ name: 'has space' }, {}), 'INVALID_EVENT', 'has space');
    await expectRejects(bus.publishBatch({ name: '' }, [{}]), 'INVALID_EVENT', '');
    await expectRejects(bus.publish({ name: 42 } as never, {}), 'INVALID_EVENT');
    // A valid name that nobody handles is still NO_HANDLER.
    await expectRejects(bus.publish({ name: 'nobody.handles' }, {}), 'NO_HANDLER', 'nobody.handles');
  });

  it('a logger without the four methods is refused at createBus', () => {
    expectBusError(
      () =>
        createBus({
          store: memoryStore(),
          registry: new Registry(),
          queues: [good],
          logger: { info() {} } as never,
        }),
      'INVALID_CONFIG',
    );
    expectBusError(
      () =>
        createBus({ store: memoryStore(), registry: new Registry(), queues: [good], logger: null as never }),
      'INVALID_CONFIG',
    );
  });

  it('by default errors and warnings reach the console, one line each', async () => {
    const lines: string[] = [];
    const original = { warn: console.warn, error: console.error };
    console.warn = (...args: unknown[]) => void lines.push(args.join(' '));
    console.error = (...args: unknown[]) => void lines.push(args.join(' '));
    try {
      const registry = new Registry();
      const Event = defineEvent<{ n: number }>('default.logger');
      registry.register(
        Event,
        handler('default.failing', {}, () => {
          throw new Error('mail server said no\n    at somewhere (file.js:1:1)');
        }),
      );
      const bus = createBus({ store: memoryStore(), registry, queues: [good] });
      await bus.init();
      await bus.publish(Event, { n: 1 });
      await runUntilIdle(bus);
      await bus.controller.awaitTerminationWithTimeout(1000);
    } finally {
      Object.assign(console, original);
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[bus\] row failed for good .*error=Error: mail server said no$/);
  });

  it('awaitTerminationWithTimeout on a bus whose workers never started also stops publishing', async () => {
    const registry = new Registry();
    const Event = defineEvent<{ n: number }>('life.idle');
    registry.register(Event, handler('idle.handler'));
    const bus = createBus({ store: memoryStore(), registry, queues: [good] });
    await bus.init();
    expect(await bus.controller.awaitTerminationWithTimeout(100)).toBe(true);
    await expectRejects(bus.publish(Event, { n: 1 }), 'SHUT_DOWN');
  });

  it('startWorkers({ queues }) builds only the handlers of the queues it runs', async () => {
    const registry = new Registry();
    const built: string[] = [];
    const Event = defineEvent<object>('select.event');
    const A = handler('select.a', { queueName: 'a' });
    const B = handler('select.b', { queueName: 'b' });
    registry.register(Event, A, {
      factory: () => {
        built.push('a');
        return new A();
      },
    });
    registry.register(Event, B, {
      factory: () => {
        built.push('b');
        return new B();
      },
    });
    const bus = createBus({
      store: memoryStore(),
      registry,
      queues: [
        { ...good, queueName: 'a' },
        { ...good, queueName: 'b' },
      ],
    });
    await bus.init();
    await bus.controller.startWorkers({ queues: ['b'] });
    expect(built).toEqual(['b']);
    await bus.controller.awaitTerminationWithTimeout(1000);
    const other = createBus({
      store: memoryStore(),
      registry,
      queues: [
        { ...good, queueName: 'a' },
        { ...good, queueName: 'b' },
      ],
    });
    await other.init();
    await expectRejects(other.controller.startWorkers({ queues: ['nope'] }), 'QUEUE_NOT_CONFIGURED', 'nope');
  });

  it('a failing factory fails startWorkers with FACTORY_FAILED naming the handler', async () => {
    const registry = new Registry();
    registry.register(defineEvent<object>('factory.event'), handler('factory.handler'), {
      factory: async () => {
        throw new Error('no SMTP credentials');
      },
    });
    const bus = createBus({ store: memoryStore(), registry, queues: [good] });
    await bus.init();
    await expectRejects(bus.controller.startWorkers(), 'FACTORY_FAILED', 'factory.handler');
  });

  it('a bad calculateScheduledAt falls back to the default backoff and is logged', async () => {
    const registry = new Registry();
    const Event = defineEvent<object>('backoff.event');
    const Failing = class extends handler('backoff.handler', { maxRetries: 1 }, () => {
      throw new Error('x');
    }) {
      static calculateScheduledAt(): number {
        return Number.NaN;
      }
    };
    registry.register(Event, Failing);
    const errors: string[] = [];
    const logger: Logger = { debug() {}, info() {}, warn() {}, error: (m) => void errors.push(m) };
    const clock = new ManualClock();
    const store = memoryStore({ clock });
    const bus = createBus({ store, registry, queues: [good], logger });
    await bus.init();
    const [id] = await bus.publish(Event, {});
    await runUntilIdle(bus);
    const row = (await store.listEvents({ ids: [id!] }))[0]!;
    expect(row.scheduledAt.getTime() - clock.now().getTime()).toBe(2000);
    expect(errors.some((m) => m.includes('calculateScheduledAt'))).toBe(true);
    await bus.controller.awaitTerminationWithTimeout(1000);
  });
});

describe('telemetry', () => {
  it('reports every settled attempt with its outcome, and rescues', async () => {
    const registry = new Registry();
    const Event = defineEvent<{ fail: boolean }>('telemetry.event');
    let runs = 0;
    registry.register(
      Event,
      handler('telemetry.handler', { maxRetries: 1 }, (p: { fail: boolean }) => {
        runs++;
        if (p.fail) throw new Error('nope');
      }),
    );
    const settled: SettledInfo[] = [];
    const rescued: number[] = [];
    const clock = new ManualClock();
    const store = memoryStore({ clock });
    const bus = createBus({
      store,
      registry,
      queues: [good],
      rescueInterval: 20,
      telemetry: { settled: (s) => void settled.push(s), rescued: (n) => void rescued.push(n) },
    });
    await bus.init();
    await bus.publish(Event, { fail: false });
    const [failing] = await bus.publish(Event, { fail: true });
    await runUntilIdle(bus);
    clock.advance(60_000);
    await runUntilIdle(bus);
    await waitFor(() => settled.length === 3, { message: 'three settled attempts' });
    const summary = settled.map((s) => `${s.outcome}:${s.attempt}:${s.applied}`).sort();
    expect(summary).toEqual(['completed:1:true', 'failed:2:true', 'retry:1:true']);
    expect(settled.find((s) => s.outcome === 'failed')).toMatchObject({
      id: failing,
      queue: 'q',
      eventName: 'telemetry.event',
      handlerName: 'telemetry.handler',
    });
    expect(settled.find((s) => s.outcome === 'failed')!.error).toContain('nope');
    expect(runs).toBe(3);
    // A row whose worker died: its lease runs out and the rescuer reports it.
    await bus.publish(Event, { fail: false }, { delay: 10 * 60_000 });
    clock.advance(10 * 60_000);
    await store.claim({ queue: 'q', limit: 1, workerId: 'dead', leaseMs: 1000 });
    clock.advance(2000);
    await waitFor(() => rescued.includes(1), { message: 'the rescue to be reported' });
    await bus.controller.awaitTerminationWithTimeout(1000);
  });
});

describe('wake-up', () => {
  it('a transactional publish is picked up within moments, not after sleepInterval, on a store without notify', async () => {
    const registry = new Registry();
    const Event = defineEvent<{ n: number }>('wake.txn');
    const got: number[] = [];
    registry.register(
      Event,
      handler('wake.handler', {}, (p: { n: number }) => void got.push(p.n)),
    );
    const store = memoryStore();
    expect(store.capabilities.notify).toBe(false);
    const bus = createBus({ store, registry, queues: [{ ...good, sleepInterval: 60_000 }] });
    await bus.init();
    await bus.controller.startWorkers();
    // Let the runner's first (empty) claim pass, so it sleeps its 60 s interval.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await store.transaction(async (tx) => {
      await bus.publishTxn(tx, Event, { n: 1 });
      // The commit comes later than the publish call, as in a real transaction.
      await new Promise((resolve) => setTimeout(resolve, 30));
    });
    await waitFor(() => got.length === 1, {
      timeoutMs: 3000,
      message: 'the committed event to run well before 60 s',
    });
    await bus.controller.awaitTerminationWithTimeout(1000);
  });
});

describe('unit-testing helpers on the in-memory store', () => {
  it('a ManualClock makes delayed events and retries due without waiting', async () => {
    const registry = new Registry();
    const Event = defineEvent<{ to: string }>('clock.event');
    const runs: string[] = [];
    registry.register(
      Event,
      handler('clock.handler', { maxRetries: 1 }, (p: { to: string }) => {
        runs.push(p.to);
        if (runs.length === 1) throw new Error('first fails');
      }),
    );
    const clock = new ManualClock();
    const store = memoryStore({ clock });
    const bus = createBus({ store, registry, queues: [good] });
    await bus.init();
    await bus.publish(Event, { to: 'later@x' }, { delay: 60_000 });
    await runUntilIdle(bus);
    expect(runs).toEqual([]);
    clock.advance(60_000);
    await runUntilIdle(bus);
    expect(runs).toEqual(['later@x']);
    clock.advance(2000);
    await runUntilIdle(bus);
    expect(runs).toEqual(['later@x', 'later@x']);
    const published = await assertPublished(store, Event, (p) => p.to === 'later@x');
    expect(published).toMatchObject([{ state: 'completed', handlerName: 'clock.handler' }]);
    await expect(assertPublished(store, Event, (p) => p.to === 'nobody')).rejects.toThrow(/clock.event/);
    expect(await publishedEvents(store, defineEvent('clock.other'))).toEqual([]);
    await bus.controller.awaitTerminationWithTimeout(1000);
  });

  it('waitFor fails with its message at the deadline', async () => {
    await expect(waitFor(() => false, { timeoutMs: 50, message: 'the impossible' })).rejects.toThrow(
      /the impossible/,
    );
  });
});

describe('codec', () => {
  it('refuses what msgpack cannot encode faithfully, naming where', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expectBusError(() => encodePayload({ a: { f: () => 1 } }), 'ENCODE_FAILED', '.a.f');
    expectBusError(() => encodePayload({ s: Symbol('x') }), 'ENCODE_FAILED', '.s');
    expectBusError(() => encodePayload({ m: new Map() }), 'ENCODE_FAILED', '.m');
    expectBusError(() => encodePayload(cyclic), 'ENCODE_FAILED', '.self');
    expectBusError(() => encodePayload({ r: /x/ }), 'ENCODE_FAILED', '.r');
    expectBusError(() => encodePayload([new Error('e')]), 'ENCODE_FAILED', '[0]');
    class Money {
      constructor(readonly cents: number) {}
    }
    expectBusError(() => encodePayload({ price: new Money(5) }), 'ENCODE_FAILED', '.price');
    expect(decodePayload(encodePayload({ plain: Object.create(null), list: [1] }))).toEqual({
      plain: {},
      list: [1],
    });
  });

  it('garbage bytes give DECODE_FAILED', () => {
    expectBusError(() => decodePayload(new Uint8Array([0x92, 0x01])), 'DECODE_FAILED', 2);
    expectBusError(() => decodePayload(new Uint8Array([])), 'DECODE_FAILED', 0);
    expectBusError(() => decodePayload(Buffer.from('not msgpack at all')), 'DECODE_FAILED');
  });

  it('a __proto__ key never touches a prototype', () => {
    const decoded = decodePayload(
      encodePayload(JSON.parse('{"__proto__": {"polluted": true}, "a": 1}')),
    ) as Record<string, unknown>;
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(decoded.polluted).toBeUndefined();
    expect(decoded.a).toBe(1);
  });

  it('isBusError recognises a BusError from another copy of bus-core', () => {
    const foreign = Object.assign(new Error('x'), { code: 'NO_HANDLER' });
    Object.defineProperty(foreign, Symbol.for('bus.BusError'), { value: true });
    expect(isBusError(foreign, 'NO_HANDLER')).toBe(true);
    expect(isBusError(new Error('x'))).toBe(false);
    expect(isBusError(new BusError('SHUT_DOWN', 'x'), 'NO_HANDLER')).toBe(false);
  });
});
