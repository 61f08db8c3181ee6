import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, waitFor } from '../../bus-testing/src/index.js';
import { defineEvent, isBusError, Registry } from '../src/index.js';
import { archiveOf, handlerClass, makeBus, queue } from './support.js';

// executionTimeout aborts the handler's signal and fails the attempt; a hung handler does not
// hold its worker.

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});

describe('timeouts', () => {
  it('aborts the signal at executionTimeout and fails the attempt with HANDLER_TIMEOUT', async () => {
    const Event = defineEvent<{ n: number }>('timeout.event');
    const registry = new Registry();
    let signal: AbortSignal | undefined;
    registry.register(
      Event,
      handlerClass('timeout.handler', { queueName: 'q', executionTimeout: 150 }, (_p, ctx) => {
        signal = ctx.signal;
        return new Promise<void>((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
        );
      }),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    const archived = await waitFor(() => archiveOf(store, id!), { message: 'timed-out row archived' });
    expect(signal?.aborted).toBe(true);
    expect(isBusError(signal?.reason, 'HANDLER_TIMEOUT')).toBe(true);
    expect(archived).toMatchObject({ status: 'failed' });
    expect(archived.lastError).toContain('HANDLER_TIMEOUT');
  });

  it('a handler whose promise never settles times out too, and the worker goes on', async () => {
    const Event = defineEvent<{ hang: boolean }>('timeout.hang');
    const registry = new Registry();
    const done: boolean[] = [];
    registry.register(
      Event,
      handlerClass('hang.handler', { queueName: 'q', executionTimeout: 150 }, (p: { hang: boolean }) => {
        if (p.hang) return new Promise(() => {});
        done.push(true);
      }),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q', { workers: 1 })] });
    const [hung] = await bus.publish(Event, { hang: true });
    const [fine] = await bus.publish(Event, { hang: false });
    await bus.controller.startWorkers();
    const archived = await waitFor(() => archiveOf(store, hung!), { message: 'hung row archived' });
    expect(archived.lastError).toContain('HANDLER_TIMEOUT');
    await waitFor(async () => (await archiveOf(store, fine!))?.status === 'completed', {
      message: 'next row ran',
    });
    expect(done).toEqual([true]);
  });
});
