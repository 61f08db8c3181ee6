import assert from 'node:assert/strict';
import { encodePayload } from 'bus-core';
import type { SuiteContext } from './context.js';
import {
  allArchived,
  allLive,
  archived,
  archivedAs,
  assertWithin,
  claimFor,
  hasSecondSession,
  held,
  inSecondSession,
  insert,
  LONG_LEASE,
  numericOrder,
  row,
  sorted,
  timed,
} from './support.js';

/**
 * `admin.cancel`: live rows by ids and/or filter, leased or not, lowest ids first up to `limit`,
 * archived as `cancelled` with the reason (or dropped), in the caller's transaction, skipping
 * rows another transaction holds; the holder's fence is broken.
 */
export function cancelTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('admin.cancel', () => {
    it('removes rows by id, leased or not, and archives them as cancelled with the reason, finished at now', async () => {
      const payload = encodePayload({ keep: 'me' });
      const [waiting, later] = await insert(s.store, [
        row({ payload, eventName: 'c.e', handlerName: 'c.h', maxRetries: 4, priority: -2 }),
        row({ due: 3_600_000 }),
      ]);
      const running = await held(s.store, { queue: 'c-run' });
      const missing = String(BigInt(running.id) + 1_000_000n);
      const { result, before, after } = await timed(s.store, () =>
        s.store.admin.cancel({
          ids: [waiting!, later!, running.id, missing],
          limit: 1000,
          archive: true,
          reason: 'bad batch',
        }),
      );
      assert.deepEqual(sorted(result), sorted([waiting!, later!, running.id]), 'the missing id is left out');
      assert.deepEqual(await allLive(s.store), []);
      const a = await archived(s.store, waiting!);
      assert.deepEqual(
        [a?.status, a?.lastError, a?.eventName, a?.handlerName, a?.maxRetries, a?.priority, a?.attempts],
        ['cancelled', 'bad batch', 'c.e', 'c.h', 4, -2, 0],
      );
      assert.ok(a && Buffer.from(a.payload).equals(Buffer.from(payload)), 'payload kept');
      assertWithin(a?.finishedAt, before, after, 'finishedAt');
      const r = await archived(s.store, running.id);
      assert.deepEqual([r?.status, r?.attempts, r?.lastError], ['cancelled', 1, 'bad batch']);
      const counts = await s.store.inspect.countByQueue();
      assert.deepEqual(
        counts.map((c) => [c.queue, c.archivedCancelled, c.archivedFailed, c.running]),
        [
          ['c-run', 1, 0, 0],
          ['q', 2, 0, 0],
        ],
      );
    });

    it('without archive the rows are only removed', async () => {
      const ids = await insert(s.store, [row(), row()]);
      const result = await s.store.admin.cancel({ ids, limit: 10, archive: false, reason: 'drop' });
      assert.deepEqual(sorted(result), sorted(ids));
      assert.deepEqual(await allLive(s.store), []);
      assert.deepEqual(await allArchived(s.store), []);
    });

    it('a cancelled row breaks its holder fence: checkLeases, extendLeases, settle and release leave it out', async () => {
      const c = await held(s.store);
      await s.store.admin.cancel({ ids: [c.id], limit: 1, archive: true, reason: 'stop it' });
      const events = [{ id: c.id, attempt: c.attempts }];
      assert.deepEqual(await s.store.checkLeases({ workerId: 'w', events }), []);
      assert.deepEqual(await s.store.extendLeases({ workerId: 'w', events, leaseMs: LONG_LEASE }), []);
      assert.deepEqual(await s.store.release({ workerId: 'w', events }), []);
      assert.deepEqual(
        await s.store.settle({
          workerId: 'w',
          outcomes: [{ kind: 'completed', id: c.id, attempt: c.attempts, archive: true }],
        }),
        { settled: [] },
        'a late completion is refused',
      );
      const a = await archived(s.store, c.id);
      assert.deepEqual([a?.status, a?.lastError], ['cancelled', 'stop it'], 'the archive keeps the cancel');
      assert.deepEqual(await allLive(s.store), []);
    });

    it('by filter: queue, eventName, handlerName and errorContains each narrow the match', async () => {
      const ids = await insert(s.store, [
        row({ queue: 'cf-a', eventName: 'e.one', handlerName: 'h.one' }),
        row({ queue: 'cf-a', eventName: 'e.two', handlerName: 'h.one' }),
        row({ queue: 'cf-a', eventName: 'e.one', handlerName: 'h.two' }),
        row({ queue: 'cf-b', eventName: 'e.one', handlerName: 'h.one' }),
      ]);
      const cancel = (filter: object) =>
        s.store.admin.cancel({ filter, limit: 1000, archive: false, reason: 'f' });
      assert.deepEqual(await cancel({ queue: 'cf-a', eventName: 'e.one', handlerName: 'h.two' }), [ids[2]]);
      assert.deepEqual(await cancel({ queue: 'cf-a', eventName: 'E.ONE' }), [], 'names are exact');
      assert.deepEqual(await cancel({ queue: 'cf-a', eventName: 'e.two' }), [ids[1]]);
      assert.deepEqual(await cancel({ handlerName: 'h.one' }), numericOrder([ids[0]!, ids[3]!]));
      assert.deepEqual(await allLive(s.store), []);

      // errorContains: plain text; a row without an error never matches.
      const failing = await held(s.store, { queue: 'cf-err' });
      await s.store.settle({
        workerId: 'w',
        outcomes: [{ kind: 'retry', id: failing.id, attempt: 1, delayMs: 0, error: 'timeout 100%_done' }],
      });
      const [clean] = await insert(s.store, [row({ queue: 'cf-err' })]);
      assert.deepEqual(await cancel({ errorContains: '100_%' }), [], '% and _ are not wildcards');
      assert.deepEqual(await cancel({ errorContains: 'Timeout' }), [], 'case-sensitive');
      assert.deepEqual(await cancel({ errorContains: '0%_d' }), [failing.id]);
      assert.deepEqual(
        (await allLive(s.store)).map((r) => r.id),
        [clean],
      );
    });

    it('by state: available, scheduled and running are judged by the database clock', async () => {
      const [available, scheduled] = await insert(s.store, [
        row({ queue: 'cs' }),
        row({ queue: 'cs', due: 3_600_000 }),
      ]);
      const [running] = await insert(s.store, [row({ queue: 'cs', handlerName: 'cs.run' })]);
      await claimFor(s.store, {
        queue: 'cs',
        limit: 1,
        workerId: 'w',
        leaseMs: LONG_LEASE,
        handlers: ['cs.run'],
      });
      const cancel = (state: string) =>
        s.store.admin.cancel({
          filter: { queue: 'cs', state: state as 'available' },
          limit: 10,
          archive: false,
          reason: 's',
        });
      assert.deepEqual(await cancel('scheduled'), [scheduled]);
      assert.deepEqual(await cancel('running'), [running]);
      assert.deepEqual(await cancel('available'), [available]);
      assert.deepEqual(await allLive(s.store), []);
    });

    it('ids and a filter together must both match; limit takes the lowest ids first', async () => {
      const ids = await insert(
        s.store,
        Array.from({ length: 10 }, (_, n) => row({ queue: n % 2 === 0 ? 'even' : 'odd', priority: -n })),
      );
      const even = ids.filter((_, n) => n % 2 === 0);
      assert.deepEqual(
        await s.store.admin.cancel({
          ids: [ids[1]!, ids[2]!, ids[4]!],
          filter: { queue: 'even' },
          limit: 10,
          archive: false,
          reason: 'x',
        }),
        [ids[2], ids[4]],
      );
      const first = await s.store.admin.cancel({
        filter: { queue: 'even' },
        limit: 2,
        archive: false,
        reason: 'x',
      });
      assert.deepEqual(first, [even[0], even[3]], 'lowest ids first, not priority order');
      assert.deepEqual(
        await s.store.admin.cancel({ filter: { queue: 'even' }, limit: 2, archive: false, reason: 'x' }),
        [even[4]],
      );
      assert.equal((await allLive(s.store, 'odd')).length, 5);
    });

    it('in a transaction: commits with it, and a rollback cancels nothing', async () => {
      const ids = await insert(s.store, [row(), row(), row()]);
      const error = await s.store
        .transaction(async (tx) => {
          const got = await s.store.admin.cancel({ ids, limit: 10, archive: true, reason: 'r', tx });
          assert.deepEqual(sorted(got), sorted(ids));
          throw new Error('roll back');
        })
        .catch((e: unknown) => e);
      assert.equal((error as Error).message, 'roll back');
      assert.deepEqual(
        (await allLive(s.store)).map((r) => r.id),
        ids,
      );
      assert.deepEqual(await allArchived(s.store), []);

      const done = await s.store.transaction(async (tx) => {
        const first = await s.store.admin.cancel({
          filter: { queue: 'q' },
          limit: 2,
          archive: true,
          reason: 'r',
          tx,
        });
        // The transaction sees its own cancel: the next call takes the rest.
        const rest = await s.store.admin.cancel({
          filter: { queue: 'q' },
          limit: 2,
          archive: true,
          reason: 'r',
          tx,
        });
        return [...first, ...rest];
      });
      assert.deepEqual(done, ids);
      assert.deepEqual(await allLive(s.store), []);
      assert.deepEqual(
        (await allArchived(s.store)).map((r) => r.status),
        ['cancelled', 'cancelled', 'cancelled'],
      );
    });

    if (hasSecondSession(s.target)) {
      it('skips rows another transaction holds instead of waiting for them', async () => {
        const ids = await insert(s.store, [row(), row(), row()]);
        let outside: string[] = [];
        await s.store.transaction(async (tx) => {
          assert.deepEqual(
            await s.store.admin.cancel({ ids: [ids[0]!], limit: 1, archive: true, reason: 'tx', tx }),
            [ids[0]],
          );
          outside = await inSecondSession(() =>
            s.store.admin.cancel({ filter: { queue: 'q' }, limit: 10, archive: true, reason: 'out' }),
          );
        });
        assert.deepEqual(outside, [ids[1], ids[2]]);
        assert.deepEqual(
          (await allArchived(s.store)).map((r) => [r.id, r.lastError]),
          [
            [ids[0], 'tx'],
            [ids[1], 'out'],
            [ids[2], 'out'],
          ],
        );
      });
    }

    it('an archived row is not live: cancelling its id matches nothing', async () => {
      const id = await archivedAs(s.store, 'failed');
      assert.deepEqual(await s.store.admin.cancel({ ids: [id], limit: 1, archive: true, reason: 'x' }), []);
      assert.equal((await archived(s.store, id))?.status, 'failed');
    });

    it('2,500 rows by filter in limit-sized calls, each row once', async () => {
      const ids = await insert(
        s.store,
        Array.from({ length: 2_500 }, () => row({ queue: 'bulk' })),
      );
      const got: string[] = [];
      for (;;) {
        const batch = await s.store.admin.cancel({
          filter: { queue: 'bulk' },
          limit: 1000,
          archive: true,
          reason: 'bulk',
        });
        got.push(...batch);
        if (batch.length < 1000) break;
      }
      assert.equal(got.length, 2_500);
      assert.deepEqual(got, numericOrder(ids));
      assert.equal((await s.store.inspect.countByQueue())[0]?.archivedCancelled, 2_500);
    });
  });
}
