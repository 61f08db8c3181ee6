import { busEventHandler, createBus, defineEvent, type HandlerContext, Registry } from 'bus-core';
import { expect, it } from 'vitest';
import { memoryStore, runUntilIdle } from '../src/index.js';

it('the standard decorator registers handlers with and without a factory', async () => {
  const registry = new Registry();
  const Ping = defineEvent<{ n: number }>('deco.ping');
  const got: string[] = [];

  @busEventHandler(Ping, { registry })
  class PlainHandler {
    static readonly handlerName = 'deco.plain';
    static readonly settings = { queueName: 'q', maxRetries: 0, executionTimeout: 1000 };
    async handle(event: { n: number }, ctx: HandlerContext): Promise<void> {
      got.push(`plain ${event.n} attempt ${ctx.attempt}`);
    }
  }

  @busEventHandler(Ping, { registry, factory: async () => new FactoryHandler('made') })
  class FactoryHandler {
    static readonly handlerName = 'deco.factory';
    static readonly settings = { queueName: 'q', maxRetries: 0, executionTimeout: 1000 };
    constructor(private readonly tag: string) {}
    async handle(event: { n: number }): Promise<void> {
      got.push(`${this.tag} ${event.n}`);
    }
  }

  expect(registry.handlersOf('deco.ping').map((h) => h.handlerClass)).toEqual([PlainHandler, FactoryHandler]);
  const bus = createBus({
    store: memoryStore(),
    registry,
    queues: [{ queueName: 'q', workers: 1, batchSize: 1, sleepInterval: 10, archivePolicy: 'none' }],
  });
  await bus.init();
  await bus.publish(Ping, { n: 1 });
  await runUntilIdle(bus);
  await bus.controller.awaitTerminationWithTimeout(1000);
  expect(got.sort()).toEqual(['made 1', 'plain 1 attempt 1']);
});
