import assert from 'node:assert/strict';
import type { RescueDecision } from 'bus-core/driver';
import type { SuiteContext } from './context.js';
import {
  allArchived,
  archived,
  assertWithin,
  claim,
  claimFor,
  held,
  insert,
  live,
  row,
  sorted,
  timed,
  untilExpired,
} from './support.js';

/** `listExpired` reads expired leases of given queues, oldest first; `rescue` applies decisions fenced like settle, lease still expired. */
export function rescueTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('listExpired', () => {
    it('lists rows of the given queues whose lease ended, oldest lease end first, and changes nothing', async () => {
      const [a, b, c] = await insert(s.store, [
        row({ queue: 'r1', eventName: 'e.a', handlerName: 'h.a', maxRetries: 4 }),
        row({ queue: 'r1', eventName: 'e.b', handlerName: 'h.b', maxRetries: 5 }),
        row({ queue: 'r2', eventName: 'e.c', handlerName: 'h.c', maxRetries: 6 }),
      ]);
      // Lease ends in the order b, c, a.
      await claimFor(s.store, { queue: 'r1', limit: 1, workerId: 'wa', leaseMs: 600 });
      await claimFor(s.store, { queue: 'r1', limit: 1, workerId: 'wb', leaseMs: 1 });
      await claimFor(s.store, { queue: 'r2', limit: 1, workerId: 'wc', leaseMs: 300 });
      await untilExpired(s.store, 'r1', [a!, b!]);
      await untilExpired(s.store, 'r2', [c!]);
      const expired = await s.store.listExpired({ queues: ['r1', 'r2'], limit: 10 });
      assert.deepEqual(expired, [
        {
          id: b,
          queue: 'r1',
          eventName: 'e.b',
          handlerName: 'h.b',
          attempts: 1,
          maxRetries: 5,
          workerId: 'wb',
        },
        {
          id: c,
          queue: 'r2',
          eventName: 'e.c',
          handlerName: 'h.c',
          attempts: 1,
          maxRetries: 6,
          workerId: 'wc',
        },
        {
          id: a,
          queue: 'r1',
          eventName: 'e.a',
          handlerName: 'h.a',
          attempts: 1,
          maxRetries: 4,
          workerId: 'wa',
        },
      ]);
      assert.deepEqual(
        (await s.store.listExpired({ queues: ['r1', 'r2'], limit: 2 })).map((e) => e.id),
        [b, c],
        'limit',
      );
      assert.deepEqual(
        (await s.store.listExpired({ queues: ['r1'], limit: 10 })).map((e) => e.id),
        [b, a],
        'only the given queues',
      );
      assert.deepEqual(await s.store.listExpired({ queues: ['r3'], limit: 10 }), []);
      for (const [id, holder] of [
        [a, 'wa'],
        [b, 'wb'],
        [c, 'wc'],
      ] as const) {
        const r = await live(s.store, id!);
        assert.deepEqual([r?.lockedBy, r?.attempts], [holder, 1], `${id} is still leased`);
      }
    });

    it('leaves out live leases and unleased rows', async () => {
      await held(s.store, {}, 'alive', 600_000);
      await insert(s.store, [row(), row({ due: 3_600_000 })]);
      const gone = await held(s.store, { queue: 'dead' }, 'dead', 1);
      await untilExpired(s.store, 'dead', [gone.id]);
      assert.deepEqual(await s.store.listExpired({ queues: ['q'], limit: 10 }), []);
      assert.deepEqual(
        (await s.store.listExpired({ queues: ['q', 'dead'], limit: 10 })).map((e) => e.id),
        [gone.id],
      );
    });
  });

  describe('rescue', () => {
    /** A row whose holder `workerId` let its lease run out. */
    async function expiredRow(workerId = 'dead', maxRetries = 3) {
      const c = await held(s.store, { maxRetries }, workerId, 1);
      await untilExpired(s.store, 'q', [c.id]);
      return c;
    }

    it('retry: due after the delay, lease cleared, error set, the lost attempt kept', async () => {
      const c = await expiredRow();
      const { result, before, after } = await timed(s.store, () =>
        s.store.rescue({
          decisions: [
            { kind: 'retry', id: c.id, attempt: 1, workerId: 'dead', delayMs: 0, error: 'lease expired' },
          ],
        }),
      );
      assert.deepEqual(result, [c.id]);
      const r = await live(s.store, c.id);
      assert.deepEqual(
        [r?.lockedBy, r?.lockedUntil, r?.lastError, r?.attempts],
        [null, null, 'lease expired', 1],
      );
      assertWithin(r?.scheduledAt, before, after, 'due at once');
      assert.deepEqual(
        (await claim(s.store, 'q', 'fresh')).map((x) => [x.id, x.attempts]),
        [[c.id, 2]],
      );
      // The stale holder's settle is refused now.
      assert.deepEqual(
        await s.store.settle({
          workerId: 'dead',
          outcomes: [{ kind: 'completed', id: c.id, attempt: 1, archive: true }],
        }),
        { settled: [] },
      );
    });

    it('retry with a delay: due later', async () => {
      const c = await expiredRow();
      const { before, after } = await timed(s.store, () =>
        s.store.rescue({
          decisions: [{ kind: 'retry', id: c.id, attempt: 1, workerId: 'dead', delayMs: 60_000, error: 'x' }],
        }),
      );
      assertWithin(
        (await live(s.store, c.id))?.scheduledAt,
        before + 60_000,
        after + 60_000,
        'due in a minute',
      );
      assert.deepEqual(await claim(s.store, 'q'), []);
    });

    it('failed: archived as failed with the decision’s error, or gone without archive', async () => {
      const a = await expiredRow('dead', 0);
      const b = await expiredRow('dead', 0);
      const { result, before, after } = await timed(s.store, () =>
        s.store.rescue({
          decisions: [
            { kind: 'failed', id: a.id, attempt: 1, workerId: 'dead', archive: true, error: 'exhausted' },
            { kind: 'failed', id: b.id, attempt: 1, workerId: 'dead', archive: false, error: 'exhausted' },
          ],
        }),
      );
      assert.deepEqual(sorted(result), sorted([a.id, b.id]));
      const x = await archived(s.store, a.id);
      assert.deepEqual([x?.status, x?.lastError, x?.attempts], ['failed', 'exhausted', 1]);
      assertWithin(x?.finishedAt, before, after, 'finishedAt');
      assert.equal(await live(s.store, a.id), undefined);
      assert.equal(await live(s.store, b.id), undefined);
      assert.equal(await archived(s.store, b.id), undefined);
    });

    it('refuses a decision whose fence fails: other holder, other attempt, a live lease, a released or settled row', async () => {
      const wrongHolder = await expiredRow('dead');
      const wrongAttempt = await expiredRow('dead');
      const released = await expiredRow('dead');
      const settled = await expiredRow('dead');
      const alive = await held(s.store, {}, 'alive', 600_000);
      await s.store.release({ workerId: 'dead', events: [{ id: released.id, attempt: 1 }] });
      await s.store.settle({
        workerId: 'dead',
        outcomes: [{ kind: 'completed', id: settled.id, attempt: 1, archive: true }],
      });
      const retry = (id: string, workerId: string, attempt: number): RescueDecision => ({
        kind: 'retry',
        id,
        attempt,
        workerId,
        delayMs: 0,
        error: 'rescued',
      });
      const cases: [string, RescueDecision][] = [
        ['another holder', retry(wrongHolder.id, 'someone', 1)],
        ['another attempt', retry(wrongAttempt.id, 'dead', 2)],
        ['a live lease', retry(alive.id, 'alive', 1)],
        ['a released row', retry(released.id, 'dead', 1)],
        ['a row already settled', retry(settled.id, 'dead', 1)],
      ];
      for (const [what, decision] of cases) {
        assert.deepEqual(await s.store.rescue({ decisions: [decision] }), [], what);
      }
      assert.equal((await live(s.store, wrongHolder.id))?.lockedBy, 'dead');
      assert.equal((await live(s.store, wrongAttempt.id))?.lockedBy, 'dead');
      assert.equal((await live(s.store, alive.id))?.lockedBy, 'alive');
      assert.equal((await live(s.store, released.id))?.lastError, null);
      assert.deepEqual(
        (await allArchived(s.store)).map((x) => [x.id, x.status, x.lastError]),
        [[settled.id, 'completed', null]],
      );
    });

    it('a holder that extended its lease after listExpired keeps the row', async () => {
      const c = await expiredRow('slow');
      const [expired] = await s.store.listExpired({ queues: ['q'], limit: 10 });
      assert.equal(expired?.id, c.id);
      assert.deepEqual(
        await s.store.extendLeases({
          workerId: 'slow',
          leaseMs: 600_000,
          events: [{ id: c.id, attempt: 1 }],
        }),
        [c.id],
      );
      assert.deepEqual(
        await s.store.rescue({
          decisions: [
            { kind: 'retry', id: c.id, attempt: 1, workerId: 'slow', delayMs: 0, error: 'too late' },
          ],
        }),
        [],
      );
      const r = await live(s.store, c.id);
      assert.deepEqual([r?.lockedBy, r?.lastError], ['slow', null]);
    });

    it('applies a mixed batch and returns only the ids applied', async () => {
      const a = await expiredRow('d1');
      const b = await expiredRow('d2', 0);
      const alive = await held(s.store, {}, 'alive', 600_000);
      const applied = await s.store.rescue({
        decisions: [
          { kind: 'retry', id: a.id, attempt: 1, workerId: 'd1', delayMs: 0, error: 'again' },
          { kind: 'failed', id: b.id, attempt: 1, workerId: 'd2', archive: true, error: 'done for' },
          { kind: 'retry', id: alive.id, attempt: 1, workerId: 'alive', delayMs: 0, error: 'no' },
        ],
      });
      assert.deepEqual(sorted(applied), sorted([a.id, b.id]));
      assert.equal((await live(s.store, a.id))?.lastError, 'again');
      assert.equal((await archived(s.store, b.id))?.status, 'failed');
      assert.equal((await live(s.store, alive.id))?.lastError, null);
    });
  });
}
