import { describe, expect, it } from 'vitest';
import { shouldArchive } from '../src/archive-policy.js';
import { CONTRACT_LIMITS, isRowId } from '../src/contract/limits.js';
import type { SettleOutcome } from '../src/contract/settle.js';
import { isBusError } from '../src/errors.js';
import { dueOf } from '../src/publish-rows.js';
import { prepareListParams, prepareOutcomes, truncateError } from '../src/store-params.js';

describe('what the core guarantees a store (store-params)', () => {
  it('cuts error text once, to maxErrorChars with an ellipsis, and leaves short text alone', () => {
    const cut = truncateError('x'.repeat(10_000));
    expect(cut).toHaveLength(CONTRACT_LIMITS.maxErrorChars);
    expect(cut.endsWith('…')).toBe(true);
    expect(truncateError('short')).toBe('short');
    expect(truncateError('a\u0000b')).toBe('a\uFFFDb');
    expect(truncateError('lone \ud800 half')).toBe('lone \uFFFD half');
    const rockets = truncateError('🚀'.repeat(3000));
    expect(rockets.length).toBeLessThanOrEqual(CONTRACT_LIMITS.maxErrorChars);
    expect(rockets).toBe(`${'🚀'.repeat(1999)}…`);
    expect(truncateError('y'.repeat(CONTRACT_LIMITS.maxErrorChars))).toHaveLength(
      CONTRACT_LIMITS.maxErrorChars,
    );
  });

  it('keeps the first outcome of an id and reports the later ones as duplicates', () => {
    const first: SettleOutcome = { kind: 'completed', id: '1', attempt: 1, archive: true };
    const second: SettleOutcome = { kind: 'failed', id: '1', attempt: 1, archive: true, error: 'x' };
    const other: SettleOutcome = { kind: 'retry', id: '2', attempt: 1, delayMs: 5, error: 'e' };
    const { outcomes, duplicates } = prepareOutcomes([first, second, other]);
    expect(outcomes.map((o) => [o.id, o.kind])).toEqual([
      ['1', 'completed'],
      ['2', 'retry'],
    ]);
    expect(duplicates).toEqual([second]);
  });

  it('clamps retry delays into 0..maxDelayMs and rounds them', () => {
    const delays = [Number.NaN, -5, 1.6, Number.POSITIVE_INFINITY, 1e30].map(
      (delayMs, i) => ({ kind: 'retry', id: String(i + 1), attempt: 1, delayMs, error: 'e' }) as const,
    );
    const { outcomes } = prepareOutcomes(delays);
    expect(outcomes.map((o) => (o.kind === 'retry' ? o.delayMs : -1))).toEqual([
      0,
      0,
      2,
      0,
      CONTRACT_LIMITS.maxDelayMs,
    ]);
  });

  it('refuses a bad inspection limit, status or afterId with INVALID_ARGUMENT, and drops ids no row can have', () => {
    for (const limit of [0, -1, 1.5, Number.NaN, CONTRACT_LIMITS.maxListLimit + 1]) {
      let error: unknown;
      try {
        prepareListParams({ limit });
      } catch (e) {
        error = e;
      }
      expect(isBusError(error, 'INVALID_ARGUMENT'), `limit ${limit}`).toBe(true);
    }
    expect(() => prepareListParams({ status: 'cancel' as never })).toThrow(/status/);
    expect(() => prepareListParams({ afterId: 'abc' })).toThrow(/afterId/);
    expect(prepareListParams({ ids: ['x', '-1', '01'] })).toBeUndefined();
    expect(prepareListParams({ ids: ['7', '7', 'x'], queue: 'q' })).toEqual({
      ids: ['7'],
      queue: 'q',
      limit: 1000,
    });
    expect(prepareListParams()).toEqual({ limit: 1000 });
  });

  it('has one row id format: a positive signed 64-bit integer in decimal, no leading zeros', () => {
    expect(isRowId('1')).toBe(true);
    expect(isRowId('9223372036854775807')).toBe(true);
    expect(isRowId('9223372036854775808')).toBe(false);
    for (const bad of ['0', '01', '-1', '1.0', ' 1', '', 'abc', 1 as unknown])
      expect(isRowId(bad)).toBe(false);
  });

  it('turns publish options into the one due field, refusing bad values', () => {
    expect(dueOf({})).toBe(0);
    expect(dueOf({ delay: 1.4 })).toBe(1);
    const at = new Date('2030-01-01T00:00:00Z');
    expect(dueOf({ delay: 5, runAt: at })).toEqual(at);
    for (const options of [
      { delay: -1 },
      { delay: Number.NaN },
      { delay: CONTRACT_LIMITS.maxDelayMs + 1 },
      { runAt: new Date(Number.NaN) },
      { runAt: new Date('1969-12-31T00:00:00Z') },
      { runAt: new Date(Date.UTC(10_000, 0, 1)) },
      { runAt: '2030-01-01' as unknown as Date },
    ]) {
      expect(() => dueOf(options), JSON.stringify(options)).toThrow(/INVALID_ARGUMENT/);
    }
  });
});

