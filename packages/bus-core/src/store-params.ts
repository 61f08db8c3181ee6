import type { ArchiveStatus, ListArchiveParams, LiveState, RowFilter } from './contract/inspect.js';
import { CONTRACT_LIMITS, isRowId } from './contract/limits.js';
import type { SettleOutcome } from './contract/settle.js';
import { BusError } from './errors.js';

const { maxErrorChars, maxDelayMs, maxListLimit, maxIds, maxNameLength } = CONTRACT_LIMITS;
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
 * outcome of an id wins (a later one is a duplicate, never applied), error text (of failures and
 * cancels) is truncated and retry and snooze delays clamped.
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
    else if (item.kind === 'snooze') outcomes.push({ ...item, delayMs: clampDelay(item.delayMs) });
    else outcomes.push({ ...item, error: truncateError(item.error) });
  }
  return { outcomes, duplicates };
}

/** Inspection filters as a user may pass them to `bus.inspect` and `bus.admin`. */
export interface InspectFilter {
  queue?: string;
  eventName?: string;
  handlerName?: string;
  errorContains?: string;
  /** Live lists only. */
  state?: LiveState;
  ids?: readonly string[];
  afterId?: string;
  newestFirst?: boolean;
  limit?: number;
  /** Archive lists only. */
  status?: ArchiveStatus;
}

/** Inspection filters as every store receives them (a live list ignores `status`, an archive list `state`). */
export type PreparedListParams = ListArchiveParams & { state?: LiveState };

const ARCHIVE_STATUSES: readonly ArchiveStatus[] = ['completed', 'failed', 'cancelled'];
const LIVE_STATES: readonly LiveState[] = ['available', 'scheduled', 'running'];
const FILTER_KEYS: ReadonlySet<string> = new Set<keyof InspectFilter>([
  'queue',
  'eventName',
  'handlerName',
  'errorContains',
  'state',
  'ids',
  'afterId',
  'newestFirst',
  'limit',
  'status',
]);

/**
 * Inspection filters as every store receives them, or `undefined` when they can match no row
 * (ids that are not row ids). A bad `limit`, name, state, status, id list or an unknown key is
 * an `INVALID_ARGUMENT` BusError, the same on every store. Without a limit the core asks for
 * `defaultLimit` rows (1000).
 *
 * @example
 * prepareListParams({ queue: 'email' }); // { queue: 'email', limit: 1000 }
 */
export function prepareListParams(
  filter: InspectFilter = {},
  options: { defaultLimit?: number; keys?: ReadonlySet<string> } = {},
): PreparedListParams | undefined {
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
    throw new BusError('INVALID_ARGUMENT', 'inspection filters must be an object', { value: filter });
  }
  assertKnownKeys(filter, options.keys ?? FILTER_KEYS, 'filter');
  const limit = filter.limit ?? options.defaultLimit ?? 1000;
  if (!Number.isInteger(limit) || limit < 1 || limit > maxListLimit) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `limit must be an integer from 1 to ${maxListLimit} (got ${String(filter.limit)})`,
      { value: filter.limit },
    );
  }
  const params: PreparedListParams = { limit, ...prepareRowFilter(filter) };
  if (filter.status !== undefined) {
    if (!ARCHIVE_STATUSES.includes(filter.status)) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `status must be one of ${ARCHIVE_STATUSES.join(', ')} (got ${String(filter.status)})`,
        { value: filter.status },
      );
    }
    params.status = filter.status;
  }
  if (filter.state !== undefined) params.state = prepareState(filter.state);
  if (filter.newestFirst !== undefined) {
    if (typeof filter.newestFirst !== 'boolean') {
      throw new BusError(
        'INVALID_ARGUMENT',
        `newestFirst must be a boolean (got ${String(filter.newestFirst)})`,
        {
          value: filter.newestFirst,
        },
      );
    }
    if (filter.newestFirst) params.newestFirst = true;
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
    const ids = prepareIds(filter.ids, maxIds).valid;
    if (ids.length === 0) return undefined;
    params.ids = ids;
  }
  return params;
}

/** A live state as every store receives it; anything else is `INVALID_ARGUMENT`. */
export function prepareState(state: unknown): LiveState {
  if (!LIVE_STATES.includes(state as LiveState)) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `state must be one of ${LIVE_STATES.join(', ')} (got ${String(state)})`,
      { value: state },
    );
  }
  return state as LiveState;
}

/** Archive statuses as every store receives them: 1 or more known statuses, each once. */
export function prepareStatuses(statuses: unknown): ArchiveStatus[] {
  if (!Array.isArray(statuses) || statuses.length === 0) {
    throw new BusError('INVALID_ARGUMENT', 'statuses must be a non-empty array of archive statuses', {
      value: statuses,
    });
  }
  for (const s of statuses) {
    if (!ARCHIVE_STATUSES.includes(s)) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `statuses: each must be one of ${ARCHIVE_STATUSES.join(', ')} (got ${String(s)})`,
        { value: s },
      );
    }
  }
  return [...new Set(statuses as ArchiveStatus[])];
}

/**
 * The shared row filter fields (queue, eventName, handlerName, errorContains), checked: each a
 * string of 1 to `maxNameLength` characters. `errorContains` is shaped like stored error text
 * (U+0000 and lone surrogates become U+FFFD), so it finds the text an error was stored as; a
 * name with U+0000 is refused (no name can hold it, and PostgreSQL text cannot carry it).
 */
export function prepareRowFilter(filter: RowFilter): RowFilter {
  const out: RowFilter = {};
  for (const key of ['queue', 'eventName', 'handlerName', 'errorContains'] as const) {
    const value = filter[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length === 0 || value.length > maxNameLength) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `${key} must be a string of 1 to ${maxNameLength} characters (got ${describeValue(value)})`,
        { value },
      );
    }
    if (key === 'errorContains') out.errorContains = truncateError(value);
    else if (value.includes('\u0000')) {
      throw new BusError('INVALID_ARGUMENT', `${key} must not contain U+0000`, { value });
    } else out[key] = value;
  }
  return out;
}

/**
 * Splits a list of ids given by a user into row ids (each once, in the order given) and the
 * strings that cannot be row ids. More than `max` entries, or not an array, is `INVALID_ARGUMENT`.
 */
export function prepareIds(ids: unknown, max: number): { valid: string[]; invalid: string[] } {
  if (!Array.isArray(ids) || ids.length > max) {
    throw new BusError('INVALID_ARGUMENT', `ids must be an array of at most ${max} ids`, {
      value: Array.isArray(ids) ? ids.length : ids,
    });
  }
  const valid = new Set<string>();
  const invalid: string[] = [];
  for (const id of ids) {
    if (isRowId(id)) valid.add(id);
    else invalid.push(typeof id === 'string' ? id : String(id));
  }
  return { valid: [...valid], invalid };
}

/** Refuses keys outside `keys` (a misspelt filter field would otherwise widen the match in silence). */
export function assertKnownKeys(value: object, keys: ReadonlySet<string>, what: string): void {
  const unknown = Object.keys(value).filter((k) => !keys.has(k));
  if (unknown.length > 0) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `${what}: unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')} (the fields are ${[...keys].join(', ')})`,
      { value: unknown },
    );
  }
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return `${value.length} characters`;
  return typeof value === 'object' && value !== null ? 'an object' : String(value);
}
