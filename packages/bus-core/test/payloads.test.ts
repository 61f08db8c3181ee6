import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, waitFor } from '../../bus-testing/src/index.js';
import { createBus, decodePayload, defineEvent, Registry } from '../src/index.js';
import { expectBusError, handlerClass, makeBus, queue } from './support.js';

// Payloads through publish and the handler: every kind encodePayload takes comes back as it was;
// the JSON column is the store's option, filled from the same bytes.

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});

describe('payloads', () => {
  it('round-trips dates, bigints, bytes, nested objects, unicode and a 1 MB payload', async () => {
    const Event = defineEvent<Record<string, unknown>>('codec.event');
    const registry = new Registry();
    const got: unknown[] = [];
    registry.register(
      Event,
      handlerClass('codec.handler', { queueName: 'q' }, (p) => void got.push(p)),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const payloads = [
      {
        at: new Date('2024-02-29T12:34:56.789Z'),
        small: 7n,
        huge: -(2n ** 90n),
        bytes: new Uint8Array([0, 1, 254, 255]),
        deep: { a: [{ b: { c: [1, 2.5, null, true, 'x'] } }] },
        text: 'Grüße, 世界, emoji 🚀, RTL שלום',
      },
      { blob: 'x'.repeat(1024 * 1024), n: 1 },
    ];
    await bus.publishBatch(Event, payloads);
    await bus.controller.startWorkers();
    await waitFor(() => got.length === 2, { message: 'both payloads handled' });
    const normalize = (v: unknown) =>
      JSON.parse(
        JSON.stringify(v, (_k, x) =>
          typeof x === 'bigint' ? `${x}n` : x?.type === 'Buffer' ? { bytes: x.data } : x,
        ),
      );
    const sorted = [...got].sort((x, y) => Number('blob' in (x as object)) - Number('blob' in (y as object)));
    expect(sorted[0]).toEqual({ ...payloads[0], bytes: expect.any(Uint8Array) });
    expect([...(sorted[0] as { bytes: Uint8Array }).bytes]).toEqual([0, 1, 254, 255]);
    expect((sorted[0] as { at: Date }).at).toBeInstanceOf(Date);
    expect(normalize(sorted[1])).toEqual(normalize(payloads[1]));
  });

  it('a store with jsonPayload fills the JSON column of published rows; one without leaves it null', async () => {
    const Event = defineEvent<{ big: bigint; text: string; nested: { ok: boolean } }>('json.event');
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass('json.handler', { queueName: 'q' }, () => {}),
    );
    const withJson = await makeBus({
      store: new MemoryStore({ tablesOf: store, jsonPayload: true }),
      registry,
      queues: [queue('q')],
    });
    const withoutJson = await makeBus({ store, registry, queues: [queue('q')] });
    const payload = { big: 12345678901234567890n, text: 'héllo 🎉', nested: { ok: true } };
    const [a] = await withJson.publish(Event, payload);
    const [b] = await withoutJson.publish(Event, payload);
    const rows = await store.inspect.listEvents({ ids: [a!, b!], limit: 10 });
    expect(rows.find((r) => r.id === a)!.payloadJson).toEqual({
      big: '12345678901234567890',
      text: 'héllo 🎉',
      nested: { ok: true },
    });
    expect(rows.find((r) => r.id === b)!.payloadJson).toBeNull();
    expect(decodePayload(rows.find((r) => r.id === a)!.payload)).toEqual(payload);
  });

  it('createBus refuses the old jsonPayload option, naming the store option', () => {
    expectBusError(
      () => createBus({ store, queues: [queue('q')], jsonPayload: true } as never),
      'INVALID_CONFIG',
      'jsonPayload',
    );
  });
});
