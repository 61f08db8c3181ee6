import assert from 'node:assert/strict';
import type { SuiteContext } from './context.js';
import {
  assertWithin,
  claim,
  dbNow,
  held,
  insert,
  live,
  row,
  sorted,
  timed,
  untilExpired,
} from './support.js';

/** `extendLeases` and `release`: the same fence as settle; the lease moved, or the row handed back uncounted. */
export function leaseTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('extendLeases', () => {
    it('moves the lease end to now + leaseMs for the rows the worker holds at that attempt', async () => {
      const a = await held(s.store, {}, 'w', 1000);
      const b = await held(s.store, {}, 'w', 1000);
      const { result, before, after } = await timed(s.store, () =>
        s.store.extendLeases({
          workerId: 'w',
          leaseMs: 60_000,
          events: [
            { id: a.id, attempt: 1 },
            { id: b.id, attempt: 1 },
          ],
        }),
      );
      assert.deepEqual(sorted(result), sorted([a.id, b.id]));
      for (const c of [a, b]) {
        assertWithin(
          (await live(s.store, c.id))?.lockedUntil,
          before + 60_000,
          after + 60_000,
          `lease of ${c.id}`,
        );
      }
      // Shorter works as well: the new end is now + leaseMs, not the later of the two.
      const short = await timed(s.store, () =>
        s.store.extendLeases({ workerId: 'w', leaseMs: 5_000, events: [{ id: a.id, attempt: 1 }] }),
      );
      assertWithin(
        (await live(s.store, a.id))?.lockedUntil,
        short.before + 5_000,
        short.after + 5_000,
        'shortened',
      );
    });

    it('refuses rows another worker holds, other attempts, unleased and missing rows', async () => {
      const c = await held(s.store, {}, 'w', 60_000);
      const lease = (await live(s.store, c.id))!.lockedUntil!.toISOString();
      const [unleased] = await insert(s.store, [row({ queue: 'idle' })]);
      const missing = String(BigInt(c.id) + 1_000_000n);
      const cases: [string, string, { id: string; attempt: number }][] = [
        ['another worker', 'x', { id: c.id, attempt: 1 }],
        ['another attempt', 'w', { id: c.id, attempt: 2 }],
        ['an unleased row', 'w', { id: unleased!, attempt: 0 }],
        ['a missing row', 'w', { id: missing, attempt: 1 }],
      ];
      for (const [what, workerId, event] of cases) {
        assert.deepEqual(
          await s.store.extendLeases({ workerId, leaseMs: 600_000, events: [event] }),
          [],
          what,
        );
      }
      assert.equal((await live(s.store, c.id))?.lockedUntil?.toISOString(), lease, 'the lease is unchanged');
      assert.equal((await live(s.store, unleased!))?.lockedUntil, null);
    });

    it('extends a lease already past its end (until rescue takes the row)', async () => {
      const c = await held(s.store, {}, 'w', 1);
      await untilExpired(s.store, 'q', [c.id]);
      const { result, before, after } = await timed(s.store, () =>
        s.store.extendLeases({ workerId: 'w', leaseMs: 60_000, events: [{ id: c.id, attempt: 1 }] }),
      );
      assert.deepEqual(result, [c.id]);
      assertWithin(
        (await live(s.store, c.id))?.lockedUntil,
        before + 60_000,
        after + 60_000,
        'renewed lease',
      );
      assert.deepEqual(await s.store.listExpired({ queues: ['q'], limit: 10 }), []);
    });
  });

  describe('release', () => {
    it('hands rows back as if never claimed: lease cleared, attempts = attempt - 1, due time kept', async () => {
      const due = new Date((await dbNow(s.store)) - 30_000);
      const [a, b] = await insert(s.store, [row({ due, maxRetries: 3 }), row({ due, maxRetries: 3 })]);
      await claim(s.store, 'q');
      assert.deepEqual(
        sorted(
          await s.store.release({
            workerId: 'w',
            events: [
              { id: a!, attempt: 1 },
              { id: b!, attempt: 1 },
            ],
          }),
        ),
        sorted([a!, b!]),
      );
      for (const id of [a!, b!]) {
        const r = await live(s.store, id);
        assert.deepEqual([r?.lockedBy, r?.lockedUntil, r?.attempts], [null, null, 0]);
        assert.equal(r?.scheduledAt.toISOString(), due.toISOString(), 'the due time did not change');
      }
      const again = await claim(s.store, 'q', 'w2');
      assert.deepEqual(
        again.map((c) => [c.id, c.attempts]),
        [
          [a, 1],
          [b, 1],
        ],
        'claimed again at attempt 1',
      );
    });

    it('sets attempts from the held attempt: a retried row released at attempt 2 is back at 1', async () => {
      const c = await held(s.store, { maxRetries: 3 });
      await s.store.settle({
        workerId: 'w',
        outcomes: [{ kind: 'retry', id: c.id, attempt: 1, delayMs: 0, error: 'once' }],
      });
      const [again] = await claim(s.store, 'q', 'w2');
      assert.equal(again?.attempts, 2);
      assert.deepEqual(await s.store.release({ workerId: 'w2', events: [{ id: c.id, attempt: 2 }] }), [c.id]);
      const r = await live(s.store, c.id);
      assert.deepEqual([r?.attempts, r?.lastError, r?.lockedBy], [1, 'once', null]);
    });

    it('refuses rows another worker holds, other attempts, unleased and missing rows', async () => {
      const c = await held(s.store);
      const [unleased] = await insert(s.store, [row({ queue: 'idle' })]);
      const missing = String(BigInt(c.id) + 1_000_000n);
      const cases: [string, string, { id: string; attempt: number }][] = [
        ['another worker', 'x', { id: c.id, attempt: 1 }],
        ['another attempt', 'w', { id: c.id, attempt: 2 }],
        ['an unleased row', 'w', { id: unleased!, attempt: 0 }],
        ['a missing row', 'w', { id: missing, attempt: 1 }],
      ];
      for (const [what, workerId, event] of cases) {
        assert.deepEqual(await s.store.release({ workerId, events: [event] }), [], what);
      }
      assert.deepEqual(
        [(await live(s.store, c.id))?.lockedBy, (await live(s.store, c.id))?.attempts],
        ['w', 1],
      );
      assert.equal((await live(s.store, unleased!))?.attempts, 0);
    });
  });
}

