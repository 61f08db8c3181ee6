import assert from 'node:assert/strict';
import { decodePayload, encodePayload } from 'bus-core';
import type { SuiteContext } from './context.js';
import {
  assertBytes,
  assertWithin,
  claim,
  claimFor,
  dbNow,
  insert,
  LONG_LEASE,
  live,
  row,
  sorted,
  timed,
  untilExpired,
} from './support.js';

/** `claim`: due and unleased rows only, in (priority, scheduledAt, id) order, leased, counted, exclusive. */
export function claimTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('claim', () => {
    it('takes at most `limit` due rows, leases them to the worker and counts the attempt', async () => {
      const rows = Array.from({ length: 5 }, (_, n) =>
        row({
          payload: encodePayload({ n }),
          eventName: 'claim.event',
          handlerName: 'claim.handler',
          maxRetries: 3,
        }),
      );
      const ids = await insert(s.store, rows);
      const {
        result: claimed,
        before,
        after,
      } = await timed(s.store, () =>
        claimFor(s.store, { queue: 'q', limit: 3, workerId: 'w1', leaseMs: 60_000 }),
      );
      assert.deepEqual(
        claimed.map((c) => c.id),
        ids.slice(0, 3),
      );
      for (const [n, c] of claimed.entries()) {
        assert.deepEqual(
          [c.queue, c.eventName, c.handlerName, c.attempts, c.maxRetries, c.priority],
          ['q', 'claim.event', 'claim.handler', 1, 3, 0],
        );
        assertBytes(c.payload, rows[n]!.payload, `payload of ${c.id}`);
        assert.deepEqual(decodePayload(c.payload), { n });
        assert.equal(c.createdAt.toISOString(), (await live(s.store, c.id))?.createdAt.toISOString());
        const stored = await live(s.store, c.id);
        assert.equal(stored?.lockedBy, 'w1');
        assert.equal(stored?.attempts, 1);
        assertWithin(stored?.lockedUntil, before + 60_000, after + 60_000, `lease end of ${c.id}`);
      }
      const rest = await claim(s.store, 'q', 'w2');
      assert.deepEqual(
        rest.map((c) => c.id),
        ids.slice(3),
      );
      assert.deepEqual(await claim(s.store, 'q', 'w3'), []);
    });

    it('orders by priority, then due time, then id', async () => {
      const now = await dbNow(s.store);
      const past = new Date(now - 60_000);
      const older = new Date(now - 120_000);
      const [p5, p0late, p0early, pNeg, p0late2, pMin, pMax] = await insert(s.store, [
        row({ priority: 5 }),
        row({ priority: 0, due: past }),
        row({ priority: 0, due: older }),
        row({ priority: -1 }),
        row({ priority: 0, due: past }),
        row({ priority: -(2 ** 31) }),
        row({ priority: 2 ** 31 - 1 }),
      ]);
      const claimed = await claim(s.store, 'q');
      assert.deepEqual(
        claimed.map((c) => c.id),
        [pMin, pNeg, p0early, p0late, p0late2, p5, pMax],
      );
      assert.deepEqual(
        claimed.map((c) => c.priority),
        [-(2 ** 31), -1, 0, 0, 0, 5, 2 ** 31 - 1],
      );
    });

    it('orders in batches too: each claim takes the next rows in order', async () => {
      const ids = await insert(
        s.store,
        Array.from({ length: 9 }, (_, n) => row({ priority: 2 - (n % 3) })),
      );
      const got: string[] = [];
      for (let i = 0; i < 3; i++)
        got.push(...(await claim(s.store, 'q', 'w', LONG_LEASE, 3)).map((c) => c.id));
      // Priority 0 (n % 3 === 2) first, then 1, then 2; ids ascending within a priority.
      const byPriority = [2, 1, 0].flatMap((r) => ids.filter((_, n) => n % 3 === r));
      assert.deepEqual(got, byPriority);
    });

    it('skips rows not due yet, rows of other queues and leased rows, including ones whose lease ran out', async () => {
      const now = await dbNow(s.store);
      const [due, , , duePast, , expiring] = await insert(s.store, [
        row(),
        row({ due: 60_000 }),
        row({ due: new Date(now + 3_600_000) }),
        row({ due: new Date(now - 1000) }),
        row({ queue: 'other' }),
        row({ queue: 'lapsing' }),
      ]);
      await claimFor(s.store, { queue: 'lapsing', limit: 1, workerId: 'gone', leaseMs: 1 });
      await untilExpired(s.store, 'lapsing', [expiring!]);
      const claimed = await claim(s.store, 'q');
      assert.deepEqual(sorted(claimed.map((c) => c.id)), sorted([due!, duePast!]));
      assert.deepEqual(await claim(s.store, 'q'), [], 'leased rows are not claimed again');
      assert.deepEqual(
        await claim(s.store, 'lapsing'),
        [],
        'a lease past its end still holds the row until rescue takes it',
      );
      assert.equal((await live(s.store, expiring!))?.lockedBy, 'gone');
    });

    it('concurrent claims never return the same row', async () => {
      const ids = await insert(
        s.store,
        Array.from({ length: 200 }, () => row()),
      );
      const seen = new Map<string, string>();
      await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (;;) {
            const got = await claimFor(s.store, {
              queue: 'q',
              limit: 7,
              workerId: `w${w}`,
              leaseMs: LONG_LEASE,
            });
            if (got.length === 0) return;
            for (const c of got) {
              assert.ok(!seen.has(c.id), `row ${c.id} claimed by ${seen.get(c.id)} and w${w}`);
              seen.set(c.id, `w${w}`);
            }
          }
        }),
      );
      assert.deepEqual(sorted([...seen.keys()]), sorted(ids));
      for (const r of await s.store.inspect.listEvents({ limit: 1000 })) {
        assert.equal(r.lockedBy, seen.get(r.id), `holder of ${r.id}`);
        assert.equal(r.attempts, 1);
      }
    });

    it('counts every claim: a row retried and claimed again is at attempt 2', async () => {
      const [id] = await insert(s.store, [row({ maxRetries: 3 })]);
      const [first] = await claim(s.store, 'q', 'w1');
      assert.equal(first?.attempts, 1);
      await s.store.settle({
        workerId: 'w1',
        outcomes: [{ kind: 'retry', id: id!, attempt: 1, delayMs: 0, error: 'again' }],
      });
      const [second] = await claim(s.store, 'q', 'w2');
      assert.deepEqual([second?.id, second?.attempts], [id, 2]);
    });

    it('takes a lease of 1 ms (any integer the core passes)', async () => {
      const [id] = await insert(s.store, [row()]);
      const { before, after } = await timed(s.store, () =>
        claimFor(s.store, { queue: 'q', limit: 1, workerId: 'w', leaseMs: 1 }),
      );
      assertWithin((await live(s.store, id!))?.lockedUntil, before + 1, after + 1, 'a 1 ms lease');
    });

    it('an empty queue gives an empty list', async () => {
      assert.deepEqual(await claim(s.store, 'nothing-here'), []);
    });
  });
}

