import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../bus-testing/src/index.js';
import { defineEvent, isBusError, Registry } from '../src/index.js';
import { handlerClass, makeBus, queue } from './support.js';

// Unique publish through the bus: the result object, fan-out scope, derived keys from handler
// settings, onDuplicate: 'throw', and every bad input refused with a BusError before any write.

const Charge = defineEvent<{ orderId: number; note?: string }>('unique.charge');

async function busWith(
  handlers: { name: string; unique?: Record<string, unknown> }[],
  store = new MemoryStore(),
) {
  const registry = new Registry();
  for (const h of handlers) {
    registry.register(
      Charge,
      handlerClass(h.name, { queueName: 'q', ...(h.unique ? { unique: h.unique as never } : {}) }, () => {}),
    );
  }
  return { store, bus: await makeBus({ store, registry, queues: [queue('q')] }) };
}

describe('publishUnique', () => {
  it('returns the holder id and duplicate: true for a second publish of a key, per handler', async () => {
    const { bus, store } = await busWith([{ name: 'unique.a' }, { name: 'unique.b' }]);
    const first = await bus.publishUnique(Charge, { orderId: 1 }, { key: 'order-1' });
    expect(first.duplicate).toBe(false);
    expect(first.ids).toHaveLength(2);
    const second = await bus.publishUnique(Charge, { orderId: 1 }, { key: 'order-1' });
    expect(second).toMatchObject({ duplicate: true, ids: first.ids });
    expect(second.rows.map((r) => [r.handlerName, r.duplicate])).toEqual([
      ['unique.a', true],
      ['unique.b', true],
    ]);
    expect(await store.inspect.listEvents({ limit: 10 })).toHaveLength(2);
    // Plain publish with the same option returns ids too: the holder's for a duplicate.
    expect(await bus.publish(Charge, { orderId: 1 }, { unique: { key: 'order-1' } })).toEqual(first.ids);
  });

  it("derives keys from a handler's settings.unique (fields or a function); others get plain rows", async () => {
    const { bus, store } = await busWith([
      { name: 'unique.fields', unique: { fields: ['orderId'] } },
      { name: 'unique.fn', unique: { key: (p: { orderId: number }) => `o${p.orderId}` } },
      { name: 'unique.plain' },
    ]);
    await bus.publish(Charge, { orderId: 7, note: 'a' });
    await bus.publish(Charge, { orderId: 7, note: 'b' });
    await bus.publishBatch(Charge, [{ orderId: 8 }, { orderId: 8 }]);
    const rows = await store.inspect.listEvents({ limit: 100 });
    const count = (h: string) => rows.filter((r) => r.handlerName === h).length;
    expect(count('unique.fields')).toBe(2);
    expect(count('unique.fn')).toBe(2);
    expect(count('unique.plain')).toBe(4);
  });

  it("onDuplicate: 'throw' rejects with DUPLICATE_PUBLISH naming the holder", async () => {
    const { bus } = await busWith([{ name: 'unique.t' }]);
    const first = await bus.publishUnique(Charge, { orderId: 2 }, { key: 'k' });
    const error = await bus
      .publishUnique(Charge, { orderId: 2 }, { key: 'k', onDuplicate: 'throw' })
      .catch((e) => e);
    expect(isBusError(error, 'DUPLICATE_PUBLISH')).toBe(true);
    expect((error as Error).message).toContain(first.ids[0]);
  });

  it('publishUniqueTxn takes the key only if the transaction commits', async () => {
    const { bus, store } = await busWith([{ name: 'unique.tx' }]);
    await store
      .transaction(async (tx) => {
        await bus.publishUniqueTxn(tx, Charge, { orderId: 3 }, { key: 'k' });
        throw new Error('rollback');
      })
      .catch(() => {});
    const after = await bus.publishUnique(Charge, { orderId: 3 }, { key: 'k' });
    expect(after.duplicate).toBe(false);
  });

  it('refuses bad keys and options at publish with INVALID_ARGUMENT, writing nothing', async () => {
    const { bus, store } = await busWith([{ name: 'unique.bad' }]);
    const bad: [string, Promise<unknown>][] = [
      ['over-long key', bus.publishUnique(Charge, { orderId: 1 }, { key: 'x'.repeat(256) })],
      ['empty key', bus.publishUnique(Charge, { orderId: 1 }, { key: '' })],
      ['NUL in key', bus.publishUnique(Charge, { orderId: 1 }, { key: 'a\u0000b' })],
      [
        'key function throws',
        bus.publishUnique(
          Charge,
          { orderId: 1 },
          {
            key: () => {
              throw new Error('boom');
            },
          },
        ),
      ],
      [
        'key function returns a number',
        bus.publishUnique(Charge, { orderId: 1 }, { key: (() => 42) as never }),
      ],
      ['key of a wrong type', bus.publishUnique(Charge, { orderId: 1 }, { key: 42 as never })],
      ['period 0', bus.publishUnique(Charge, { orderId: 1 }, { key: 'k', period: 0 })],
      ['period 1.5', bus.publishUnique(Charge, { orderId: 1 }, { key: 'k', period: 1.5 })],
      [
        'archive scope without period',
        bus.publishUnique(Charge, { orderId: 1 }, { key: 'k', scope: 'archive' }),
      ],
      ['unknown scope', bus.publishUnique(Charge, { orderId: 1 }, { key: 'k', scope: 'all' as never })],
      ['unknown option', bus.publishUnique(Charge, { orderId: 1 }, { key: 'k', replace: true } as never)],
      [
        'onDuplicate',
        bus.publishUnique(Charge, { orderId: 1 }, { key: 'k', onDuplicate: 'ignore' as never }),
      ],
      ['unique not an object', bus.publish(Charge, { orderId: 1 }, { unique: 'k' as never })],
    ];
    for (const [what, promise] of bad) {
      const error = await promise.catch((e: unknown) => e);
      expect(isBusError(error, 'INVALID_ARGUMENT'), `${what}: ${String(error)}`).toBe(true);
    }
    expect(await store.inspect.listEvents({ limit: 10 })).toEqual([]);
  });

  it('refuses bad handler settings.unique at registration with INVALID_HANDLER', () => {
    const bad: unknown[] = [
      'k',
      {},
      { fields: [] },
      { fields: ['a', 'a'] },
      { fields: ['a'], key: () => 'k' },
      { key: 'not a function' },
      { fields: ['a'], period: -1 },
      { fields: ['a'], scope: 'archive' },
      { fields: ['a'], typo: 1 },
    ];
    for (const unique of bad) {
      const registry = new Registry();
      let error: unknown;
      try {
        registry.register(
          Charge,
          handlerClass('unique.reg', { queueName: 'q', unique: unique as never }, () => {}),
        );
      } catch (e) {
        error = e;
      }
      expect(isBusError(error, 'INVALID_HANDLER'), JSON.stringify(unique)).toBe(true);
    }
  });

  it('a payload that is not an object cannot make a fields key', async () => {
    const Scalar = defineEvent<number>('unique.scalar');
    const registry = new Registry();
    registry.register(
      Scalar,
      handlerClass('unique.scalar-h', { queueName: 'q', unique: { fields: ['a'] } }, () => {}),
    );
    const bus = await makeBus({ registry, queues: [queue('q')] });
    const error = await bus.publish(Scalar, 5).catch((e) => e);
    expect(isBusError(error, 'INVALID_ARGUMENT')).toBe(true);
  });
});
