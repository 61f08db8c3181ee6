import assert from 'node:assert/strict';
import { BusError, isBusError } from 'bus-core';
import {
  CONTRACT_LIMITS,
  prepareListParams,
  prepareOutcomes,
  type RescueDecision,
  type SettleOutcome,
  truncateError,
} from 'bus-core/driver';
import type { SuiteContext } from './context.js';
import {
  allLive,
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

/**
 * What the core normalizes once (`prepareOutcomes`, `prepareListParams`, `truncateError` from
 * `bus-core/driver`) lands the same on every store: the rules that differed between drivers
 * before contract v2, and the largest inputs the core passes (`CONTRACT_LIMITS`).
 */
export function coreGuaranteeTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('core guarantees', () => {
    it('duplicate outcome ids settle once: the first wins', async () => {
      const a = await held(s.store, { maxRetries: 3 });
      const b = await held(s.store, { maxRetries: 3 });
      const { outcomes, duplicates } = prepareOutcomes<SettleOutcome>([
        { kind: 'retry', id: a.id, attempt: 1, delayMs: 0, error: 'first' },
        { kind: 'completed', id: b.id, attempt: 1, archive: true },
        { kind: 'completed', id: a.id, attempt: 1, archive: true },
        { kind: 'retry', id: b.id, attempt: 1, delayMs: 0, error: 'second' },
      ]);
      assert.equal(duplicates.length, 2);
      const { settled } = await s.store.settle({ workerId: 'w', outcomes });
      assert.deepEqual(sorted(settled), sorted([a.id, b.id]), 'each id once');
      assert.equal((await live(s.store, a.id))?.lastError, 'first', 'a was retried, not completed');
      assert.equal(await archived(s.store, a.id), undefined);
      assert.equal((await archived(s.store, b.id))?.status, 'completed', 'b was completed, not retried');
    });

    it('a 10,000-character error is stored as exactly the truncated text', async () => {
      const long = 'é'.repeat(2_000) + 'x'.repeat(3_000) + '世'.repeat(5_000);
      const error = truncateError(long);
      assert.equal(error.length, CONTRACT_LIMITS.maxErrorChars);
      const a = await held(s.store, { maxRetries: 3 });
      const b = await held(s.store, { maxRetries: 0 });
      const { outcomes } = prepareOutcomes<SettleOutcome>([
        { kind: 'retry', id: a.id, attempt: 1, delayMs: 0, error: long },
        { kind: 'failed', id: b.id, attempt: 1, archive: true, error: long },
      ]);
      await s.store.settle({ workerId: 'w', outcomes });
      assert.equal((await live(s.store, a.id))?.lastError, error, 'retry');
      assert.equal((await archived(s.store, b.id))?.lastError, error, 'failed');
    });

    it('error text with emoji cut at the limit, a lone surrogate or a NUL is stored exactly as the core shaped it', async () => {
      const texts = ['🚀'.repeat(3_000), 'lone \ud800 half \udc00 end', 'nul \u0000 inside'];
      for (const text of texts) {
        const error = truncateError(text);
        const a = await held(s.store, { maxRetries: 3 });
        const { outcomes } = prepareOutcomes<SettleOutcome>([
          { kind: 'retry', id: a.id, attempt: 1, delayMs: 0, error: text },
        ]);
        await s.store.settle({ workerId: 'w', outcomes });
        assert.equal((await live(s.store, a.id))?.lastError, error, JSON.stringify(text.slice(0, 20)));
      }
    });

    it('a huge, negative, NaN or infinite retry delay settles without error, clamped', async () => {
      const ids = await insert(
        s.store,
        Array.from({ length: 5 }, () => row({ maxRetries: 3 })),
      );
      await claim(s.store, 'q');
      const delays = [1e18, CONTRACT_LIMITS.maxDelayMs + 1, -5, Number.NaN, Number.POSITIVE_INFINITY];
      const { outcomes } = prepareOutcomes<SettleOutcome>(
        ids.map((id, n) => ({
          kind: 'retry',
          id,
          attempt: 1,
          delayMs: delays[n]!,
          error: `delay ${delays[n]}`,
        })),
      );
      const { result, before, after } = await timed(s.store, () =>
        s.store.settle({ workerId: 'w', outcomes }),
      );
      assert.deepEqual(sorted(result.settled), sorted(ids));
      const max = CONTRACT_LIMITS.maxDelayMs;
      assertWithin(
        (await live(s.store, ids[0]!))?.scheduledAt,
        before + max,
        after + max,
        '1e18: the maximum',
      );
      assertWithin(
        (await live(s.store, ids[1]!))?.scheduledAt,
        before + max,
        after + max,
        'over: the maximum',
      );
      for (const n of [2, 3, 4]) {
        assertWithin((await live(s.store, ids[n]!))?.scheduledAt, before, after, `${delays[n]}: at once`);
      }
    });

    it('rescue decisions go through the same normalization', async () => {
      const c = await held(s.store, { maxRetries: 3 }, 'dead', 1);
      await untilExpired(s.store, 'q', [c.id]);
      const { outcomes } = prepareOutcomes<RescueDecision>([
        { kind: 'retry', id: c.id, attempt: 1, workerId: 'dead', delayMs: 1e18, error: 'y'.repeat(9_000) },
        { kind: 'failed', id: c.id, attempt: 1, workerId: 'dead', archive: true, error: 'duplicate' },
      ]);
      assert.equal(outcomes.length, 1);
      const { result, before, after } = await timed(s.store, () => s.store.rescue({ decisions: outcomes }));
      assert.deepEqual(result, [c.id]);
      const r = await live(s.store, c.id);
      assert.equal(r?.lastError, truncateError('y'.repeat(9_000)));
      const max = CONTRACT_LIMITS.maxDelayMs;
      assertWithin(r?.scheduledAt, before + max, after + max, 'clamped delay');
    });

    it('a bad inspection limit is the same INVALID_ARGUMENT BusError, before any store call', async () => {
      for (const limit of [0, -1, 1.5, CONTRACT_LIMITS.maxListLimit + 1, Number.NaN, '10' as never]) {
        let error: unknown;
        try {
          prepareListParams({ limit });
        } catch (e) {
          error = e;
        }
        assert.ok(isBusError(error, 'INVALID_ARGUMENT'), `limit ${String(limit)}`);
        assert.ok(error instanceof BusError);
        assert.match(error.message, /limit must be an integer from 1 to 10000 \(got /);
      }
      // Ids that cannot be row ids never reach the store; valid ones among them do.
      const [id] = await insert(s.store, [row()]);
      assert.equal(prepareListParams({ ids: ['1 OR 1=1', '-1', '01', ''] }), undefined);
      const params = prepareListParams({ ids: ['1 OR 1=1', id!, `${id}; DELETE FROM bus_events`], limit: 5 });
      assert.deepEqual(params, { limit: 5, ids: [id] });
      assert.deepEqual(
        (await s.store.inspect.listEvents(params!)).map((r) => r.id),
        [id],
      );
      assert.deepEqual(prepareListParams(), { limit: 1000 });
      assert.equal((await s.store.inspect.listArchive(prepareListParams({ status: 'failed' })!)).length, 0);
    });

    it('takes the largest batches the core passes (maxBatch rows per call)', async () => {
      const n = CONTRACT_LIMITS.maxBatch;
      const ids = await insert(
        s.store,
        Array.from({ length: n + 10 }, () => row({ maxRetries: 1 })),
      );
      const claimed = await claimFor(s.store, { queue: 'q', limit: n, workerId: 'w', leaseMs: 600_000 });
      assert.equal(claimed.length, n);
      const events = claimed.map((c) => ({ id: c.id, attempt: c.attempts }));
      assert.equal((await s.store.extendLeases({ workerId: 'w', leaseMs: 600_000, events })).length, n);
      const half = events.slice(0, n / 2);
      assert.equal((await s.store.release({ workerId: 'w', events: half })).length, n / 2);
      const again = await claimFor(s.store, { queue: 'q', limit: n / 2, workerId: 'w', leaseMs: 600_000 });
      assert.equal(again.length, n / 2);
      const heldNow = [...events.slice(n / 2), ...again.map((c) => ({ id: c.id, attempt: c.attempts }))];
      const outcomes = heldNow.map(
        (e, i): SettleOutcome =>
          i % 3 === 0
            ? { kind: 'completed', id: e.id, attempt: e.attempt, archive: true }
            : i % 3 === 1
              ? { kind: 'failed', id: e.id, attempt: e.attempt, archive: false, error: 'f' }
              : { kind: 'retry', id: e.id, attempt: e.attempt, delayMs: 3_600_000, error: 'r' },
      );
      assert.equal(outcomes.length, n);
      const { settled } = await s.store.settle({ workerId: 'w', outcomes });
      assert.equal(settled.length, n);
      const gone = outcomes.filter((o) => o.kind !== 'retry').length;
      assert.equal((await allLive(s.store)).length, ids.length - gone);
    });

    it('takes names and worker ids at their maximum length, in characters beyond one byte', async () => {
      const name = '世'.repeat(CONTRACT_LIMITS.maxNameLength);
      const worker = '🚀'.repeat(CONTRACT_LIMITS.maxWorkerIdLength / 2);
      const [id] = await insert(s.store, [row({ queue: name, eventName: name, handlerName: name })]);
      const [c] = await claimFor(s.store, { queue: name, limit: 1, workerId: worker, leaseMs: 600_000 });
      assert.deepEqual([c?.id, c?.queue, c?.eventName, c?.handlerName], [id, name, name, name]);
      assert.equal((await live(s.store, id!))?.lockedBy, worker);
      const error = '界'.repeat(CONTRACT_LIMITS.maxErrorChars);
      await s.store.settle({
        workerId: worker,
        outcomes: [{ kind: 'failed', id: id!, attempt: 1, archive: true, error }],
      });
      const a = await archived(s.store, id!);
      assert.deepEqual([a?.queue, a?.lastError], [name, error]);
    });
  });
}
