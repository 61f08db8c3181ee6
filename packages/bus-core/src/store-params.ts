import type { ListArchiveParams } from './contract/inspect.js';
import { CONTRACT_LIMITS, isRowId } from './contract/limits.js';
import type { SettleOutcome } from './contract/settle.js';
import { BusError } from './errors.js';

const { maxErrorChars, maxDelayMs, maxListLimit, maxIds } = CONTRACT_LIMITS;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Error text as every store receives it: at most `maxErrorChars` characters, cut with `…`, and
 * no U+0000 (it becomes U+FFFD). The one place error text is shaped, so every store keeps the same text.
 *
 * @example
 * truncateError('x'.repeat(10_000)).length; // 4000
 */
export function truncateError(text: unknown): string {
  // Well-formed UTF-16 without U+0000: PostgreSQL text cannot hold NUL, and a lone surrogate
  // would be stored as U+FFFD by one database and kept by another. Replaced here, for every store.
  let s = (typeof text === 'string' ? text : String(text)).replace(LONE_SURROGATE, '\uFFFD');
  if (s.includes('\u0000')) s = s.replaceAll('\u0000', '\uFFFD');
  if (s.length <= maxErrorChars) return s;
  // Cut on a code point boundary, never between the halves of a surrogate pair.
  let end = maxErrorChars - 1;
  const last = s.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${s.slice(0, end)}…`;
}

/** A delay as every store receives it: an integer from 0 to `maxDelayMs` (not a number: 0). */
export function clampDelay(ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) return 0;
  return Math.min(Math.round(ms), maxDelayMs);
}

/** What `prepareOutcomes` made of a list of outcomes. */
export interface PreparedOutcomes<T extends SettleOutcome> {
  /** Each id once (its first outcome), error text truncated and delays clamped: what the store gets. */
  outcomes: T[];
  /** Later outcomes for an id already in `outcomes`: refused without reaching the store. */
  duplicates: T[];
}

/**
 * Brings outcomes to the contract's guarantees before any `settle` or `rescue`: the first
 * outcome of an id wins (a later one is a duplicate, never applied), error text is truncated and
 * retry delays clamped.
 *
 * @example
 * const { outcomes } = prepareOutcomes([{ kind: 'completed', id: '1', attempt: 1, archive: false }]);
 */
export function prepareOutcomes<T extends SettleOutcome>(items: readonly T[]): PreparedOutcomes<T> {
  const seen = new Set<string>();
  const outcomes: T[] = [];
  const duplicates: T[] = [];
  for (const item of items) {
    if (seen.has(item.id)) {
      duplicates.push(item);
      continue;
    }
    seen.add(item.id);
    if (item.kind === 'completed') outcomes.push(item);
    else if (item.kind === 'retry')
      outcomes.push({ ...item, delayMs: clampDelay(item.delayMs), error: truncateError(item.error) });
    else outcomes.push({ ...item, error: truncateError(item.error) });
  }
  return { outcomes, duplicates };
}

/** Inspection filters as a user may pass them to `bus.inspect`. */
export interface InspectFilter {
  queue?: string;
  ids?: string[];
  afterId?: string;
  limit?: number;
  status?: ListArchiveParams['status'];
}

/**
 * Inspection filters as every store receives them, or `undefined` when they can match no row
 * (ids that are not row ids). A bad `limit`, queue, status or id list is an `INVALID_ARGUMENT`
 * BusError, the same on every store. Without a limit the core asks for 1000 rows.
 *
 * @example
 * prepareListParams({ queue: 'email' }); // { queue: 'email', limit: 1000 }
 */
export function prepareListParams(filter: InspectFilter = {}): ListArchiveParams | undefined {
  if (typeof filter !== 'object' || filter === null) {
    throw new BusError('INVALID_ARGUMENT', 'inspection filters must be an object', { value: filter });
  }
  const limit = filter.limit ?? 1000;
  if (!Number.isInteger(limit) || limit < 1 || limit > maxListLimit) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `limit must be an integer from 1 to ${maxListLimit} (got ${String(filter.limit)})`,
      { value: filter.limit },
    );
  }
  const params: ListArchiveParams = { limit };
  if (filter.queue !== undefined) {
    if (typeof filter.queue !== 'string') {
      throw new BusError('INVALID_ARGUMENT', `queue must be a string (got ${String(filter.queue)})`, {
        value: filter.queue,
      });
    }
    params.queue = filter.queue;
  }
  if (filter.status !== undefined) {
    if (filter.status !== 'completed' && filter.status !== 'failed') {
      throw new BusError(
        'INVALID_ARGUMENT',
        `status must be 'completed' or 'failed' (got ${String(filter.status)})`,
        { value: filter.status },
      );
    }
    params.status = filter.status;
  }
  if (filter.afterId !== undefined) {
    if (!isRowId(filter.afterId)) {
      throw new BusError('INVALID_ARGUMENT', `afterId must be a row id (got ${String(filter.afterId)})`, {
        value: filter.afterId,
      });
    }
    params.afterId = filter.afterId;
  }
  if (filter.ids !== undefined) {
    if (!Array.isArray(filter.ids) || filter.ids.length > maxIds) {
      throw new BusError('INVALID_ARGUMENT', `ids must be an array of at most ${maxIds} ids`, {
        value: filter.ids,
      });
    }
    const ids = [...new Set(filter.ids.filter(isRowId))];
    if (ids.length === 0) return undefined;
    params.ids = ids;
  }
  return params;
}