describe('job-control inputs (store-params)', () => {
  it('clamps snooze delays and shapes cancel reasons like other outcomes', () => {
    const { outcomes } = prepareOutcomes([
      { kind: 'snooze', id: '1', attempt: 1, delayMs: -4 },
      { kind: 'snooze', id: '2', attempt: 1, delayMs: 1e30 },
      { kind: 'cancelled', id: '3', attempt: 1, archive: true, error: `a\u0000${'x'.repeat(5000)}` },
    ]);
    expect(outcomes.map((o) => (o.kind === 'snooze' ? o.delayMs : -1))).toEqual([
      0,
      CONTRACT_LIMITS.maxDelayMs,
      -1,
    ]);
    const cancelled = outcomes[2]!;
    expect(cancelled.kind === 'cancelled' && cancelled.error.startsWith('a\uFFFD')).toBe(true);
    expect(cancelled.kind === 'cancelled' && cancelled.error.length).toBe(CONTRACT_LIMITS.maxErrorChars);
  });

  it('passes the new list filters on checked, and refuses garbage in each with INVALID_ARGUMENT', () => {
    expect(
      prepareListParams({
        eventName: 'e',
        handlerName: 'h',
        errorContains: '50%_',
        state: 'running',
        newestFirst: true,
        status: 'cancelled',
        limit: 5,
      }),
    ).toEqual({
      eventName: 'e',
      handlerName: 'h',
      errorContains: '50%_',
      state: 'running',
      newestFirst: true,
      status: 'cancelled',
      limit: 5,
    });
    expect(prepareListParams({ newestFirst: false })).toEqual({ limit: 1000 });
    // Stored error text has U+FFFD where U+0000 was: the search text is shaped the same way.
    expect(prepareListParams({ errorContains: 'a\u0000b' })?.errorContains).toBe('a\uFFFDb');
    const bad: unknown[] = [
      { state: 'done' },
      { eventName: '' },
      { handlerName: 'h'.repeat(201) },
      { queue: 'q\u0000' },
      { errorContains: 7 },
      { newestFirst: 'yes' },
      { queueName: 'q' },
      [],
    ];
    for (const filter of bad) {
      let error: unknown;
      try {
        prepareListParams(filter as never);
      } catch (e) {
        error = e;
      }
      expect(isBusError(error, 'INVALID_ARGUMENT'), JSON.stringify(filter)).toBe(true);
    }
  });

  it('keeps cancelled rows where the policy keeps failures', () => {
    expect(
      (['all', 'failed', 'completed', 'none'] as const).map((p) => shouldArchive(p, 'cancelled')),
    ).toEqual([true, true, false, false]);
  });
});
