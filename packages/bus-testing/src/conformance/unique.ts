import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { isBusError, type QueueStore } from 'bus-core';
import type { NewEventRow, RowUniqueness, UniqueNewEventRow } from 'bus-core/driver';
import type { SuiteContext } from './context.js';
import { allLive, claim, dbNow, live, row, untilPast } from './support.js';

/** A keyed row of a handler of its own per test (the keys table is not emptied between tests). */
function keyed(
  handlerName: string,
  unique: Partial<RowUniqueness> & { key: string },
  over: Partial<NewEventRow> = {},
): UniqueNewEventRow {
  return { ...row({ handlerName, ...over }), unique: { bucketMs: null, holdMs: null, ...unique } };
}

/** `unique.insert` and `unique.prune`: keys the database keeps unique per handler. */
export function uniqueTests(s: SuiteContext): void {
  const { describe, it } = s.runner;
  const handler = () => `h-${randomUUID().slice(0, 8)}`;

  async function completeRow(store: QueueStore<any>, id: string, archive: boolean): Promise<void> {
    const claimed = (await claim(store, 'q', 'w', 60_000)).find((c) => c.id === id);
    assert.ok(claimed, `row ${id} was claimed`);
    const { settled } = await store.settle({
      workerId: 'w',
      outcomes: [{ kind: 'completed', id, attempt: claimed.attempts, archive }],
    });
    assert.deepEqual(settled, [id]);
  }

  describe('unique insert', () => {
    it('inserts a new key and returns the holder for a duplicate, per handler', async () => {
      const h1 = handler();
      const h2 = handler();
      const [first] = await s.store.unique.insert({ rows: [keyed(h1, { key: 'k' })] });
      assert.equal(first!.duplicate, false);
      const again = await s.store.unique.insert({
        rows: [keyed(h1, { key: 'k' }), keyed(h2, { key: 'k' }), keyed(h1, { key: 'other' })],
      });
      assert.deepEqual(
        again.map((r) => r.duplicate),
        [true, false, false],
      );
      assert.equal(again[0]!.id, first!.id, 'the duplicate names the holder');
      const rows = await allLive(s.store);
      assert.equal(rows.filter((r) => r.handlerName === h1).length, 2);
      assert.equal(rows.filter((r) => r.handlerName === h2).length, 1);
    });

    it('treats a repeated key within one call as a duplicate of the first', async () => {
      const h = handler();
      const results = await s.store.unique.insert({ rows: [keyed(h, { key: 'k' }), keyed(h, { key: 'k' })] });
      assert.deepEqual(
        results.map((r) => r.duplicate),
        [false, true],
      );
      assert.equal(results[1]!.id, results[0]!.id);
    });

    it('frees a live-only key when its row leaves the hot table', async () => {
      const h = handler();
      const [first] = await s.store.unique.insert({ rows: [keyed(h, { key: 'k' })] });
      await completeRow(s.store, first!.id, true);
      const [second] = await s.store.unique.insert({ rows: [keyed(h, { key: 'k' })] });
      assert.equal(second!.duplicate, false);
      assert.notEqual(second!.id, first!.id);
    });

    it('brings a redriven row back without its key: the next publish of that key is not its duplicate', async () => {
      const h = handler();
      const [first] = await s.store.unique.insert({ rows: [keyed(h, { key: 'k' })] });
      const claimed = (await claim(s.store, 'q', 'w', 60_000)).find((c) => c.id === first!.id);
      assert.ok(claimed, 'the keyed row was claimed');
      await s.store.settle({
        workerId: 'w',
        outcomes: [
          { kind: 'failed', id: first!.id, attempt: claimed.attempts, archive: true, error: 'boom' },
        ],
      });
      assert.deepEqual(await s.store.admin.redrive({ ids: [first!.id], statuses: ['failed'], limit: 10 }), [
        first!.id,
      ]);
      const [next] = await s.store.unique.insert({ rows: [keyed(h, { key: 'k' })] });
      assert.equal(next!.duplicate, false, 'the redriven row holds no key');
      const [dup] = await s.store.unique.insert({ rows: [keyed(h, { key: 'k' })] });
      assert.deepEqual(dup, { id: next!.id, duplicate: true }, 'the new row holds it');
      const ids = (await allLive(s.store)).filter((r) => r.handlerName === h).map((r) => r.id);
      assert.deepEqual(ids.sort(), [first!.id, next!.id].sort());
    });

    it('holds a key with holdMs after its row is archived, until it expires', async () => {
      const h = handler();
      const [first] = await s.store.unique.insert({ rows: [keyed(h, { key: 'k', holdMs: 1500 })] });
      // The key expires 1.5 s after the insert's now, which is before this.
      const before = await dbNow(s.store);
      await completeRow(s.store, first!.id, true);
      const [dup] = await s.store.unique.insert({ rows: [keyed(h, { key: 'k', holdMs: 1500 })] });
      assert.deepEqual(dup, { id: first!.id, duplicate: true }, 'held while archived');
      const [liveOnly] = await s.store.unique.insert({ rows: [keyed(h, { key: 'k' })] });
      assert.equal(liveOnly!.duplicate, false, 'a live-only key ignores the keys table');
      await completeRow(s.store, liveOnly!.id, false);
      await untilPast(s.store, before + 1500);
      const [taken] = await s.store.unique.insert({ rows: [keyed(h, { key: 'k', holdMs: 1500 })] });
      assert.equal(taken!.duplicate, false, 'an expired key is taken over');
    });

    it('folds the period bucket of the database time into the key', async () => {
      const h = handler();
      const bucketMs = 1000;
      // Start early in a bucket, so both inserts below land in the same one.
      await waitForBucketStart(s.store, bucketMs);
      const a = await s.store.unique.insert({ rows: [keyed(h, { key: 'k', bucketMs })] });
      const b = await s.store.unique.insert({ rows: [keyed(h, { key: 'k', bucketMs })] });
      assert.equal(a[0]!.duplicate, false);
      assert.deepEqual(b[0], { id: a[0]!.id, duplicate: true });
      const now = await dbNow(s.store);
      await untilPast(s.store, (Math.floor(now / bucketMs) + 1) * bucketMs);
      const c = await s.store.unique.insert({ rows: [keyed(h, { key: 'k', bucketMs })] });
      assert.equal(c[0]!.duplicate, false, 'the next period has a key of its own');
      assert.equal((await allLive(s.store)).filter((r) => r.handlerName === h).length, 2);
    });

    it('takes keys in the caller transaction: a rollback frees them', async () => {
      const h = handler();
      const rolledBack = new Error('roll back');
      let insideId = '';
      await assert.rejects(
        s.store.transaction(async (tx) => {
          const [r] = await s.store.unique.insert({ rows: [keyed(h, { key: 'k', holdMs: 60_000 })], tx });
          insideId = r!.id;
          throw rolledBack;
        }),
        (e) => e === rolledBack,
      );
      assert.equal(await live(s.store, insideId), undefined);
      const [after] = await s.store.unique.insert({ rows: [keyed(h, { key: 'k', holdMs: 60_000 })] });
      assert.equal(after!.duplicate, false);
    });

    it('leaves exactly one row when concurrent transactions insert one key, some rolling back', async () => {
      const h = handler();
      const n = 12;
      const outcomes = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          try {
            return await s.store.transaction(async (tx) => {
              const [r] = await s.store.unique.insert({ rows: [keyed(h, { key: 'k', holdMs: 60_000 })], tx });
              if (i % 3 === 0) throw new Error('roll back');
              return r!;
            });
          } catch (error) {
            if (error instanceof Error && error.message === 'roll back') return 'rolled back';
            // A deadlock between waiting inserters (MySQL) rolls one back: it is a conflict.
            if (isBusError(error, 'STORE_CONFLICT')) return 'conflict';
            throw error;
          }
        }),
      );
      const committed = outcomes.filter((o) => typeof o === 'object' && !o.duplicate);
      assert.equal(committed.length, 1, `one winner (${JSON.stringify(outcomes)})`);
      const rows = (await allLive(s.store)).filter((r) => r.handlerName === h);
      assert.deepEqual(
        rows.map((r) => r.id),
        [(committed[0] as { id: string }).id],
      );
      for (const o of outcomes) {
        if (typeof o === 'object' && o.duplicate)
          assert.equal(o.id, rows[0]!.id, 'duplicates name the winner');
      }
    });

    it('prunes expired held keys only', async () => {
      const h = handler();
      await s.store.unique.insert({
        rows: [keyed(h, { key: 'short', holdMs: 200 }), keyed(h, { key: 'long', holdMs: 3_600_000 })],
      });
      const before = await dbNow(s.store);
      await untilPast(s.store, before + 200);
      let pruned = 0;
      for (let i = 0; i < 100; i++) {
        const n = await s.store.unique.prune({ limit: 1000 });
        pruned += n;
        if (n < 1000) break;
      }
      assert.ok(pruned >= 1, 'the expired key was pruned');
      const [long] = await s.store.unique.insert({ rows: [keyed(h, { key: 'long', holdMs: 1000 })] });
      assert.equal(long!.duplicate, true, 'an unexpired key stays');
    });
  });
}

async function waitForBucketStart(store: QueueStore<any>, bucketMs: number): Promise<void> {
  const now = await dbNow(store);
  if (now % bucketMs < bucketMs / 3) return;
  await untilPast(store, (Math.floor(now / bucketMs) + 1) * bucketMs);
}
