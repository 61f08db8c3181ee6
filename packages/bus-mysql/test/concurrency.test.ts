import { createBus, defineEvent, encodePayload, type HandlerSettings, isBusError, Registry } from 'bus-core';
import type { NewEventRow } from 'bus-core/driver';
import { waitFor } from 'bus-testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mysqlStore } from '../src/index.js';
import { archived, createTestDatabase, live, row, type TestDatabase, truncate } from './helpers.js';

function rows(n: number): NewEventRow[] {
  return Array.from({ length: n }, (_, i) =>
    row({ eventName: 'c.event', handlerName: 'c.handler', payload: encodePayload({ i }), priority: i % 4 }),
  );
}

/**
 * A store call run again after STORE_CONFLICT, as bus-core does (the store itself never retries):
 * counts the conflicts, and any other error goes through.
 */
async function asTheCoreDoes<T>(call: () => Promise<T>, conflicts: { n: number }): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isBusError(error, 'STORE_CONFLICT') || attempt >= 10) throw error;
      conflicts.n++;
      await new Promise((resolve) =>
        setTimeout(resolve, 1 + Math.random() * Math.min(5 * 2 ** attempt, 250)),
      );
    }
  }
}

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase({ connectionLimit: 12 });
});
afterAll(async () => {
  await t?.drop();
});
beforeEach(async () => {
  await truncate(t);
});

describe('8 concurrent claimers on one queue', () => {
  // Floors far below what even a loaded 2-core machine does, to catch a collapse (a claim that
  // locks the whole queue, deadlock storms), not to benchmark.
  it.each([
    [1, 400, 15],
    [10, 2000, 100],
    [500, 10_000, 400],
  ])('batch size %i: conflicts only as STORE_CONFLICT, no row claimed twice (%i rows)', async (batch, total, minRate) => {
    const store = mysqlStore(t.db);
    const ids = await store.insert({ rows: rows(total) });
    const owner = new Map<string, string>();
    const errors: unknown[] = [];
    const conflicts = { n: 0 };
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        const workerId = `claimer-${w}`;
        let idle = 0;
        while (idle < 3) {
          try {
            const claimed = await asTheCoreDoes(
              () =>
                store.claim({ queue: 'q', limit: batch, workerId, leaseMs: 60_000, handlers: ['c.handler'] }),
              conflicts,
            );
            if (claimed.length === 0) {
              idle++;
              continue;
            }
            idle = 0;
            for (const c of claimed) {
              if (owner.has(c.id))
                errors.push(new Error(`row ${c.id} claimed by ${owner.get(c.id)} and ${workerId}`));
              owner.set(c.id, workerId);
            }
            const { settled } = await asTheCoreDoes(
              () =>
                store.settle({
                  workerId,
                  outcomes: claimed.map((c) => ({
                    kind: 'completed' as const,
                    id: c.id,
                    attempt: c.attempts,
                    archive: true,
                  })),
                }),
              conflicts,
            );
            if (settled.length !== claimed.length)
              errors.push(new Error(`settle refused ${claimed.length - settled.length}`));
          } catch (error) {
            errors.push(error);
            return;
          }
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    expect(errors).toEqual([]);
    expect(owner.size).toBe(total);
    expect([...owner.keys()].sort()).toEqual([...ids].sort());
    expect(new Set(owner.values()).size).toBeGreaterThan(1);
    expect(await live(store)).toEqual([]);
    const [archive] = (await t.admin.query(
      'SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d, MAX(attempts) AS a FROM bus_events_archive',
    )) as unknown as [{ n: number; d: number; a: number }[]];
    expect(archive[0]).toEqual({ n: total, d: total, a: 1 });
    const rate = total / seconds;
    console.info(
      `batch ${batch}: ${total} rows claimed+settled by 8 claimers in ${seconds.toFixed(2)} s (${Math.round(rate)} rows/s, ${conflicts.n} conflicts retried)`,
    );
    expect(rate).toBeGreaterThan(minRate);
  });
});

describe('200 concurrent transactions', () => {
  it('publishTxn rows exist exactly for the committed transactions, and only those run', async () => {
    const store = mysqlStore(t.db);
    const Event = defineEvent<{ tx: number; part: number }>('c.tx-event');
    const handled = new Map<string, number>();
    class Handler {
      static readonly handlerName = 'c.tx-handler';
      static readonly settings: HandlerSettings = {
        queueName: 'txq',
        maxRetries: 0,
        executionTimeout: 10_000,
      };
      async handle(payload: { tx: number; part: number }): Promise<void> {
        const key = `${payload.tx}/${payload.part}`;
        handled.set(key, (handled.get(key) ?? 0) + 1);
      }
    }
    const registry = new Registry();
    registry.register(Event, Handler);
    const bus = createBus({
      store,
      registry,
      queues: [{ queueName: 'txq', workers: 8, batchSize: 20, sleepInterval: 20, archivePolicy: 'all' }],
    });
    await bus.init();
    // Workers claim while the transactions are open: uncommitted rows must stay invisible.
    await bus.controller.startWorkers();

    const commits = Array.from({ length: 200 }, () => Math.random() < 0.5);
    const committedIds: string[] = [];
    const rolledBackIds: string[] = [];
    const results = await Promise.allSettled(
      commits.map((commit, tx) =>
        store.transaction(async (trx) => {
          const first = await bus.publishTxn(trx, Event, { tx, part: 0 });
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
          const more = await bus.publishBatchTxn(trx, Event, [
            { tx, part: 1 },
            { tx, part: 2 },
          ]);
          if (!commit) {
            rolledBackIds.push(...first, ...more);
            throw new Error('roll back');
          }
          return [...first, ...more];
        }),
      ),
    );
    results.forEach((r, tx) => {
      if (commits[tx]) {
        expect(r.status, `transaction ${tx}`).toBe('fulfilled');
        committedIds.push(...(r as PromiseFulfilledResult<string[]>).value);
      } else {
        expect(r.status).toBe('rejected');
        expect(((r as PromiseRejectedResult).reason as Error).message).toBe('roll back');
      }
    });
    const expected = new Set<string>();
    for (const [tx, committed] of commits.entries()) {
      if (committed) for (const part of [0, 1, 2]) expected.add(`${tx}/${part}`);
    }

    await waitFor(async () => (await archived(store, { queue: 'txq' })).length >= expected.size, {
      timeoutMs: 30_000,
      message: 'every committed row archived',
    });
    await bus.controller.awaitTerminationWithTimeout(5000);
    const done = await archived(store, { queue: 'txq' });
    expect(done.map((a) => a.id).sort()).toEqual([...committedIds].sort());
    expect(done.every((a) => a.status === 'completed')).toBe(true);
    expect(new Set(handled.keys())).toEqual(expected);
    expect([...handled.values()].every((n) => n === 1)).toBe(true);
    expect(await live(store, { ids: rolledBackIds })).toEqual([]);
    expect(await archived(store, { ids: rolledBackIds })).toEqual([]);
  });
});
