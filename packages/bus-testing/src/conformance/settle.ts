import assert from 'node:assert/strict';
import { encodePayload } from 'bus-core';
import type { SettleOutcome } from 'bus-core/driver';
import type { SuiteContext } from './context.js';
import {
  allArchived,
  allLive,
  archived,
  assertBytes,
  assertWithin,
  claim,
  held,
  insert,
  live,
  row,
  sorted,
  timed,
  untilExpired,
} from './support.js';

/** `settle`: the fence (holder, attempt, leased, exists), each kind's effect, archive or not, in a transaction. */
export function settleTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('settle', () => {
    it('refuses, without an error, outcomes whose fence fails: wrong worker, wrong attempt, unleased, missing', async () => {
      const c = await held(s.store);
      const [unleased] = await insert(s.store, [row({ queue: 'idle' })]);
      const missing = String(BigInt(c.id) + 1_000_000n);
      const cases: [string, string, SettleOutcome][] = [
        ['another worker', 'x', { kind: 'completed', id: c.id, attempt: 1, archive: true }],
        ['an earlier attempt', 'w', { kind: 'completed', id: c.id, attempt: 0, archive: true }],
        ['a later attempt', 'w', { kind: 'failed', id: c.id, attempt: 2, archive: true, error: 'e' }],
        ['an unleased row', 'w', { kind: 'completed', id: unleased!, attempt: 0, archive: true }],
        [
          'a row that does not exist',
          'w',
          { kind: 'retry', id: missing, attempt: 1, delayMs: 0, error: 'e' },
        ],
      ];
      for (const [what, workerId, outcome] of cases) {
        assert.deepEqual(await s.store.settle({ workerId, outcomes: [outcome] }), { settled: [] }, what);
      }
      const row1 = await live(s.store, c.id);
      assert.deepEqual(
        [row1?.lockedBy, row1?.attempts, row1?.lastError],
        ['w', 1, null],
        'the held row is unchanged',
      );
      assert.deepEqual(
        [(await live(s.store, unleased!))?.lockedBy, (await live(s.store, unleased!))?.attempts],
        [null, 0],
      );
      assert.deepEqual(await allArchived(s.store), []);
    });

    it('completed with archive: the row moves to the archive as completed, with its own last error', async () => {
      const payload = encodePayload({ keep: 'me' });
      const [id] = await insert(s.store, [
        row({ payload, eventName: 'e.done', handlerName: 'h.done', maxRetries: 2, priority: -3 }),
      ]);
      await claim(s.store, 'q');
      await s.store.settle({
        workerId: 'w',
        outcomes: [{ kind: 'retry', id: id!, attempt: 1, delayMs: 0, error: 'first try failed' }],
      });
      await claim(s.store, 'q');
      const createdAt = (await live(s.store, id!))!.createdAt;
      const { result, before, after } = await timed(s.store, () =>
        s.store.settle({
          workerId: 'w',
          outcomes: [{ kind: 'completed', id: id!, attempt: 2, archive: true }],
        }),
      );
      assert.deepEqual(result, { settled: [id] });
      assert.equal(await live(s.store, id!), undefined, 'gone from the live table');
      const a = await archived(s.store, id!);
      assert.ok(a);
      assert.deepEqual(
        [
          a.id,
          a.queue,
          a.eventName,
          a.handlerName,
          a.attempts,
          a.maxRetries,
          a.priority,
          a.status,
          a.lastError,
        ],
        [id, 'q', 'e.done', 'h.done', 2, 2, -3, 'completed', 'first try failed'],
      );
      assertBytes(a.payload, payload, 'archived payload');
      assert.equal(a.createdAt.toISOString(), createdAt.toISOString());
      assertWithin(a.finishedAt, before, after, 'finishedAt');
    });

    it('completed or failed without archive: the row is gone from both tables', async () => {
      const a = await held(s.store);
      const b = await held(s.store);
      const { settled } = await s.store.settle({
        workerId: 'w',
        outcomes: [
          { kind: 'completed', id: a.id, attempt: 1, archive: false },
          { kind: 'failed', id: b.id, attempt: 1, archive: false, error: 'gone' },
        ],
      });
      assert.deepEqual(sorted(settled), sorted([a.id, b.id]));
      assert.deepEqual(await allLive(s.store), []);
      assert.deepEqual(await allArchived(s.store), []);
    });

    it("failed with archive: archived as failed with the outcome's error", async () => {
      const c = await held(s.store, { maxRetries: 0 });
      const { before, after } = await timed(s.store, () =>
        s.store.settle({
          workerId: 'w',
          outcomes: [{ kind: 'failed', id: c.id, attempt: 1, archive: true, error: 'no tries left' }],
        }),
      );
      const a = await archived(s.store, c.id);
      assert.deepEqual([a?.status, a?.lastError, a?.attempts], ['failed', 'no tries left', 1]);
      assertWithin(a?.finishedAt, before, after, 'finishedAt');
      assert.equal(await live(s.store, c.id), undefined);
    });

    it('retry: due after the delay, lease cleared, error set, attempts kept', async () => {
      const later = await held(s.store, { maxRetries: 5 });
      const now = await held(s.store, { maxRetries: 5 });
      const { result, before, after } = await timed(s.store, () =>
        s.store.settle({
          workerId: 'w',
          outcomes: [
            { kind: 'retry', id: later.id, attempt: 1, delayMs: 3_600_000, error: 'in an hour' },
            { kind: 'retry', id: now.id, attempt: 1, delayMs: 0, error: 'at once' },
          ],
        }),
      );
      assert.deepEqual(sorted(result.settled), sorted([later.id, now.id]));
      const r1 = await live(s.store, later.id);
      assert.deepEqual(
        [r1?.lockedBy, r1?.lockedUntil, r1?.lastError, r1?.attempts],
        [null, null, 'in an hour', 1],
      );
      assertWithin(r1?.scheduledAt, before + 3_600_000, after + 3_600_000, 'due in an hour');
      const r2 = await live(s.store, now.id);
      assertWithin(r2?.scheduledAt, before, after, 'due at once');
      assert.deepEqual(
        (await claim(s.store, 'q')).map((c) => [c.id, c.attempts]),
        [[now.id, 2]],
        'only the retry due at once is claimable, at attempt 2',
      );
    });

    it('a mixed batch: every kind at once, strangers left out', async () => {
      const ids = await insert(
        s.store,
        Array.from({ length: 6 }, () => row({ maxRetries: 3 })),
      );
      await claim(s.store, 'q');
      const [c1, c2, f1, f2, r1, r2] = ids as [string, string, string, string, string, string];
      const [other] = await insert(s.store, [row({ queue: 'elsewhere' })]);
      await claim(s.store, 'elsewhere', 'someone-else');
      const { settled } = await s.store.settle({
        workerId: 'w',
        outcomes: [
          { kind: 'completed', id: c1, attempt: 1, archive: true },
          { kind: 'completed', id: c2, attempt: 1, archive: false },
          { kind: 'failed', id: f1, attempt: 1, archive: true, error: 'f1' },
          { kind: 'failed', id: f2, attempt: 1, archive: false, error: 'f2' },
          { kind: 'retry', id: r1, attempt: 1, delayMs: 0, error: 'r1' },
          { kind: 'retry', id: r2, attempt: 1, delayMs: 3_600_000, error: 'r2' },
          { kind: 'completed', id: other!, attempt: 1, archive: true },
          { kind: 'completed', id: String(BigInt(r2) + 1_000_000n), attempt: 1, archive: true },
        ],
      });
      assert.deepEqual(sorted(settled), sorted([c1, c2, f1, f2, r1, r2]));
      const archive = new Map((await allArchived(s.store)).map((a) => [a.id, a]));
      assert.deepEqual(sorted([...archive.keys()]), sorted([c1, f1]));
      assert.deepEqual([archive.get(c1)?.status, archive.get(c1)?.lastError], ['completed', null]);
      assert.deepEqual([archive.get(f1)?.status, archive.get(f1)?.lastError], ['failed', 'f1']);
      const rest = new Map((await allLive(s.store)).map((r) => [r.id, r]));
      assert.deepEqual(sorted([...rest.keys()]), sorted([r1, r2, other!]));
      assert.deepEqual([rest.get(r1)?.lastError, rest.get(r1)?.lockedBy], ['r1', null]);
      assert.deepEqual([rest.get(r2)?.lastError, rest.get(r2)?.lockedBy], ['r2', null]);
      assert.equal(rest.get(other!)?.lockedBy, 'someone-else');
    });

    it('a row settles once: the same outcome again is refused', async () => {
      const c = await held(s.store);
      const outcome: SettleOutcome = { kind: 'completed', id: c.id, attempt: 1, archive: true };
      assert.deepEqual(await s.store.settle({ workerId: 'w', outcomes: [outcome] }), { settled: [c.id] });
      assert.deepEqual(await s.store.settle({ workerId: 'w', outcomes: [outcome] }), { settled: [] });
      assert.equal((await allArchived(s.store)).length, 1);
    });

    it('a lease past its end still counts until rescue takes the row', async () => {
      const c = await held(s.store, {}, 'slow', 1);
      await untilExpired(s.store, 'q', [c.id]);
      assert.deepEqual(
        await s.store.settle({
          workerId: 'slow',
          outcomes: [{ kind: 'completed', id: c.id, attempt: 1, archive: true }],
        }),
        { settled: [c.id] },
      );
      assert.equal((await archived(s.store, c.id))?.status, 'completed');
    });

    it('inside a transaction: applied at commit, and a rollback changes nothing', async () => {
      const a = await held(s.store);
      const b = await held(s.store);
      const error = await s.store
        .transaction(async (tx) => {
          const r = await s.store.settle({
            tx,
            workerId: 'w',
            outcomes: [
              { kind: 'completed', id: a.id, attempt: 1, archive: true },
              { kind: 'retry', id: b.id, attempt: 1, delayMs: 0, error: 'e' },
            ],
          });
          assert.deepEqual(sorted(r.settled), sorted([a.id, b.id]), 'the fence held inside the transaction');
          throw new Error('roll back');
        })
        .catch((e: unknown) => e);
      assert.equal((error as Error).message, 'roll back');
      for (const c of [a, b]) {
        const r = await live(s.store, c.id);
        assert.deepEqual([r?.lockedBy, r?.attempts, r?.lastError], ['w', 1, null], `${c.id} unchanged`);
      }
      assert.deepEqual(await allArchived(s.store), []);

      const committed = await s.store.transaction((tx) =>
        s.store.settle({
          tx,
          workerId: 'w',
          outcomes: [{ kind: 'completed', id: a.id, attempt: 1, archive: true }],
        }),
      );
      assert.deepEqual(committed, { settled: [a.id] });
      assert.equal((await archived(s.store, a.id))?.status, 'completed');
      assert.equal(await live(s.store, a.id), undefined);
    });
  });
}

