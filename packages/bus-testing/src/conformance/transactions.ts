import assert from 'node:assert/strict';
import { encodePayload } from 'bus-core';
import type { SuiteContext } from './context.js';
import { allArchived, allLive, archived, held, insert, live, row } from './support.js';

/** `transaction`: the value or the caller's own error passes through; writes in it commit or roll back together. */
export function transactionTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('transaction', () => {
    it("resolves with fn's value and rejects with fn's own error, untouched", async () => {
      assert.equal(await s.store.transaction(async () => 42), 42);
      const mine = new Error('mine');
      const error = await s.store.transaction(async () => Promise.reject(mine)).catch((e: unknown) => e);
      assert.equal(error, mine);
    });

    it('rows inserted in it exist only after the commit, ids returned at once', async () => {
      let inside: string[] = [];
      const ids = await s.store.transaction(async (tx) => {
        inside = await s.store.insert({
          tx,
          rows: [row({ payload: encodePayload(1) }), row({ queue: 'other' })],
        });
        assert.equal(inside.length, 2);
        return inside;
      });
      assert.deepEqual(ids, inside);
      assert.deepEqual(
        (await allLive(s.store)).map((r) => r.id),
        ids,
      );
    });

    it('rows inserted in a rolled-back transaction vanish, a large batch too', async () => {
      const error = await s.store
        .transaction(async (tx) => {
          const ids = await s.store.insert({ tx, rows: Array.from({ length: 3_000 }, () => row()) });
          assert.equal(ids.length, 3_000);
          throw new Error('roll back');
        })
        .catch((e: unknown) => e);
      assert.equal((error as Error).message, 'roll back');
      assert.deepEqual(await allLive(s.store), []);
      assert.deepEqual(await s.store.inspect.countByQueue(), []);
    });

    it('a handler-style transaction: an insert and a settle commit together, or neither', async () => {
      const a = await held(s.store);
      const error = await s.store
        .transaction(async (tx) => {
          await s.store.insert({ tx, rows: [row({ queue: 'follow-up' })] });
          await s.store.settle({
            tx,
            workerId: 'w',
            outcomes: [{ kind: 'completed', id: a.id, attempt: 1, archive: true }],
          });
          throw new Error('handler failed after its writes');
        })
        .catch((e: unknown) => e);
      assert.equal((error as Error).message, 'handler failed after its writes');
      assert.deepEqual(
        (await allLive(s.store)).map((r) => r.id),
        [a.id],
      );
      assert.equal((await live(s.store, a.id))?.lockedBy, 'w');
      assert.deepEqual(await allArchived(s.store), []);

      const [followUp] = await s.store.transaction(async (tx) => {
        const ids = await s.store.insert({ tx, rows: [row({ queue: 'follow-up' })] });
        const r = await s.store.settle({
          tx,
          workerId: 'w',
          outcomes: [{ kind: 'completed', id: a.id, attempt: 1, archive: true }],
        });
        assert.deepEqual(r, { settled: [a.id] });
        return ids;
      });
      assert.equal((await archived(s.store, a.id))?.status, 'completed');
      assert.equal((await live(s.store, followUp!))?.queue, 'follow-up');
      assert.equal(await live(s.store, a.id), undefined);
    });

    it('rows inserted outside stay when a transaction next to them rolls back', async () => {
      const [outside] = await insert(s.store, [row()]);
      await s.store
        .transaction(async (tx) => {
          await s.store.insert({ tx, rows: [row()] });
          throw new Error('roll back');
        })
        .catch(() => undefined);
      assert.deepEqual(
        (await allLive(s.store)).map((r) => r.id),
        [outside],
      );
    });
  });
}
