import assert from 'node:assert/strict';
import { encodePayload } from 'bus-core';
import type { SuiteContext } from './context.js';
import {
  allArchived,
  allLive,
  archived,
  archivedAs,
  assertBytes,
  assertSameInstant,
  assertWithin,
  claim,
  hasSecondSession,
  inSecondSession,
  live,
  numericOrder,
  sorted,
  timed,
} from './support.js';

/**
 * `admin.redrive`: archived rows of the given statuses back into the hot table under their own
 * ids, with every setting kept, attempts and snoozes 0, due now, the last error kept.
 */
export function redriveTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('admin.redrive', () => {
    it('moves a failed row back under its id, keeping its settings, attempts 0, due now, last error kept', async () => {
      const payload = encodePayload({ again: true });
      const id = await archivedAs(
        s.store,
        'failed',
        {
          queue: 'rd',
          eventName: 'rd.e',
          handlerName: 'rd.h',
          payload,
          maxRetries: 7,
          priority: -4,
          traceContext: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        },
        'it broke',
      );
      const before = (await archived(s.store, id))!;
      const {
        result,
        before: t0,
        after: t1,
      } = await timed(s.store, () =>
        s.store.admin.redrive({ ids: [id], statuses: ['failed', 'cancelled'], limit: 10 }),
      );
      assert.deepEqual(result, [id]);
      assert.equal(await archived(s.store, id), undefined, 'gone from the archive');
      const r = await live(s.store, id);
      assert.ok(r, 'live again under the same id');
      assert.deepEqual(
        [r.queue, r.eventName, r.handlerName, r.maxRetries, r.priority, r.attempts, r.snoozes],
        ['rd', 'rd.e', 'rd.h', 7, -4, 0, 0],
      );
      assert.deepEqual([r.lockedBy, r.lockedUntil, r.lastError], [null, null, 'it broke']);
      assert.equal(r.traceContext, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      assertBytes(r.payload, payload, 'payload');
      assertSameInstant(r.createdAt, before.createdAt, 'createdAt kept');
      assertWithin(r.scheduledAt, t0, t1, 'due at now');
      const [again] = await claim(s.store, 'rd');
      assert.deepEqual([again?.id, again?.attempts, again?.snoozes], [id, 1, 0], 'claimable, fresh attempts');
    });

    it('takes only the given statuses: completed rows stay unless named', async () => {
      const failed = await archivedAs(s.store, 'failed');
      const cancelled = await archivedAs(s.store, 'cancelled');
      const completed = await archivedAs(s.store, 'completed');
      assert.deepEqual(
        await s.store.admin.redrive({
          ids: [failed, cancelled, completed],
          statuses: ['cancelled'],
          limit: 10,
        }),
        [cancelled],
      );
      assert.deepEqual(
        await s.store.admin.redrive({ filter: { queue: 'q' }, statuses: ['failed'], limit: 10 }),
        [failed],
      );
      assert.deepEqual(
        (await allArchived(s.store)).map((r) => [r.id, r.status]),
        [[completed, 'completed']],
      );
      assert.deepEqual(
        await s.store.admin.redrive({ ids: [completed], statuses: ['completed'], limit: 10 }),
        [completed],
      );
      assert.deepEqual(
        (await allLive(s.store)).map((r) => r.id),
        numericOrder([failed, cancelled, completed]),
      );
    });

    it('by filter (queue, names, errorContains), lowest ids first up to limit; unknown ids and live rows match nothing', async () => {
      const a = await archivedAs(s.store, 'failed', { queue: 'rf', handlerName: 'h.a' }, 'quota 50%_used');
      const b = await archivedAs(s.store, 'failed', { queue: 'rf', handlerName: 'h.b' }, 'timeout');
      const c = await archivedAs(s.store, 'failed', { queue: 'rf', handlerName: 'h.a' }, 'timeout');
      const d = await archivedAs(s.store, 'failed', { queue: 'other', handlerName: 'h.a' }, 'timeout');
      const redrive = (filter: object, limit = 10) =>
        s.store.admin.redrive({ filter, statuses: ['failed'], limit });
      assert.deepEqual(await redrive({ errorContains: '50_%' }), [], '% and _ are not wildcards');
      assert.deepEqual(await redrive({ errorContains: '%_u' }), [a]);
      assert.deepEqual(await redrive({ queue: 'rf', handlerName: 'h.a' }), [c]);
      assert.deepEqual(await redrive({ eventName: 'test.event' }, 1), [b]);
      assert.deepEqual(
        await s.store.admin.redrive({
          ids: [a, String(BigInt(d) + 1_000_000n)],
          statuses: ['failed'],
          limit: 10,
        }),
        [],
        'a live row and a missing id match nothing',
      );
      assert.deepEqual(
        (await allArchived(s.store)).map((r) => r.id),
        [d],
      );
    });

    it('in a transaction: a rollback leaves the archive as it was', async () => {
      const id = await archivedAs(s.store, 'failed');
      await s.store
        .transaction(async (tx) => {
          assert.deepEqual(await s.store.admin.redrive({ ids: [id], statuses: ['failed'], limit: 1, tx }), [
            id,
          ]);
          throw new Error('roll back');
        })
        .catch(() => undefined);
      assert.equal((await archived(s.store, id))?.status, 'failed');
      assert.deepEqual(await allLive(s.store), []);
      await s.store.transaction(async (tx) => {
        assert.deepEqual(await s.store.admin.redrive({ ids: [id], statuses: ['failed'], limit: 1, tx }), [
          id,
        ]);
        assert.deepEqual(
          await s.store.admin.redrive({ ids: [id], statuses: ['failed'], limit: 1, tx }),
          [],
          'the transaction sees its own move',
        );
      });
      assert.equal((await live(s.store, id))?.attempts, 0);
    });

    if (hasSecondSession(s.target)) {
      it('skips archived rows another transaction holds', async () => {
        const a = await archivedAs(s.store, 'failed');
        const b = await archivedAs(s.store, 'failed');
        let outside: string[] = [];
        await s.store.transaction(async (tx) => {
          await s.store.admin.redrive({ ids: [a], statuses: ['failed'], limit: 1, tx });
          outside = await inSecondSession(() =>
            s.store.admin.redrive({ filter: { queue: 'q' }, statuses: ['failed'], limit: 10 }),
          );
        });
        assert.deepEqual(outside, [b]);
        assert.deepEqual(sorted((await allLive(s.store)).map((r) => r.id)), sorted([a, b]));
      });
    }

    it('1,200 failed rows in limit-sized calls: each comes back once', async () => {
      const rows = await s.store.insert({
        rows: Array.from({ length: 1_200 }, () => ({
          queue: 'rbulk',
          eventName: 'test.event',
          handlerName: 'test.handler',
          payload: encodePayload(1),
          maxRetries: 0,
          priority: 0,
          due: 0,
        })),
      });
      const claimed = await claim(s.store, 'rbulk', 'w', 600_000, 1000);
      const claimed2 = await claim(s.store, 'rbulk', 'w', 600_000, 1000);
      const all = [...claimed, ...claimed2];
      assert.equal(all.length, 1_200);
      for (const part of [all.slice(0, 1000), all.slice(1000)]) {
        await s.store.settle({
          workerId: 'w',
          outcomes: part.map((c) => ({
            kind: 'failed',
            id: c.id,
            attempt: c.attempts,
            archive: true,
            error: 'e',
          })),
        });
      }
      const got: string[] = [];
      for (;;) {
        const batch = await s.store.admin.redrive({
          filter: { queue: 'rbulk' },
          statuses: ['failed'],
          limit: 1000,
        });
        got.push(...batch);
        if (batch.length < 1000) break;
      }
      assert.deepEqual(got, numericOrder(rows));
      assert.equal((await allLive(s.store, 'rbulk')).length, 1_200);
      assert.deepEqual(await allArchived(s.store, 'rbulk'), []);
    });
  });
}
