import assert from 'node:assert/strict';
import type { SuiteContext } from './context.js';
import { assertSameInstant, assertWithin, claim, held, insert, live, row, sorted, timed } from './support.js';

/** `admin.runNow`: unleased live rows due now (a row due already keeps its time); leased and missing rows left out. */
export function runNowTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('admin.runNow', () => {
    it('makes scheduled rows due now, leaves due and leased rows as they are, and reports the unleased live ones', async () => {
      const [later, due] = await insert(s.store, [row({ due: 3_600_000 }), row({})]);
      const dueAt = (await live(s.store, due!))!.scheduledAt;
      const leased = await held(s.store, { queue: 'rn-run', due: 0 });
      const leasedRow = (await live(s.store, leased.id))!;
      const missing = String(BigInt(leased.id) + 1_000_000n);
      const { result, before, after } = await timed(s.store, () =>
        s.store.admin.runNow({ ids: [later!, due!, leased.id, missing] }),
      );
      assert.deepEqual(sorted(result), sorted([later!, due!]));
      assertWithin((await live(s.store, later!))?.scheduledAt, before, after, 'the scheduled row is due now');
      assertSameInstant((await live(s.store, due!))?.scheduledAt, dueAt, 'a due row keeps its time');
      const stillLeased = await live(s.store, leased.id);
      assert.deepEqual(
        [stillLeased?.lockedBy, stillLeased?.attempts],
        ['w', 1],
        'a leased row is not touched',
      );
      assertSameInstant(stillLeased?.scheduledAt, leasedRow.scheduledAt, 'leased row time');
      assert.deepEqual(sorted((await claim(s.store, 'q')).map((c) => c.id)), sorted([later!, due!]));
    });

    it('in a transaction: a rollback leaves the row scheduled', async () => {
      const [later] = await insert(s.store, [row({ due: 3_600_000 })]);
      const at = (await live(s.store, later!))!.scheduledAt;
      await s.store
        .transaction(async (tx) => {
          assert.deepEqual(await s.store.admin.runNow({ ids: [later!], tx }), [later]);
          throw new Error('roll back');
        })
        .catch(() => undefined);
      assertSameInstant((await live(s.store, later!))?.scheduledAt, at, 'still scheduled');
      assert.deepEqual(await claim(s.store, 'q'), []);
    });
  });
}
