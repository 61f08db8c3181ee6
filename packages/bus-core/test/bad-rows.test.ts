import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, newEventRow, waitFor } from '../../bus-testing/src/index.js';
import { defineEvent, Registry } from '../src/index.js';
import { archiveOf, handlerClass, makeBus, queue } from './support.js';

// A row the worker cannot run (bytes bus did not write, a handler or event this process does not
// know) fails for good, archived with the reason, and the worker goes on.

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});

describe('bad rows never stop a worker', () => {
  it('an undecodable payload fails with DECODE_FAILED and the next row still runs', async () => {
    const Event = defineEvent<{ n: number }>('bad.decode');
    const registry = new Registry();
    const got: unknown[] = [];
    registry.register(
      Event,
      handlerClass('decode.handler', { queueName: 'q' }, (p) => void got.push(p)),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q', { workers: 1 })] });
    const [bad, empty] = await store.insert({
      rows: [
        newEventRow({
          eventName: 'bad.decode',
          handlerName: 'decode.handler',
          payload: new Uint8Array([0xc1, 0xff, 0x00, 0x13]),
        }),
        newEventRow({ eventName: 'bad.decode', handlerName: 'decode.handler', payload: new Uint8Array(0) }),
      ],
    });
    const [good] = await bus.publish(Event, { n: 7 });
    await bus.controller.startWorkers();
    for (const id of [bad!, empty!]) {
      const archived = await waitFor(() => archiveOf(store, id), { message: 'bad row archived' });
      expect(archived.status).toBe('failed');
      expect(archived.lastError).toContain('DECODE_FAILED');
    }
    await waitFor(async () => (await archiveOf(store, good!))?.status === 'completed', {
      message: 'good row ran',
    });
    expect(got).toEqual([{ n: 7 }]);
  });

  it('an unknown handler name fails with UNKNOWN_HANDLER', async () => {
    const bus = await makeBus({ store, registry: new Registry(), queues: [queue('q')] });
    const [id] = await store.insert({ rows: [newEventRow({ handlerName: 'ghost.handler' })] });
    await bus.controller.startWorkers();
    const archived = await waitFor(() => archiveOf(store, id!), { message: 'ghost row archived' });
    expect(archived.status).toBe('failed');
    expect(archived.lastError).toContain('UNKNOWN_HANDLER');
    expect(archived.lastError).toContain('ghost.handler');
  });

  it('a known handler with an event name it does not handle fails with UNKNOWN_EVENT', async () => {
    const Event = defineEvent<{ n: number }>('bad.known');
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass('known.handler', { queueName: 'q' }, () => {}),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const [id] = await store.insert({
      rows: [newEventRow({ eventName: 'other.event', handlerName: 'known.handler' })],
    });
    await bus.controller.startWorkers();
    const archived = await waitFor(() => archiveOf(store, id!), { message: 'row archived' });
    expect(archived.status).toBe('failed');
    expect(archived.lastError).toContain('UNKNOWN_EVENT');
  });

  it('a __proto__ key in a payload reaches the handler as data, polluting no prototype', async () => {
    const Event = defineEvent<Record<string, unknown>>('bad.proto');
    const registry = new Registry();
    const got: Record<string, unknown>[] = [];
    registry.register(
      Event,
      handlerClass('proto.handler', { queueName: 'q' }, (p: Record<string, unknown>) => void got.push(p)),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    await bus.publish(
      Event,
      JSON.parse('{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"ok":1}'),
    );
    await bus.controller.startWorkers();
    await waitFor(() => got.length === 1, { message: 'handled' });
    expect(got[0]!.ok).toBe(1);
    expect(Object.getPrototypeOf(got[0])).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
