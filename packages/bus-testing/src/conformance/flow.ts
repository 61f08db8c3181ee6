import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { ClaimedEvent, ClaimParams, LimitsRow, StoredLimits } from 'bus-core/driver';
import type { SuiteContext } from './context.js';
import {
  allArchived,
  allLive,
  archived,
  assertWithin,
  claimFor,
  dbNow,
  insert,
  LONG_LEASE,
  live,
  row,
  sorted,
  timed,
  untilExpired,
  untilPast,
} from './support.js';

/** No limit at all: each test sets the ones it is about. */
const NO_LIMITS: StoredLimits = Object.freeze({
  concurrency: null,
  keyConcurrency: null,
  rateLimit: null,
  ratePeriodMs: null,
  keyRateLimit: null,
  keyRatePeriodMs: null,
  fair: false,
});

/** Stored limits: `NO_LIMITS` with `over` set. */
function limits(over: Partial<StoredLimits>): StoredLimits {
  return { ...NO_LIMITS, ...over };
}

/** A row of `queue` with partition key `key` (`null`: none); `over` sets the rest. */
function keyedRow(queue: string, key: string | null, over: Parameters<typeof row>[0] = {}) {
  return row({ queue, ...(key === null ? {} : { partitionKey: key }), ...over });
}

/**
 * `admin.setLimits`, `inspect.listLimits`, the limited claim (`ClaimParams.limited`, every limit of
 * contract/flow.ts over the store's steps) and partition keys on rows. Every test uses queues of
 * its own, so what another test left in the limits or starts tables is not its business.
 */
