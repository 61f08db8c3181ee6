import { isBusError } from 'bus-core';
import { describe, expect, it } from 'vitest';
import { ManualClock, MemoryStore, memoryStore, newEventRow } from '../src/index.js';

// What the memory store adds beyond the contract (its options, its clock) and how it stands in
// for a database's transaction; the contract itself is the conformance suite's.

describe('the memory store', () => {
  it('a ManualClock decides when rows are due and when leases run out', async () => {
    const clock = new ManualClock(new Date('2030-01-01T00:00:00Z'));
    const store = memoryStore({ clock });
    const [later] = await store.insert({ rows: [newEventRow({ due: 60_000 })] });
    expect(
      await store.claim({ queue: 'q', limit: 10, workerId: 'w', leaseMs: 1000, handlers: ['test.handler'] }),
    ).toEqual([]);
    clock.advance(60_000);
    const [c] = await store.claim({
      queue: 'q',
      limit: 10,
      workerId: 'w',
      leaseMs: 1000,
      handlers: ['test.handler'],
    });
    expect(c?.id).toBe(later);
    expect(await store.listExpired({ queues: ['q'], limit: 10 })).toEqual([]);
    clock.advance(1001);
    expect((await store.listExpired({ queues: ['q'], limit: 10 })).map((e) => e.id)).toEqual([later]);
    expect(await store.now()).toEqual(new Date('2030-01-01T00:01:01.001Z'));
  });

  it('tablesOf: a second store on the same tables, with its own options', async () => {
    const plain = new MemoryStore();
    const json = new MemoryStore({ tablesOf: plain, jsonPayload: true });
    const [a] = await plain.insert({ rows: [newEventRow()] });
    const [b] = await json.insert({ rows: [newEventRow()] });
    // One id sequence, one table: each store sees both rows.
    expect(BigInt(b!)).toBe(BigInt(a!) + 1n);
    for (const store of [plain, json]) {
      const rows = await store.inspect.listEvents({ limit: 10 });
      expect(rows.map((r) => [r.id, r.payloadJson])).toEqual([
        [a, null],
        [b, { n: 0 }],
      ]);
    }
    plain.clear();
    expect(await json.inspect.listEvents({ limit: 10 })).toEqual([]);
  });

  it('firstId starts the id sequence, beyond 2^53 if asked; a bad one is refused', async () => {
    const store = memoryStore({ firstId: 2n ** 60n });
    const ids = await store.insert({ rows: [newEventRow(), newEventRow()] });
    expect(ids).toEqual(['1152921504606846976', '1152921504606846977']);
    expect((await store.inspect.listEvents({ afterId: ids[0]!, limit: 10 })).map((r) => r.id)).toEqual([
      ids[1],
    ]);
    expect(() => memoryStore({ firstId: 0n })).toThrow(/firstId/);
    expect(() => memoryStore({ firstId: 5 as never })).toThrow(/firstId/);
  });

  it('a transaction applies its writes at the commit: a settle whose row changed hands meanwhile fails it whole', async () => {
    const store = memoryStore();
    const [id] = await store.insert({ rows: [newEventRow({ maxRetries: 1 })] });
    await store.claim({ queue: 'q', limit: 1, workerId: 'w', leaseMs: 60_000, handlers: ['test.handler'] });
    const error = await store
      .transaction(async (tx) => {
        await store.insert({ tx, rows: [newEventRow({ queue: 'written-in-tx' })] });
        await store.settle({
          tx,
          workerId: 'w',
          outcomes: [{ kind: 'completed', id: id!, attempt: 1, archive: true }],
        });
        // Another worker's settle lands first, as a database would not let it while rows are locked.
        await store.settle({
          workerId: 'w',
          outcomes: [{ kind: 'retry', id: id!, attempt: 1, delayMs: 0, error: 'outside' }],
        });
      })
      .catch((e: unknown) => e);
    expect(isBusError(error, 'LEASE_LOST')).toBe(true);
    // Nothing of the transaction was applied: not the insert, not the settle.
    expect((await store.inspect.listEvents({ limit: 10 })).map((r) => [r.id, r.lastError])).toEqual([
      [id, 'outside'],
    ]);
    expect(await store.inspect.listArchive({ limit: 10 })).toEqual([]);
  });

  it('refuses a transaction that has ended or belongs to no memory store', async () => {
    const store = memoryStore();
    let leaked: unknown;
    await store.transaction(async (tx) => {
      leaked = tx;
    });
    const ended = await store.insert({ tx: leaked as never, rows: [newEventRow()] }).catch((e: unknown) => e);
    expect(isBusError(ended, 'INVALID_ARGUMENT')).toBe(true);
    const foreign = await store.insert({ tx: {} as never, rows: [newEventRow()] }).catch((e: unknown) => e);
    expect(isBusError(foreign, 'INVALID_ARGUMENT')).toBe(true);
    expect(await store.inspect.listEvents({ limit: 10 })).toEqual([]);
  });
});

describe('runConformanceSuite', () => {
  it('without the runner (the 0.1 call) says which functions to pass', async () => {
    const { runConformanceSuite } = await import('bus-testing/conformance');
    const target = {
      name: 'x',
      setup: async () => new MemoryStore(),
      reset: async () => {},
      teardown: async () => {},
    };
    const error = (() => {
      try {
        runConformanceSuite(target, undefined as never);
      } catch (e) {
        return e;
      }
    })();
    expect(isBusError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toContain('describe, it, beforeAll, afterAll, beforeEach');
    expect(() => runConformanceSuite(target, { describe: () => {}, it: () => {} } as never)).toThrow(
      /beforeAll, afterAll, beforeEach/,
    );
  });
});
