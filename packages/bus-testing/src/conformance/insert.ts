import assert from 'node:assert/strict';
import { encodePayload } from 'bus-core';
import { CONTRACT_LIMITS, isRowId } from 'bus-core/driver';
import type { SuiteContext } from './context.js';
import { allLive, assertBytes, assertWithin, claim, insert, live, row, timed } from './support.js';

/** `insert`: ids in input order, all rows or none, the row as written, `due` as a delay or an instant. */
export function insertTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('insert', () => {
    it('returns one valid row id per row, in input order, and writes each row as given', async () => {
      const rows = Array.from({ length: 50 }, (_, n) =>
        row({
          queue: `q${n % 3}`,
          eventName: `event.${n}`,
          handlerName: `handler.${n}`,
          payload: encodePayload({ n }),
          maxRetries: n % 4,
          priority: n - 25,
        }),
      );
      const { result: ids, before, after } = await timed(s.store, () => insert(s.store, rows));
      assert.equal(ids.length, 50);
      assert.equal(new Set(ids).size, 50, 'ids are distinct');
      for (const id of ids) assert.ok(isRowId(id), `${id} is a row id`);
      const byId = new Map((await allLive(s.store)).map((r) => [r.id, r]));
      ids.forEach((id, n) => {
        const stored = byId.get(id);
        assert.ok(stored, `row ${n} exists under its id`);
        assert.deepEqual(
          [stored.queue, stored.eventName, stored.handlerName, stored.maxRetries, stored.priority],
          [`q${n % 3}`, `event.${n}`, `handler.${n}`, n % 4, n - 25],
          `row ${n} is the row given at position ${n}`,
        );
        assertBytes(stored.payload, rows[n]!.payload, `payload of row ${n}`);
        assert.equal(stored.attempts, 0);
        assert.equal(stored.lockedBy, null);
        assert.equal(stored.lockedUntil, null);
        assert.equal(stored.lastError, null);
        assertWithin(stored.createdAt, before, after, `createdAt of row ${n}`);
        assertWithin(stored.scheduledAt, before, after, `scheduledAt of row ${n} (due 0)`);
      });
    });

    it('writes a batch of 12,000 rows in one call, ids in input order', async () => {
      const rows = Array.from({ length: 12_000 }, (_, n) =>
        row({ payload: encodePayload({ n, pad: 'x'.repeat(n % 50) }), priority: n % 7 }),
      );
      const ids = await insert(s.store, rows);
      assert.equal(ids.length, 12_000);
      assert.equal(new Set(ids).size, 12_000);
      const picks = [0, 4_999, 5_000, 11_999];
      const listed = new Map(
        (await s.store.inspect.listEvents({ ids: picks.map((n) => ids[n]!), limit: 10 })).map((r) => [
          r.id,
          r,
        ]),
      );
      for (const n of picks) {
        const stored = listed.get(ids[n]!);
        assert.ok(stored, `row ${n}`);
        assert.equal(stored.priority, n % 7);
        assertBytes(stored.payload, rows[n]!.payload, `payload of row ${n}`);
      }
    });

    it('all rows or none: a reader never sees part of a batch', async () => {
      const rows = Array.from({ length: 5_000 }, (_, n) => row({ queue: 'atomic', priority: n % 3 }));
      let done = false;
      const seen = new Set<number>();
      const watching = (async () => {
        while (!done) {
          const counts = await s.store.inspect.countByQueue();
          seen.add(counts.find((c) => c.queue === 'atomic')?.available ?? 0);
        }
      })();
      try {
        await insert(s.store, rows);
      } finally {
        done = true;
        await watching;
      }
      for (const n of seen) assert.ok(n === 0 || n === 5_000, `a reader saw ${n} of 5000 rows`);
      assert.equal(
        (await s.store.inspect.countByQueue()).find((c) => c.queue === 'atomic')?.available,
        5_000,
      );
    });

    it('due as a number: that many ms after the database now', async () => {
      const { result, before, after } = await timed(s.store, () =>
        insert(s.store, [row({ due: 0 }), row({ due: 3_600_000 }), row({ due: CONTRACT_LIMITS.maxDelayMs })]),
      );
      const [now, hour, century] = result as [string, string, string];
      assertWithin((await live(s.store, now))?.scheduledAt, before, after, 'due 0');
      assertWithin(
        (await live(s.store, hour))?.scheduledAt,
        before + 3_600_000,
        after + 3_600_000,
        'due 1 h',
      );
      assertWithin(
        (await live(s.store, century))?.scheduledAt,
        before + CONTRACT_LIMITS.maxDelayMs,
        after + CONTRACT_LIMITS.maxDelayMs,
        'due maxDelayMs',
      );
      assert.deepEqual(
        (await claim(s.store, 'q')).map((c) => c.id),
        [now],
        'only the row due at once is claimable',
      );
    });

    it('due as a Date: exactly that instant, past or future, from the first to the last the core passes', async () => {
      const now = (await s.store.now()).getTime();
      const instants = [
        new Date(now - 60_000),
        new Date(now + 3_600_000),
        new Date('2020-02-29T12:34:56.789Z'),
        new Date(CONTRACT_LIMITS.minDueTime),
        new Date(CONTRACT_LIMITS.maxDueTime),
      ];
      const ids = await insert(
        s.store,
        instants.map((due) => row({ due })),
      );
      for (const [n, id] of ids.entries()) {
        const stored = await live(s.store, id);
        assert.equal(
          stored?.scheduledAt.toISOString(),
          instants[n]!.toISOString(),
          `due ${instants[n]!.toISOString()}`,
        );
      }
      assert.deepEqual(
        new Set((await claim(s.store, 'q')).map((c) => c.id)),
        new Set([ids[0], ids[2], ids[3]]),
        'the past instants are due, the future ones are not',
      );
    });

    it('leaves the payload arrays it is given unchanged (rows of one event share one)', async () => {
      const payload = encodePayload({ shared: 'by three rows', n: [1, 2, 3] });
      const copy = Uint8Array.from(payload);
      const ids = await insert(s.store, [
        row({ payload, handlerName: 'a' }),
        row({ payload, handlerName: 'b' }),
        row({ payload, handlerName: 'c', queue: 'other' }),
      ]);
      assertBytes(payload, copy, 'the caller’s array');
      for (const id of ids) assertBytes((await live(s.store, id))?.payload, copy, `payload of ${id}`);
    });
  });
}