export function flowTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  /** The stored limits of the given queues (another test's rows left out). */
  const limitsOf = async (...queues: string[]): Promise<LimitsRow[]> =>
    (await s.store.inspect.listLimits()).filter((l) => queues.includes(l.queue));

  /** A limited claim (`limited: true`) of up to `limit` rows of `queue`, of every handler unless given. */
  const limited = (
    queue: string,
    limit: number,
    over: Partial<Omit<ClaimParams, 'queue' | 'limit'>> = {},
  ): Promise<ClaimedEvent[]> =>
    claimFor(s.store, { queue, limit, workerId: 'w', leaseMs: LONG_LEASE, limited: true, ...over });

  /** Completes `rows` (held by `workerId`) without archiving them. */
  const complete = async (rows: readonly ClaimedEvent[], workerId = 'w'): Promise<void> => {
    const { settled } = await s.store.settle({
      workerId,
      outcomes: rows.map((c) => ({
        kind: 'completed' as const,
        id: c.id,
        attempt: c.attempts,
        archive: false,
      })),
    });
    assert.deepEqual(sorted(settled), sorted(rows.map((c) => c.id)), 'every row settled');
  };

  const ids = (rows: readonly ClaimedEvent[]): string[] => rows.map((c) => c.id);

  describe('admin.setLimits / inspect.listLimits', () => {
    it('lists every queue with limits in queue order: the numbers as numbers, `fair` a boolean, `updatedAt` the write time', async () => {
      const b = limits({ concurrency: 1_000_000, rateLimit: 50, ratePeriodMs: 86_400_000, fair: true });
      const a = limits({ keyConcurrency: 1, keyRateLimit: 2, keyRatePeriodMs: 1 });
      const c = limits({});
      const { result, before, after } = await timed(s.store, async () => [
        await s.store.admin.setLimits({ queue: 'fl-list-b', limits: b }),
        await s.store.admin.setLimits({ queue: 'fl-list-a', limits: a }),
        await s.store.admin.setLimits({ queue: 'fl-list-c', limits: c }),
      ]);
      assert.deepEqual(result, [true, true, true], 'each write reports that it wrote');
      const listed = await limitsOf('fl-list-a', 'fl-list-b', 'fl-list-c');
      assert.deepEqual(
        listed.map(({ updatedAt: _u, ...rest }) => rest),
        [
          { queue: 'fl-list-a', ...a },
          { queue: 'fl-list-b', ...b },
          { queue: 'fl-list-c', ...c },
        ],
      );
      for (const l of listed) {
        for (const field of ['concurrency', 'keyConcurrency', 'rateLimit', 'ratePeriodMs'] as const) {
          assert.ok(
            l[field] === null || typeof l[field] === 'number',
            `${l.queue}.${field} is a number or null`,
          );
        }
        assert.equal(typeof l.fair, 'boolean', `${l.queue}.fair is a boolean`);
        assertWithin(l.updatedAt, before, after, `${l.queue}.updatedAt`);
      }
    });

    it('without a signature: always writes (returns true), replaces the values and updatedAt', async () => {
      assert.equal(
        await s.store.admin.setLimits({ queue: 'fl-nosig', limits: limits({ concurrency: 1 }) }),
        true,
      );
      const [first] = await limitsOf('fl-nosig');
      await untilPast(s.store, first!.updatedAt.getTime() + 5);
      const { result, before, after } = await timed(s.store, () =>
        s.store.admin.setLimits({ queue: 'fl-nosig', limits: limits({ concurrency: 1 }) }),
      );
      assert.equal(result, true, 'the same values again: written all the same');
      const [again] = await limitsOf('fl-nosig');
      assertWithin(again?.updatedAt, before, after, 'updatedAt of the second write');
      assert.equal(
        await s.store.admin.setLimits({
          queue: 'fl-nosig',
          limits: limits({ rateLimit: 4, ratePeriodMs: 1000 }),
        }),
        true,
      );
      const [last] = await limitsOf('fl-nosig');
      assert.deepEqual(
        [last?.concurrency, last?.rateLimit, last?.ratePeriodMs],
        [null, 4, 1000],
        'every value replaced',
      );
    });

    it("with a signature: writes only when the stored signature differs, so an operator's change outlives a restart with the same configuration", async () => {
      const config = limits({ concurrency: 2 });
      assert.equal(
        await s.store.admin.setLimits({ queue: 'fl-sig', limits: config, signature: 'v1:a' }),
        true,
        'new row',
      );
      const [first] = await limitsOf('fl-sig');
      await untilPast(s.store, first!.updatedAt.getTime() + 5);
      assert.equal(
        await s.store.admin.setLimits({ queue: 'fl-sig', limits: config, signature: 'v1:a' }),
        false,
        'the same signature: nothing written',
      );
      const [same] = await limitsOf('fl-sig');
      assert.equal(same?.updatedAt.getTime(), first?.updatedAt.getTime(), 'updatedAt unchanged');

      // An operator's change (no signature) keeps the stored signature...
      assert.equal(
        await s.store.admin.setLimits({ queue: 'fl-sig', limits: limits({ concurrency: 7 }) }),
        true,
      );
      // ...so a process starting with the same configuration leaves it alone,
      assert.equal(
        await s.store.admin.setLimits({ queue: 'fl-sig', limits: config, signature: 'v1:a' }),
        false,
      );
      assert.equal((await limitsOf('fl-sig'))[0]?.concurrency, 7, "the operator's change stays");
      // ...and one with a changed configuration wins.
      assert.equal(
        await s.store.admin.setLimits({
          queue: 'fl-sig',
          limits: limits({ concurrency: 3 }),
          signature: 'v1:b',
        }),
        true,
      );
      assert.equal((await limitsOf('fl-sig'))[0]?.concurrency, 3, 'the new configuration is stored');
      assert.equal(
        await s.store.admin.setLimits({
          queue: 'fl-sig',
          limits: limits({ concurrency: 3 }),
          signature: 'v1:b',
        }),
        false,
        'the new signature is stored with it',
      );
    });

    it('a row written without a signature takes the first one given', async () => {
      assert.equal(
        await s.store.admin.setLimits({ queue: 'fl-sig-null', limits: limits({ concurrency: 1 }) }),
        true,
      );
      assert.equal(
        await s.store.admin.setLimits({
          queue: 'fl-sig-null',
          limits: limits({ concurrency: 2 }),
          signature: 'v1:x',
        }),
        true,
        'no stored signature differs from any given one',
      );
      assert.equal((await limitsOf('fl-sig-null'))[0]?.concurrency, 2);
      assert.equal(
        await s.store.admin.setLimits({
          queue: 'fl-sig-null',
          limits: limits({ concurrency: 2 }),
          signature: 'v1:x',
        }),
        false,
      );
    });

    it('`limits: null` deletes the row and returns whether there was one; the signature goes with it', async () => {
      await s.store.admin.setLimits({
        queue: 'fl-del',
        limits: limits({ concurrency: 1 }),
        signature: 'v1:d',
      });
      await s.store.admin.setLimits({ queue: 'fl-del-other', limits: limits({ concurrency: 1 }) });
      assert.equal(await s.store.admin.setLimits({ queue: 'fl-del', limits: null }), true);
      assert.deepEqual(
        (await limitsOf('fl-del', 'fl-del-other')).map((l) => l.queue),
        ['fl-del-other'],
        'only that queue lost its row',
      );
      assert.equal(
        await s.store.admin.setLimits({ queue: 'fl-del', limits: null }),
        false,
        'nothing left to delete',
      );
      assert.equal(
        await s.store.admin.setLimits({
          queue: 'fl-del',
          limits: limits({ concurrency: 1 }),
          signature: 'v1:d',
        }),
        true,
        'a deleted row forgets its signature',
      );
    });

    it('in a transaction: a rolled-back setLimits leaves no trace, a committed one is stored', async () => {
      await s.store
        .transaction(async (tx) => {
          assert.equal(
            await s.store.admin.setLimits({ queue: 'fl-tx', limits: limits({ concurrency: 4 }), tx }),
            true,
          );
          throw new Error('roll back');
        })
        .catch(() => undefined);
      assert.deepEqual(await limitsOf('fl-tx'), []);
      await s.store.transaction(async (tx) => {
        await s.store.admin.setLimits({ queue: 'fl-tx', limits: limits({ concurrency: 5 }), tx });
      });
      assert.equal((await limitsOf('fl-tx'))[0]?.concurrency, 5);
      await s.store
        .transaction(async (tx) => {
          assert.equal(await s.store.admin.setLimits({ queue: 'fl-tx', limits: null, tx }), true);
          throw new Error('roll back');
        })
        .catch(() => undefined);
      assert.equal((await limitsOf('fl-tx'))[0]?.concurrency, 5, 'a rolled-back delete leaves the row');
    });

    it('takes queue names with quotes, wildcards and unicode as they are, compared exactly', async () => {
      const queue = `it's "q" %_ Grüße 🚀`;
      const shorter = `it's "q" %_ Grüße`;
      assert.equal(await s.store.admin.setLimits({ queue, limits: limits({ concurrency: 1 }) }), true);
      assert.equal(
        await s.store.admin.setLimits({ queue: shorter, limits: limits({ concurrency: 2 }) }),
        true,
      );
      assert.equal(
        await s.store.admin.setLimits({ queue: `${shorter} `, limits: limits({ concurrency: 3 }) }),
        true,
      );
      assert.equal(
        await s.store.admin.setLimits({ queue: 'FL-CASE', limits: limits({ concurrency: 4 }) }),
        true,
      );
      assert.equal(
        await s.store.admin.setLimits({ queue: 'fl-case', limits: limits({ concurrency: 5 }) }),
        true,
      );
      const mine = await limitsOf(queue, shorter, `${shorter} `, 'FL-CASE', 'fl-case');
      assert.deepEqual(
        new Map(mine.map((l) => [l.queue, l.concurrency])),
        new Map([
          [queue, 1],
          [shorter, 2],
          [`${shorter} `, 3],
          ['FL-CASE', 4],
          ['fl-case', 5],
        ]),
        'five queues: a trailing space or another case makes another name',
      );
    });
  });

  describe('claim with limits: the limits row', () => {
    it('a claim without `limited` ignores the limits row', async () => {
      await s.store.admin.setLimits({
        queue: 'fl-plain',
        limits: limits({ concurrency: 1, rateLimit: 1, ratePeriodMs: 60_000 }),
      });
      const rows = await insert(s.store, [
        row({ queue: 'fl-plain' }),
        row({ queue: 'fl-plain' }),
        row({ queue: 'fl-plain' }),
      ]);
      const claimed = await claimFor(s.store, {
        queue: 'fl-plain',
        limit: 10,
        workerId: 'w',
        leaseMs: LONG_LEASE,
      });
      assert.deepEqual(ids(claimed), rows);
    });

    it('a limited claim of a queue without a limits row claims as usual', async () => {
      const [p1, p0, p2] = await insert(s.store, [
        row({ queue: 'fl-none', priority: 1 }),
        row({ queue: 'fl-none', priority: 0 }),
        row({ queue: 'fl-none', priority: 2, partitionKey: 'a' }),
      ]);
      assert.deepEqual(ids(await limited('fl-none', 2)), [p0, p1], 'in claim order, up to the limit');
      const [last] = await limited('fl-none', 2);
      assert.deepEqual([last?.id, last?.attempts], [p2, 1]);
    });

    it('follows the limits row as it is at the claim: raising a limit lets the next claim take more', async () => {
      await s.store.admin.setLimits({ queue: 'fl-raise', limits: limits({ concurrency: 1 }) });
      await insert(
        s.store,
        Array.from({ length: 4 }, () => row({ queue: 'fl-raise' })),
      );
      assert.equal((await limited('fl-raise', 10)).length, 1);
      await s.store.admin.setLimits({ queue: 'fl-raise', limits: limits({ concurrency: 3 }) });
      assert.equal((await limited('fl-raise', 10)).length, 2, 'up to the new limit');
      await s.store.admin.setLimits({ queue: 'fl-raise', limits: null });
      assert.equal((await limited('fl-raise', 10)).length, 1, 'no row: no limit');
    });
  });

  describe('claim with limits: concurrency', () => {
    it('leases at most `concurrency` rows of the queue at once, in claim order; a settled row frees its place', async () => {
      await s.store.admin.setLimits({ queue: 'fl-conc', limits: limits({ concurrency: 2 }) });
      const [p3, p1, p2, p0, p4] = await insert(
        s.store,
        [3, 1, 2, 0, 4].map((priority) => row({ queue: 'fl-conc', priority })),
      );
      const first = await limited('fl-conc', 10);
      assert.deepEqual(ids(first), [p0, p1], 'the first two in (priority, due, id) order');
      assert.deepEqual(await limited('fl-conc', 10), [], 'the limit is reached');
      await complete(first.slice(0, 1));
      assert.deepEqual(ids(await limited('fl-conc', 10)), [p2], 'one place free: one row');
      assert.deepEqual(await limited('fl-conc', 10), []);
      const rest = await allLive(s.store, 'fl-conc');
      assert.deepEqual(
        rest.filter((r) => r.lockedUntil === null).map((r) => r.id),
        [p3, p4],
        'the others wait',
      );
    });

    it("does not count the claimer's `finished` rows (their handlers ended), but counts them for anyone else", async () => {
      const q = 'fl-finished';
      await s.store.admin.setLimits({ queue: q, limits: limits({ concurrency: 1 }) });
      await insert(s.store, [row({ queue: q }), row({ queue: q }), row({ queue: q })]);
      const [first] = await limited(q, 10);
      assert.ok(first, 'one row under a limit of 1');
      assert.equal((await limited(q, 10)).length, 0, 'the limit is taken');
      assert.equal(
        (await limited(q, 10, { workerId: 'w2', finished: [first.id] })).length,
        0,
        "another worker's finished list does not free w's row",
      );
      const next = await limited(q, 10, { finished: [first.id] });
      assert.equal(next.length, 1, "w's finished row no longer holds the slot");
      assert.notEqual(next[0]!.id, first.id);
    });

    it("counts the leased rows of the queue's other handlers too", async () => {
      await s.store.admin.setLimits({ queue: 'fl-conc-h', limits: limits({ concurrency: 2 }) });
      await insert(s.store, [
        row({ queue: 'fl-conc-h', handlerName: 'h.other' }),
        ...Array.from({ length: 3 }, () => row({ queue: 'fl-conc-h', handlerName: 'h.mine' })),
      ]);
      assert.equal((await limited('fl-conc-h', 10, { handlers: ['h.other'], workerId: 'other' })).length, 1);
      const mine = await limited('fl-conc-h', 10, { handlers: ['h.mine'] });
      assert.equal(mine.length, 1, "the other handler's row holds one of the two places");
    });

    it('counts a lease that ran out until rescue takes the row back', async () => {
      await s.store.admin.setLimits({ queue: 'fl-conc-x', limits: limits({ concurrency: 1 }) });
      await insert(s.store, [row({ queue: 'fl-conc-x' }), row({ queue: 'fl-conc-x' })]);
      const [lost] = await limited('fl-conc-x', 10, { workerId: 'gone', leaseMs: 1 });
      assert.ok(lost, 'one row claimed');
      await untilExpired(s.store, 'fl-conc-x', [lost.id]);
      assert.deepEqual(await limited('fl-conc-x', 10), [], 'the expired lease still holds its place');
      const rescued = await s.store.rescue({
        decisions: [
          { kind: 'retry', id: lost.id, attempt: 1, workerId: 'gone', delayMs: 0, error: 'lease expired' },
        ],
      });
      assert.deepEqual(rescued, [lost.id]);
      assert.equal((await limited('fl-conc-x', 10)).length, 1, 'after the rescue the place is free');
    });

    it('concurrent limited claims together stay within the limit', async () => {
      await s.store.admin.setLimits({ queue: 'fl-conc-race', limits: limits({ concurrency: 5 }) });
      await insert(
        s.store,
        Array.from({ length: 50 }, () => row({ queue: 'fl-conc-race' })),
      );
      const got = await Promise.all(
        Array.from({ length: 8 }, (_, w) => limited('fl-conc-race', 3, { workerId: `w${w}` })),
      );
      const all = got.flat();
      assert.equal(all.length, 5, 'five rows leased in all');
      assert.equal(new Set(ids(all)).size, 5, 'each once');
      const leased = (await allLive(s.store, 'fl-conc-race')).filter((r) => r.lockedUntil !== null);
      assert.equal(leased.length, 5);
    });

    it('claims after the first (a store may claim within the limits it last read, in one step) stay within the limit and follow every change of the limits', async () => {
      const q = 'fl-conc-again';
      await s.store.admin.setLimits({ queue: q, limits: limits({ concurrency: 5 }) });
      await insert(
        s.store,
        Array.from({ length: 60 }, () => row({ queue: q })),
      );
      const first = await limited(q, 2);
      assert.equal(first.length, 2, 'the first claim');
      const got = (
        await Promise.all(Array.from({ length: 8 }, (_, w) => limited(q, 3, { workerId: `w${w}` })))
      ).flat();
      assert.equal(got.length, 3, 'concurrent claims after it: three more, five in all');
      assert.equal(new Set(ids([...first, ...got])).size, 5, 'each once');
      assert.equal(
        (await limited(q, 3, { finished: [first[0]!.id] })).length,
        1,
        "the claimer's finished row does not count for it",
      );
      await s.store.admin.setLimits({ queue: q, limits: limits({ concurrency: 3 }) });
      assert.deepEqual(await limited(q, 3), [], 'lowered to 3 with six leased: nothing');
      await s.store.admin.setLimits({ queue: q, limits: limits({ concurrency: 8 }) });
      assert.equal((await limited(q, 5)).length, 2, 'raised to 8 with six leased: two');
      await s.store.admin.setLimits({
        queue: q,
        limits: limits({ concurrency: 20, rateLimit: 1, ratePeriodMs: 60_000 }),
      });
      assert.equal((await limited(q, 5)).length, 1, 'a rate of one a minute added: one start');
      assert.deepEqual(await limited(q, 5), [], 'and no more in its window');
      await s.store.admin.setLimits({ queue: q, limits: null });
      assert.equal((await limited(q, 5)).length, 5, 'no limits row: claimed as usual');
      assert.equal(
        (await allLive(s.store, q)).filter((r) => r.lockedUntil !== null).length,
        14,
        'every claimed row leased once',
      );
    });

    it('limited and plain claims side by side never return the same row', async () => {
      const q = 'fl-mixed';
      await s.store.admin.setLimits({ queue: q, limits: limits({ concurrency: 1000, fair: true }) });
      const all = await insert(
        s.store,
        Array.from({ length: 200 }, (_, n) => keyedRow(q, n % 3 === 0 ? null : `k${n % 7}`)),
      );
      const seen = new Map<string, string>();
      await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (;;) {
            const params = { queue: q, limit: 7, workerId: `w${w}`, leaseMs: LONG_LEASE };
            // Half the claimers have not seen the limits yet (the core re-reads them every second).
            const got = await claimFor(s.store, w % 2 === 0 ? { ...params, limited: true } : params);
            if (got.length === 0) return;
            for (const c of got) {
              assert.ok(!seen.has(c.id), `row ${c.id} claimed by ${seen.get(c.id)} and w${w}`);
              seen.set(c.id, `w${w}`);
            }
          }
        }),
      );
      assert.deepEqual(sorted([...seen.keys()]), sorted(all));
      for (const r of await allLive(s.store, q))
        assert.deepEqual([r.lockedBy, r.attempts], [seen.get(r.id), 1]);
    });

    it('a row that waits on a limit is not an attempt: it keeps attempts 0 until it is claimed', async () => {
      await s.store.admin.setLimits({ queue: 'fl-wait', limits: limits({ concurrency: 1 }) });
      const [a, b] = await insert(s.store, [
        row({ queue: 'fl-wait', maxRetries: 2 }),
        row({ queue: 'fl-wait', maxRetries: 2 }),
      ]);
      const first = await limited('fl-wait', 10);
      assert.deepEqual(ids(first), [a]);
      for (let n = 0; n < 3; n++) assert.deepEqual(await limited('fl-wait', 10), []);
      const waiting = await live(s.store, b!);
      assert.deepEqual([waiting?.attempts, waiting?.lockedBy, waiting?.lockedUntil], [0, null, null]);
      await complete(first);
      const [next] = await limited('fl-wait', 10);
      assert.deepEqual([next?.id, next?.attempts], [b, 1], 'its first attempt');
    });
  });

  describe('claim with limits: partition keys', () => {
    it('keyConcurrency 1: one leased row per key at a time; rows without a key are not held back', async () => {
      const q = 'fl-kc';
      await s.store.admin.setLimits({ queue: q, limits: limits({ keyConcurrency: 1 }) });
      const [a1, b1, a2, u1, b2, a3, u2] = await insert(s.store, [
        keyedRow(q, 'a'),
        keyedRow(q, 'b'),
        keyedRow(q, 'a'),
        keyedRow(q, null),
        keyedRow(q, 'b'),
        keyedRow(q, 'a'),
        keyedRow(q, null),
      ]);
      const first = await limited(q, 10);
      assert.deepEqual(
        sorted(ids(first)),
        sorted([a1!, b1!, u1!, u2!]),
        "a's first, b's first and both rows without a key",
      );
      assert.deepEqual(await limited(q, 10), [], 'no second row of a or b while their first is leased');
      await complete(first.filter((c) => c.id === a1));
      assert.deepEqual(ids(await limited(q, 10)), [a2], "a's first done: a's next");
      await complete(first.filter((c) => c.id === b1));
      assert.deepEqual(ids(await limited(q, 10)), [b2]);
      assert.deepEqual(await limited(q, 10), [], `${a3} waits for ${a2}`);
    });

    it('keys at their limit first in turn are read past: the claim still fills its room from the keys after them', async () => {
      const q = 'fl-kpast';
      await s.store.admin.setLimits({ queue: q, limits: limits({ keyConcurrency: 1 }) });
      // a and b (first in key order) each get a row leased by a plain claim, which ignores limits.
      const [a1, b1] = await insert(s.store, [keyedRow(q, 'a'), keyedRow(q, 'b')]);
      const [, , c1, d1, e1] = await insert(s.store, [
        keyedRow(q, 'a'),
        keyedRow(q, 'b'),
        keyedRow(q, 'c'),
        keyedRow(q, 'd'),
        keyedRow(q, 'e'),
      ]);
      const held = await claimFor(s.store, { queue: q, limit: 2, workerId: 'plain', leaseMs: LONG_LEASE });
      assert.deepEqual(sorted(ids(held)), sorted([a1!, b1!]));
      assert.deepEqual(sorted(ids(await limited(q, 2))), sorted([c1!, d1!]), 'two rows, of c and d');
      assert.deepEqual(ids(await limited(q, 5)), [e1], "e's row; a and b still at their limit");
    });

    it('with more keys at their limit than a claim names to the store (100), their rows are still not taken', async () => {
      const q = 'fl-kmany';
      await s.store.admin.setLimits({ queue: q, limits: limits({ keyConcurrency: 1 }) });
      const keys = Array.from({ length: 120 }, (_, i) => `k${String(i).padStart(3, '0')}`);
      await insert(
        s.store,
        [...keys, ...keys].map((k) => keyedRow(q, k)),
      );
      const first = await limited(q, 500);
      assert.equal(new Set(first.map((c) => c.id)).size, 120, 'one row of each key');
      assert.deepEqual(await limited(q, 10), [], 'every key at its limit');
      const [fresh] = await insert(s.store, [keyedRow(q, 'k050x')]);
      assert.deepEqual(ids(await limited(q, 10)), [fresh], 'only the new key has room');
    });

    it('compares keys exactly: case and trailing spaces make other keys', async () => {
      const q = 'fl-exact';
      await s.store.admin.setLimits({ queue: q, limits: limits({ keyConcurrency: 1 }) });
      const rows = await insert(s.store, [
        keyedRow(q, 'k'),
        keyedRow(q, 'k '),
        keyedRow(q, 'K'),
        keyedRow(q, ' k'),
      ]);
      assert.deepEqual(sorted(ids(await limited(q, 10))), sorted(rows), 'four keys, one row each');
    });

    it('takes the rows of one key in (due time, id) order; rows not due are not taken and hold up no other key', async () => {
      const q = 'fl-kdue';
      await s.store.admin.setLimits({ queue: q, limits: limits({ keyConcurrency: 1 }) });
      const now = await dbNow(s.store);
      const [aLate, aEarly, aEarly2, bDelayed, cDelayed, cDue] = await insert(s.store, [
        keyedRow(q, 'a', { due: new Date(now - 1_000) }),
        keyedRow(q, 'a', { due: new Date(now - 60_000) }),
        keyedRow(q, 'a', { due: new Date(now - 60_000) }),
        keyedRow(q, 'b', { due: 3_600_000 }),
        keyedRow(q, 'c', { due: 3_600_000 }),
        keyedRow(q, 'c'),
      ]);
      const first = await limited(q, 10);
      assert.deepEqual(
        sorted(ids(first)),
        sorted([aEarly!, cDue!]),
        "a's earliest row and c's due one; b has none due",
      );
      const order: string[] = [];
      let held = first.filter((c) => c.id === aEarly);
      for (;;) {
        order.push(...ids(held));
        await complete(held);
        held = await limited(q, 10);
        if (held.length === 0) break;
      }
      assert.deepEqual(order, [aEarly, aEarly2, aLate], "a's rows by due time, then id");
      for (const id of [bDelayed!, cDelayed!]) {
        const r = await live(s.store, id);
        assert.deepEqual([r?.lockedBy, r?.attempts], [null, 0], `${id} (not due) left alone`);
      }
    });

    it('fair: keys with nothing to take (not due, another handler) do not starve a claim of one row', async () => {
      const q = 'fl-starve';
      await s.store.admin.setLimits({ queue: q, limits: limits({ fair: true }) });
      // Keys that sort first and have unleased rows, none of them claimable by this claim.
      await insert(s.store, [
        keyedRow(q, 'a', { due: 3_600_000 }),
        keyedRow(q, 'b', { handlerName: 'other-handler' }),
        keyedRow(q, 'c', { due: 3_600_000 }),
      ]);
      const [due] = await insert(s.store, [keyedRow(q, 'd')]);
      assert.deepEqual(
        ids(await limited(q, 1, { handlers: ['test.handler'] })),
        [due],
        "d's row, past the keys with none to take",
      );
    });

    it('fair: a key with one row is not stuck behind a key with many ready rows', async () => {
      const rows = (queue: string) => [
        ...Array.from({ length: 300 }, () => keyedRow(queue, 'a')),
        keyedRow(queue, 'b'),
      ];
      await s.store.admin.setLimits({ queue: 'fl-fair', limits: limits({ fair: true }) });
      const fair = await insert(s.store, rows('fl-fair'));
      const got = await limited('fl-fair', 5);
      assert.equal(got.length, 5);
      assert.ok(ids(got).includes(fair[300]!), "b's row is among the five");
      assert.deepEqual(
        sorted(ids(got).filter((id) => id !== fair[300])),
        sorted(fair.slice(0, 4)),
        "and a's first four",
      );
      // The same rows without limits: the plain claim takes a's first five.
      const plain = await insert(s.store, rows('fl-unfair'));
      assert.deepEqual(ids(await limited('fl-unfair', 5)), plain.slice(0, 5));
    });

    it('fair: claims of one row take the keys in turn, and the turn carries over from claim to claim', async () => {
      const q = 'fl-rr';
      await s.store.admin.setLimits({ queue: q, limits: limits({ fair: true }) });
      const inserted = await insert(
        s.store,
        ['a', 'a', 'a', 'b', 'b', 'b', 'c', 'c', 'c'].map((k) => keyedRow(q, k)),
      );
      const keyOf = new Map(inserted.map((id, n) => [id, 'abc'[Math.floor(n / 3)]!]));
      const keys: string[] = [];
      for (let n = 0; n < 10; n++) {
        const got = await limited(q, 1);
        assert.ok(got.length <= 1);
        if (got.length === 1) keys.push(keyOf.get(got[0]!.id)!);
      }
      assert.deepEqual(keys, ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
    });

    it('a claim with room for more rows than keys: one row per key a turn, from the key after the last claim round to it, rows without a key after the last key', async () => {
      const q = 'fl-turns';
      await s.store.admin.setLimits({ queue: q, limits: limits({ keyConcurrency: 2 }) });
      const [a1, a2, a3, b1, b2, b3, c1, c2, c3, u1, u2] = await insert(
        s.store,
        ['a', 'a', 'a', 'b', 'b', 'b', 'c', 'c', 'c', null, null].map((k) => keyedRow(q, k)),
      );
      const first = await limited(q, 1);
      assert.deepEqual(ids(first), [a1], 'the first key first');
      // a holds one of its two places, so it gives one row; b and c give two, as their limit. The
      // rows without a key take their turn after c, the last key, before the walk goes round to a.
      const second = await limited(q, 5);
      assert.deepEqual(ids(second), [b1, c1, u1, a2, b2], 'turn by turn: b, c, a row without a key, a');
      await complete(second);
      assert.deepEqual(ids(await limited(q, 1)), [b3], 'the next claim starts after a, where the last ended');
      // c has both places free, a one (a1), b none left to take (b3 is leased).
      assert.deepEqual(
        ids(await limited(q, 10)),
        [c2, u2, a3, c3],
        'then after b: c, a row without a key, a, c',
      );
    });

    it('rows without a key take their turn where the rotation passes the last key, even when the keys fill every claim', async () => {
      const q = 'fl-unkeyed-turn';
      await s.store.admin.setLimits({ queue: q, limits: limits({ keyConcurrency: 1 }) });
      const [a1, a2, b1, b2, c1, c2, d1, , e1, , f1, , u1] = await insert(
        s.store,
        ['a', 'a', 'b', 'b', 'c', 'c', 'd', 'd', 'e', 'e', 'f', 'f', null].map((k) => keyedRow(q, k)),
      );
      const turns: string[][] = [];
      for (let n = 0; n < 5; n++) {
        const got = await limited(q, 2);
        turns.push(ids(got));
        await complete(got);
      }
      // Six keys, two a claim: three claims go round the keys, and the fourth, past the last key,
      // starts with the row without a key before it goes on from the first key again.
      assert.deepEqual(turns, [
        [a1, b1],
        [c1, d1],
        [e1, f1],
        [u1, a2],
        [b2, c2],
      ]);
    });

    it('claims of one row: a, b, then the rows without a key, and the next claim starts from the first key again', async () => {
      const q = 'fl-unkeyed-one';
      await s.store.admin.setLimits({ queue: q, limits: limits({ keyConcurrency: 1 }) });
      const [a1, a2, b1, b2, u1, u2] = await insert(
        s.store,
        ['a', 'a', 'b', 'b', null, null].map((k) => keyedRow(q, k)),
      );
      const order: string[] = [];
      for (let n = 0; n < 6; n++) {
        const got = await limited(q, 1);
        order.push(...ids(got));
        await complete(got);
      }
      assert.deepEqual(order, [a1, b1, u1, a2, b2, u2]);
    });

    it('a global concurrency with a per-key limit: claim after claim, the queue stays within both, in turn', async () => {
      const q = 'fl-both';
      await s.store.admin.setLimits({ queue: q, limits: limits({ concurrency: 3, keyConcurrency: 1 }) });
      const [a1, b1, c1, d1, e1, a2] = await insert(
        s.store,
        ['a', 'b', 'c', 'd', 'e', 'a'].map((k) => keyedRow(q, k)),
      );
      const first = await limited(q, 10);
      assert.deepEqual(ids(first), [a1, b1, c1], 'three places, one row a key');
      assert.deepEqual(await limited(q, 10), [], 'the queue is at its limit');
      await complete(first.filter((c) => c.id === a1));
      assert.deepEqual(ids(await limited(q, 10)), [d1], 'one place free: the key after c');
      await complete(first.filter((c) => c.id !== a1));
      assert.deepEqual(ids(await limited(q, 10)), [e1, a2], 'two places free: e, then a again');
    });

    it('fair: an update of the limits keeps the turn; a new row starts from the first key', async () => {
      const q = 'fl-rr-cursor';
      await s.store.admin.setLimits({ queue: q, limits: limits({ fair: true }) });
      const inserted = await insert(
        s.store,
        ['a', 'a', 'a', 'b', 'b', 'b', 'c', 'c', 'c'].map((k) => keyedRow(q, k)),
      );
      const keyOf = new Map(inserted.map((id, n) => [id, 'abc'[Math.floor(n / 3)]!]));
      const next = async (): Promise<string | undefined> => {
        const got = await limited(q, 1);
        return got[0] === undefined ? undefined : keyOf.get(got[0].id);
      };
      assert.deepEqual([await next(), await next()], ['a', 'b']);
      assert.equal(
        await s.store.admin.setLimits({ queue: q, limits: limits({ fair: true, concurrency: 100 }) }),
        true,
      );
      assert.equal(await next(), 'c', 'the update kept the turn');
      assert.equal(await s.store.admin.setLimits({ queue: q, limits: null }), true);
      assert.equal(await s.store.admin.setLimits({ queue: q, limits: limits({ fair: true }) }), true);
      assert.deepEqual([await next(), await next()], ['a', 'b'], 'the new row starts from the first key');
    });
  });

  describe('claim with limits: rates', () => {
    it('rate: at most `rateLimit` starts per window across claims; a released or settled row does not give its start back', async () => {
      const q = 'fl-rate';
      await s.store.admin.setLimits({ queue: q, limits: limits({ rateLimit: 3, ratePeriodMs: 60_000 }) });
      await insert(
        s.store,
        Array.from({ length: 6 }, () => row({ queue: q })),
      );
      const first = await limited(q, 2);
      assert.equal(first.length, 2);
      const second = await limited(q, 10);
      assert.equal(second.length, 1, 'one start left in the window');
      assert.deepEqual(await limited(q, 10), [], 'three starts in the window');
      assert.deepEqual(
        await s.store.release({ workerId: 'w', events: [{ id: first[0]!.id, attempt: first[0]!.attempts }] }),
        [first[0]!.id],
      );
      await complete([first[1]!, second[0]!]);
      assert.deepEqual(await limited(q, 10), [], 'the starts still count');
    });

    it('keyRate: at most `keyRateLimit` starts of one key per window', async () => {
      const q = 'fl-krate';
      await s.store.admin.setLimits({
        queue: q,
        limits: limits({ keyRateLimit: 1, keyRatePeriodMs: 60_000 }),
      });
      const [a1, b1, ,] = await insert(s.store, [
        keyedRow(q, 'a'),
        keyedRow(q, 'b'),
        keyedRow(q, 'a'),
        keyedRow(q, 'b'),
      ]);
      const first = await limited(q, 10);
      assert.deepEqual(sorted(ids(first)), sorted([a1!, b1!]), "a's first and b's first only");
      await complete(first);
      assert.deepEqual(await limited(q, 10), [], 'each key had its start in the window');
    });
  });

  describe('claim with limits: handlers', () => {
    it('takes rows of `handlers` only, with or without keys', async () => {
      await s.store.admin.setLimits({ queue: 'fl-h', limits: limits({ concurrency: 10 }) });
      await s.store.admin.setLimits({ queue: 'fl-h-fair', limits: limits({ fair: true }) });
      const plain = await insert(s.store, [
        row({ queue: 'fl-h', handlerName: 'h.b' }),
        row({ queue: 'fl-h', handlerName: 'h.a' }),
        row({ queue: 'fl-h', handlerName: 'h.b' }),
        row({ queue: 'fl-h', handlerName: 'h.a' }),
      ]);
      const keyed = await insert(s.store, [
        keyedRow('fl-h-fair', 'a', { handlerName: 'h.b' }),
        keyedRow('fl-h-fair', 'a', { handlerName: 'h.a' }),
        keyedRow('fl-h-fair', 'b', { handlerName: 'h.b' }),
        keyedRow('fl-h-fair', null, { handlerName: 'h.b' }),
        keyedRow('fl-h-fair', null, { handlerName: 'h.a' }),
      ]);
      assert.deepEqual(ids(await limited('fl-h', 10, { handlers: ['h.a'] })), [plain[1], plain[3]]);
      assert.deepEqual(
        sorted(ids(await limited('fl-h-fair', 10, { handlers: ['h.a'] }))),
        sorted([keyed[1]!, keyed[4]!]),
      );
      for (const r of await allLive(s.store)) {
        if (r.handlerName === 'h.b')
          assert.deepEqual([r.lockedBy, r.attempts], [null, 0], `${r.id} (h.b) left alone`);
      }
    });
  });

  describe('partition keys on rows', () => {
    const KEY = `acct:42 it's "k" %_ Grüße 🚀`;
    const LONG_KEY = 'k'.repeat(255);

    it('listEvents shows the key a row was inserted with, and null for rows without one', async () => {
      const [k, long, none, nulled] = await insert(s.store, [
        row({ partitionKey: KEY }),
        row({ partitionKey: LONG_KEY }),
        row(),
        row({ partitionKey: null }),
      ]);
      const byId = new Map((await allLive(s.store)).map((r) => [r.id, r.partitionKey]));
      assert.deepEqual(
        [byId.get(k!), byId.get(long!), byId.get(none!), byId.get(nulled!)],
        [KEY, LONG_KEY, null, null],
      );
    });

    it('every claim returns the key with the row (null without one): plain, limited in claim order, and round-robin', async () => {
      const keysOf = (rows: readonly ClaimedEvent[]) => new Map(rows.map((c) => [c.id, c.partitionKey]));
      const [pk, pn] = await insert(s.store, [keyedRow('fl-ck-plain', KEY), keyedRow('fl-ck-plain', null)]);
      const plain = await claimFor(s.store, {
        queue: 'fl-ck-plain',
        limit: 10,
        workerId: 'w',
        leaseMs: LONG_LEASE,
      });
      assert.deepEqual([keysOf(plain).get(pk!), keysOf(plain).get(pn!)], [KEY, null], 'plain claim');
      // A global limit only, claimed twice: a store may take the second claim in one step.
      await s.store.admin.setLimits({ queue: 'fl-ck-global', limits: limits({ concurrency: 10 }) });
      const global = await insert(s.store, [
        keyedRow('fl-ck-global', KEY),
        keyedRow('fl-ck-global', null),
        keyedRow('fl-ck-global', LONG_KEY),
        keyedRow('fl-ck-global', null),
      ]);
      const both = keysOf([...(await limited('fl-ck-global', 2)), ...(await limited('fl-ck-global', 2))]);
      assert.deepEqual(
        global.map((id) => both.get(id!)),
        [KEY, null, LONG_KEY, null],
        'limited claims in claim order',
      );
      await s.store.admin.setLimits({ queue: 'fl-ck-key', limits: limits({ keyConcurrency: 1 }) });
      const keyed = await insert(s.store, [
        keyedRow('fl-ck-key', KEY),
        keyedRow('fl-ck-key', null),
        keyedRow('fl-ck-key', LONG_KEY),
      ]);
      const turn = keysOf(await limited('fl-ck-key', 10));
      assert.deepEqual(
        keyed.map((id) => turn.get(id!)),
        [KEY, null, LONG_KEY],
        'round-robin claim',
      );
    });

    it('a unique insert keeps the key too', async () => {
      const handlerName = `h-${randomUUID().slice(0, 8)}`;
      const [r] = await s.store.unique.insert({
        rows: [
          { ...row({ handlerName, partitionKey: KEY }), unique: { key: 'u', bucketMs: null, holdMs: null } },
        ],
      });
      assert.equal((await live(s.store, r!.id))?.partitionKey, KEY);
    });

    it('the key stays with the row through a retry, the archive (settle, cancel) and redrive', async () => {
      const [retried, done, cancelled, plain] = await insert(s.store, [
        row({ queue: 'fl-pk', partitionKey: 'r', maxRetries: 3 }),
        row({ queue: 'fl-pk', partitionKey: KEY }),
        row({ queue: 'fl-pk-cancel', partitionKey: 'c' }),
        row({ queue: 'fl-pk' }),
      ]);
      const claimed = await claimFor(s.store, {
        queue: 'fl-pk',
        limit: 10,
        workerId: 'w',
        leaseMs: LONG_LEASE,
      });
      assert.equal(claimed.length, 3);
      await s.store.settle({
        workerId: 'w',
        outcomes: [
          { kind: 'retry', id: retried!, attempt: 1, delayMs: 0, error: 'again' },
          { kind: 'failed', id: done!, attempt: 1, archive: true, error: 'broke' },
          { kind: 'completed', id: plain!, attempt: 1, archive: true },
        ],
      });
      await s.store.admin.cancel({ ids: [cancelled!], limit: 10, archive: true, reason: 'stop' });
      assert.equal((await live(s.store, retried!))?.partitionKey, 'r', 'a retried row keeps its key');
      assert.deepEqual(
        (await allArchived(s.store)).map((r) => [r.id, r.status, r.partitionKey]),
        [
          [done, 'failed', KEY],
          [cancelled, 'cancelled', 'c'],
          [plain, 'completed', null],
        ],
        'archived rows keep their keys',
      );
      const redriven = await s.store.admin.redrive({
        ids: [done!, cancelled!, plain!],
        statuses: ['failed', 'cancelled', 'completed'],
        limit: 10,
      });
      assert.deepEqual(sorted(redriven), sorted([done!, cancelled!, plain!]));
      assert.equal(await archived(s.store, done!), undefined);
      assert.deepEqual(
        [
          (await live(s.store, done!))?.partitionKey,
          (await live(s.store, cancelled!))?.partitionKey,
          (await live(s.store, plain!))?.partitionKey,
        ],
        [KEY, 'c', null],
        'a redriven row has its key again',
      );
    });

    it('a rescued row keeps its key, in the hot table and in the archive', async () => {
      const [retry, fail] = await insert(s.store, [
        row({ queue: 'fl-pk-rescue', partitionKey: 'x', maxRetries: 3 }),
        row({ queue: 'fl-pk-rescue', partitionKey: 'y' }),
      ]);
      await claimFor(s.store, { queue: 'fl-pk-rescue', limit: 10, workerId: 'gone', leaseMs: 1 });
      await untilExpired(s.store, 'fl-pk-rescue', [retry!, fail!]);
      const rescued = await s.store.rescue({
        decisions: [
          { kind: 'retry', id: retry!, attempt: 1, workerId: 'gone', delayMs: 0, error: 'lease expired' },
          { kind: 'failed', id: fail!, attempt: 1, workerId: 'gone', archive: true, error: 'lease expired' },
        ],
      });
      assert.deepEqual(sorted(rescued), sorted([retry!, fail!]));
      assert.equal((await live(s.store, retry!))?.partitionKey, 'x');
      assert.equal((await archived(s.store, fail!))?.partitionKey, 'y');
    });
  });
}
