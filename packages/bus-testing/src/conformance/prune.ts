import assert from 'node:assert/strict';
import type { ArchivedEventRow } from 'bus-core';
import type { SuiteContext } from './context.js';
import { allArchived, allLive, archived, dbNow, held, insert, row, untilPast } from './support.js';

/** `prune`: archive rows finished more than `olderThanMs` ago, oldest first, at most `limit`. */
export function pruneTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  /** Archives one row as completed and returns it as archived. */
  async function archiveOne(): Promise<ArchivedEventRow> {
    const c = await held(s.store);
    await s.store.settle({
      workerId: 'w',
      outcomes: [{ kind: 'completed', id: c.id, attempt: 1, archive: true }],
    });
    const a = await archived(s.store, c.id);
    assert.ok(a);
    return a;
  }

  describe('prune', () => {
    it('deletes the oldest finished rows first, at most `limit`, and returns how many', async () => {
      const first = await archiveOne();
      await untilPast(s.store, first.finishedAt);
      const second = await archiveOne();
      await untilPast(s.store, second.finishedAt);
      const third = await archiveOne();
      await untilPast(s.store, third.finishedAt);
      const [liveRow] = await insert(s.store, [row({ queue: 'stays' })]);
      assert.equal(await s.store.prune({ olderThanMs: 0, limit: 2 }), 2);
      assert.deepEqual(
        (await allArchived(s.store)).map((a) => a.id),
        [third.id],
        'the two oldest went first',
      );
      assert.equal(await s.store.prune({ olderThanMs: 0, limit: 10 }), 1);
      assert.equal(await s.store.prune({ olderThanMs: 0, limit: 10 }), 0);
      assert.deepEqual(
        (await allLive(s.store)).map((r) => r.id),
        [liveRow],
        'live rows are never pruned',
      );
    });

    it('keeps rows that finished less than `olderThanMs` ago', async () => {
      const old = await archiveOne();
      await untilPast(s.store, old.finishedAt.getTime() + 1_000);
      const recent = await archiveOne();
      const now = await dbNow(s.store);
      // Older than the recent row's age plus half a second: only the row a second older qualifies.
      const olderThanMs = now - recent.finishedAt.getTime() + 500;
      assert.equal(await s.store.prune({ olderThanMs, limit: 10 }), 1);
      assert.deepEqual(
        (await allArchived(s.store)).map((a) => a.id),
        [recent.id],
      );
      assert.equal(await s.store.prune({ olderThanMs: 3_600_000, limit: 10 }), 0);
      assert.equal((await allArchived(s.store)).length, 1);
    });
  });
}
