import { createBus, defineEvent, type HandlerSettings, type QueueConfig, Registry } from 'bus-core';
import { describe, expect, it } from 'vitest';
import {
  assertPublished,
  ManualClock,
  memoryStore,
  publishedEvents,
  runUntilIdle,
  waitFor,
} from '../src/index.js';

// The user-facing helpers for handlers' unit tests: ManualClock, runUntilIdle, assertPublished,
// publishedEvents, waitFor (bus-core's own behaviour is tested in packages/bus-core/test).

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