/** `settle`'s `snooze` and `cancelled` outcomes. */
export function settleJobControlTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('settle: snooze and cancelled', () => {
    it('snooze: due at now + delayMs, lease cleared, the attempt given back, snoozes + 1, last error kept', async () => {
      const c = await held(s.store, { maxRetries: 0 });
      await s.store.settle({
        workerId: 'w',
        outcomes: [{ kind: 'retry', id: c.id, attempt: 1, delayMs: 0, error: 'first failure' }],
      });
      const [again] = await claim(s.store, 'q');
      assert.equal(again?.attempts, 2);
      const { result, before, after } = await timed(s.store, () =>
        s.store.settle({
          workerId: 'w',
          outcomes: [{ kind: 'snooze', id: c.id, attempt: 2, delayMs: 60_000 }],
        }),
      );
      assert.deepEqual(result, { settled: [c.id] });
      const r = await live(s.store, c.id);
      assert.deepEqual(
        [r?.attempts, r?.snoozes, r?.lockedBy, r?.lockedUntil, r?.lastError],
        [1, 1, null, null, 'first failure'],
      );
      assertWithin(r?.scheduledAt, before + 60_000, after + 60_000, 'due after the delay');
      assert.deepEqual(await claim(s.store, 'q'), [], 'not due yet');
    });

    it('snooze many times: attempts stay, snoozes count, claim reports them', async () => {
      const [id] = await insert(s.store, [row()]);
      for (let n = 1; n <= 5; n++) {
        const [c] = await claim(s.store, 'q');
        assert.deepEqual([c?.id, c?.attempts, c?.snoozes], [id, 1, n - 1], `claim ${n}`);
        assert.deepEqual(
          await s.store.settle({
            workerId: 'w',
            outcomes: [{ kind: 'snooze', id: id!, attempt: 1, delayMs: 0 }],
          }),
          { settled: [id] },
        );
      }
      const r = await live(s.store, id!);
      assert.deepEqual([r?.attempts, r?.snoozes], [0, 5]);
    });

    it('snooze and cancelled are fenced like every outcome', async () => {
      const c = await held(s.store);
      const outcomes = [
        { kind: 'snooze' as const, id: c.id, attempt: 1, delayMs: 0 },
        { kind: 'cancelled' as const, id: c.id, attempt: 1, archive: true, error: 'x' },
      ];
      for (const outcome of outcomes) {
        assert.deepEqual(await s.store.settle({ workerId: 'other', outcomes: [outcome] }), { settled: [] });
        assert.deepEqual(await s.store.settle({ workerId: 'w', outcomes: [{ ...outcome, attempt: 2 }] }), {
          settled: [],
        });
      }
      const r = await live(s.store, c.id);
      assert.deepEqual([r?.lockedBy, r?.attempts, r?.snoozes], ['w', 1, 0]);
    });

    it('cancelled: the row leaves the hot table, archived as cancelled with the reason, or dropped', async () => {
      const a = await held(s.store, { queue: 'cx' });
      const b = await held(s.store, { queue: 'cy' });
      const { before, after } = await timed(s.store, () =>
        s.store.settle({
          workerId: 'w',
          outcomes: [
            { kind: 'cancelled', id: a.id, attempt: 1, archive: true, error: 'order withdrawn' },
            { kind: 'cancelled', id: b.id, attempt: 1, archive: false, error: 'dropped' },
          ],
        }),
      );
      assert.deepEqual(await allLive(s.store), []);
      const x = await archived(s.store, a.id);
      assert.deepEqual([x?.status, x?.lastError, x?.attempts], ['cancelled', 'order withdrawn', 1]);
      assertWithin(x?.finishedAt, before, after, 'finishedAt');
      assert.equal(await archived(s.store, b.id), undefined);
      assert.deepEqual(
        (await s.store.inspect.countByQueue()).map((c) => [c.queue, c.archivedCancelled, c.archivedFailed]),
        [['cx', 1, 0]],
      );
      assert.deepEqual(
        (await s.store.inspect.listArchive({ status: 'cancelled', limit: 10 })).map((r) => r.id),
        [a.id],
      );
    });
  });
}
