import { describe, expect, it } from 'vitest';
import { ManualClock, memoryStore, runUntilIdle } from '../../bus-testing/src/index.js';
import { createBus, defineEvent, type Logger, Registry } from '../src/index.js';
import { expectBusError, expectRejects, GOOD_QUEUE, simpleHandler } from './support.js';

// init, publish, startWorkers and shutdown in their order; the default logger; factories; backoff fallback.

describe('lifecycle', () => {
  it('publishing before init throws NOT_INITIALIZED; after shutdown SHUT_DOWN; published rows stay', async () => {
    const registry = new Registry();
    const Event = defineEvent<{ n: number }>('life.event');
    registry.register(Event, simpleHandler('life.handler'));
    const store = memoryStore();
    const bus = createBus({ store, registry, queues: [GOOD_QUEUE] });
    await expectRejects(bus.publish(Event, { n: 0 }), 'NOT_INITIALIZED', 'life.event');
    await expectRejects(bus.controller.startWorkers(), 'NOT_INITIALIZED');
    await bus.init();
    const [id] = await bus.publish(Event, { n: 1 });
    bus.controller.shutdown();
    await expectRejects(bus.publish(Event, { n: 2 }), 'SHUT_DOWN', 'life.event');
    await expectRejects(bus.controller.startWorkers(), 'SHUT_DOWN');
    expect((await store.inspect.listEvents({ limit: 10 })).map((r) => r.id)).toEqual([id]);
    await expectRejects(bus.controller.awaitTerminationWithTimeout(-1), 'INVALID_ARGUMENT', -1);
  });

  it('publish with a hand-made event of an invalid name says the name is invalid, not NO_HANDLER', async () => {
    const bus = createBus({ store: memoryStore(), registry: new Registry(), queues: [GOOD_QUEUE] });
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
          queues: [GOOD_QUEUE],
          logger: { info() {} } as never,
        }),
      'INVALID_CONFIG',
    );
    expectBusError(
      () =>
        createBus({
          store: memoryStore(),
          registry: new Registry(),
          queues: [GOOD_QUEUE],
          logger: null as never,
        }),
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
        simpleHandler('default.failing', {}, () => {
          throw new Error('mail server said no\n    at somewhere (file.js:1:1)');
        }),
      );
      const bus = createBus({ store: memoryStore(), registry, queues: [GOOD_QUEUE] });
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
    registry.register(Event, simpleHandler('idle.handler'));
    const bus = createBus({ store: memoryStore(), registry, queues: [GOOD_QUEUE] });
    await bus.init();
    expect(await bus.controller.awaitTerminationWithTimeout(100)).toBe(true);
    await expectRejects(bus.publish(Event, { n: 1 }), 'SHUT_DOWN');
  });

  it('startWorkers({ queues }) builds only the handlers of the queues it runs', async () => {
    const registry = new Registry();
    const built: string[] = [];
    const Event = defineEvent<object>('select.event');
    const A = simpleHandler('select.a', { queueName: 'a' });
    const B = simpleHandler('select.b', { queueName: 'b' });
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
        { ...GOOD_QUEUE, queueName: 'a' },
        { ...GOOD_QUEUE, queueName: 'b' },
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
        { ...GOOD_QUEUE, queueName: 'a' },
        { ...GOOD_QUEUE, queueName: 'b' },
      ],
    });
    await other.init();
    await expectRejects(other.controller.startWorkers({ queues: ['nope'] }), 'QUEUE_NOT_CONFIGURED', 'nope');
  });

  it('a failing factory fails startWorkers with FACTORY_FAILED naming the handler', async () => {
    const registry = new Registry();
    registry.register(defineEvent<object>('factory.event'), simpleHandler('factory.handler'), {
      factory: async () => {
        throw new Error('no SMTP credentials');
      },
    });
    const bus = createBus({ store: memoryStore(), registry, queues: [GOOD_QUEUE] });
    await bus.init();
    await expectRejects(bus.controller.startWorkers(), 'FACTORY_FAILED', 'factory.handler');
  });

  it('a bad calculateScheduledAt falls back to the default backoff and is logged', async () => {
    const registry = new Registry();
    const Event = defineEvent<object>('backoff.event');
    const Failing = class extends simpleHandler('backoff.handler', { maxRetries: 1 }, () => {
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
    const bus = createBus({ store, registry, queues: [GOOD_QUEUE], logger });
    await bus.init();
    const [id] = await bus.publish(Event, {});
    await runUntilIdle(bus);
    const row = (await store.inspect.listEvents({ ids: [id!], limit: 1 }))[0]!;
    expect(row.scheduledAt.getTime() - clock.now().getTime()).toBe(2000);
    expect(errors.some((m) => m.includes('calculateScheduledAt'))).toBe(true);
    await bus.controller.awaitTerminationWithTimeout(1000);
  });
});