/** `checkLeases`: which held rows still pass the fence, changing nothing. */
export function checkLeaseTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('checkLeases', () => {
    it('returns the rows whose fence holds and changes nothing; an expired lease still counts', async () => {
      const a = await held(s.store, {}, 'w', 60_000);
      const b = await held(s.store, { queue: 'short' }, 'w', 1);
      await untilExpired(s.store, 'short', [b.id]);
      const before = await live(s.store, a.id);
      const [unleased] = await insert(s.store, [row({ queue: 'idle' })]);
      const missing = String(BigInt(a.id) + 1_000_000n);
      const got = await s.store.checkLeases({
        workerId: 'w',
        events: [
          { id: a.id, attempt: 1 },
          { id: b.id, attempt: 1 },
          { id: unleased!, attempt: 0 },
          { id: missing, attempt: 1 },
        ],
      });
      assert.deepEqual(sorted(got), sorted([a.id, b.id]));
      assert.deepEqual(await s.store.checkLeases({ workerId: 'x', events: [{ id: a.id, attempt: 1 }] }), []);
      assert.deepEqual(await s.store.checkLeases({ workerId: 'w', events: [{ id: a.id, attempt: 2 }] }), []);
      const after = await live(s.store, a.id);
      assert.deepEqual(
        [after?.lockedUntil?.getTime(), after?.attempts, after?.lockedBy],
        [before?.lockedUntil?.getTime(), 1, 'w'],
        'the lease is not extended',
      );
    });

    it('a row settled or cancelled is no longer held', async () => {
      const a = await held(s.store, {}, 'w', LONG_LEASE_MS);
      await s.store.settle({
        workerId: 'w',
        outcomes: [{ kind: 'completed', id: a.id, attempt: 1, archive: false }],
      });
      const b = await held(s.store, {}, 'w', LONG_LEASE_MS);
      await s.store.admin.cancel({ ids: [b.id], limit: 1, archive: true, reason: 'gone' });
      assert.deepEqual(
        await s.store.checkLeases({
          workerId: 'w',
          events: [
            { id: a.id, attempt: 1 },
            { id: b.id, attempt: 1 },
          ],
        }),
        [],
      );
    });
  });
}

const LONG_LEASE_MS = 600_000;
