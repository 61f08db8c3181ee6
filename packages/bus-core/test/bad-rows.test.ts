import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, newEventRow, waitFor } from '../../bus-testing/src/index.js';
import { runAttempt } from '../src/attempt.js';
import { heldRow } from '../src/held-row.js';
import { defineEvent, Registry } from '../src/index.js';
import { Settler } from '../src/settler.js';
import { archiveOf, handlerClass, makeBus, queue } from './support.js';

// A row the worker cannot run (bytes bus did not write, an event its handler does not handle)
// fails for good, archived with the reason, and the worker goes on. A row of a handler this
// process does not have is not claimed at all (rolling deploys).

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

  it('a row of a handler this process does not have is not claimed: its attempts wait for a process that has it', async () => {
    const Event = defineEvent<{ n: number }>('bad.ghost');
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass('known.ghost-neighbour', { queueName: 'q' }, () => {}),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const [ghost] = await store.insert({ rows: [newEventRow({ handlerName: 'ghost.handler' })] });
    const [known] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    await waitFor(() => archiveOf(store, known!), { message: 'the known row handled' });
    const [row] = await store.inspect.listEvents({ ids: [ghost!], limit: 1 });
    expect(row).toMatchObject({ attempts: 0, lockedBy: null, lastError: null });
  });

  it('a claimed row whose handler is missing still fails with UNKNOWN_HANDLER (the defence behind the claim filter)', async () => {
    const [id] = await store.insert({ rows: [newEventRow({ handlerName: 'ghost.handler' })] });
    const [claimed] = await store.claim({
      queue: 'q',
      limit: 1,
      workerId: 'w',
      leaseMs: 60_000,
      handlers: ['ghost.handler'],
    });
    const registry = new Registry();
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    const result = await runAttempt(heldRow(claimed!, Date.now() + 60_000), {
      registry,
      instances: new Map(),
      settler: new Settler(store, 'w', logger),
      logger,
      archivePolicy: 'all',
    });
    expect(result).toMatchObject({ kind: 'outcome', outcome: { kind: 'failed', id, archive: true } });
    const outcome = result.kind === 'outcome' ? result.outcome : undefined;
    expect(outcome?.kind === 'failed' ? outcome.error : '').toMatch(/UNKNOWN_HANDLER.*ghost\.handler/);
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