/** `claim`'s handler filter: only rows of the given handlers; others are not leased and keep their attempts. */
export function claimByHandlerTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('claim by handler names', () => {
    it('takes only rows whose handler is one of `handlers`, exactly; the rest keep their attempts', async () => {
      const ids = await insert(s.store, [
        row({ handlerName: 'h.a' }),
        row({ handlerName: 'h.b' }),
        row({ handlerName: 'h.c' }),
        row({ handlerName: 'h.a', priority: -1 }),
        row({ handlerName: 'H.A' }),
      ]);
      const got = await s.store.claim({
        queue: 'q',
        limit: 10,
        workerId: 'w',
        leaseMs: LONG_LEASE,
        handlers: ['h.a', 'h.c'],
      });
      assert.deepEqual(
        got.map((c) => c.id),
        [ids[3], ids[0], ids[2]],
        'in (priority, due, id) order among the named handlers',
      );
      for (const id of [ids[1]!, ids[4]!]) {
        const r = await live(s.store, id);
        assert.deepEqual([r?.attempts, r?.lockedBy, r?.lockedUntil], [0, null, null], `row ${id} left alone`);
      }
      const none = await s.store.claim({
        queue: 'q',
        limit: 10,
        workerId: 'w',
        leaseMs: LONG_LEASE,
        handlers: ['h.missing', 'h.a '],
      });
      assert.deepEqual(none, [], 'no row has these handlers (a trailing space is another name)');
      const rest = await s.store.claim({
        queue: 'q',
        limit: 10,
        workerId: 'w',
        leaseMs: LONG_LEASE,
        handlers: ['H.A', 'h.b'],
      });
      assert.deepEqual(
        rest.map((c) => c.id),
        [ids[1], ids[4]],
      );
    });

    it('returns snoozes with each row (0 when never snoozed)', async () => {
      await insert(s.store, [row()]);
      const [c] = await claim(s.store, 'q');
      assert.equal(c?.snoozes, 0);
    });
  });
}
