import type { NewEventRow } from './contract/insert.js';
import { CONTRACT_LIMITS } from './contract/limits.js';
import type { QueueStore } from './contract/store.js';
import type { RowUniqueness, UniqueInsertResult, UniqueNewEventRow } from './contract/unique.js';
import { BusError } from './errors.js';
import type { RegisteredHandler } from './registry.js';

/**
 * Which rows a key covers: `live` (default) while a row with the key is in the hot table (queued,
 * scheduled or running); `archive` also after it finished, until the period ends.
 */
export type UniqueScope = 'live' | 'archive';

/** A key given at publish: the same text for every handler's row, or a function of the payload. */
export type UniqueKeySource<P = any> = string | ((payload: P) => string);

/** The uniqueness of one publish (`PublishOptions.unique`), overriding the handlers' settings. */
export interface UniqueOptions<P = any> {
  /** The key; without it each handler's `settings.unique` derives one (a handler without any gets a plain row). */
  key?: UniqueKeySource<P>;
  /** A window in ms: the key is unique within each period (its bucket, by database time). */
  period?: number;
  /** The rows the key covers (default `live`); `archive` needs a `period`. */
  scope?: UniqueScope;
  /** `return` (default): a duplicate resolves with the existing row's id; `throw`: rejects with `DUPLICATE_PUBLISH`. */
  onDuplicate?: 'return' | 'throw';
}

/** A handler's unique settings (`settings.unique`): derive a key from every payload it gets. */
export interface HandlerUniqueSettings<P = any> {
  /** Top-level payload fields whose values make the key (JSON, object keys sorted). */
  fields?: readonly string[];
  /** Or a function of the payload returning the key. */
  key?: (payload: P) => string;
  /** A window in ms, as in `UniqueOptions.period`. */
  period?: number;
  /** As in `UniqueOptions.scope`. */
  scope?: UniqueScope;
}

const { maxUniqueKeyChars, maxDelayMs } = CONTRACT_LIMITS;

function assertPeriod(value: unknown, fail: (rule: string, value: unknown) => never): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > maxDelayMs) {
    fail(`period must be an integer number of ms from 1 to ${maxDelayMs}`, value);
  }
}

function assertScope(scope: unknown, period: unknown, fail: (rule: string, value: unknown) => never): void {
  if (scope === undefined || scope === 'live') return;
  if (scope !== 'archive') fail(`scope must be 'live' or 'archive'`, scope);
  if (period === undefined)
    fail(`scope 'archive' needs a period (how long finished rows keep the key)`, scope);
}

/**
 * Checks a handler's `settings.unique` at registration, so a bad key setting fails at start-up.
 *
 * @example
 * validateHandlerUnique('send-email', { fields: ['userId'], period: 60_000 });
 */
export function validateHandlerUnique(handlerName: string, unique: unknown): void {
  const fail = (rule: string, value: unknown): never => {
    throw new BusError('INVALID_HANDLER', `handler ${handlerName}: settings.unique ${rule}`, { value });
  };
  if (unique === undefined) return;
  if (typeof unique !== 'object' || unique === null) fail('must be an object', unique);
  const u = unique as Record<string, unknown>;
  for (const name of Object.keys(u)) {
    if (!['fields', 'key', 'period', 'scope'].includes(name)) fail(`has an unknown option ${name}`, name);
  }
  if ((u.fields === undefined) === (u.key === undefined)) fail('needs exactly one of fields or key', unique);
  if (u.fields !== undefined) {
    const fields = u.fields;
    if (
      !Array.isArray(fields) ||
      fields.length === 0 ||
      fields.some((f) => typeof f !== 'string' || f.length === 0) ||
      new Set(fields).size !== fields.length
    ) {
      fail('.fields must be a non-empty array of distinct field names', fields);
    }
  }
  if (u.key !== undefined && typeof u.key !== 'function')
    fail('.key must be a function of the payload', u.key);
  assertPeriod(u.period, (rule, value) => fail(`.${rule}`, value));
  assertScope(u.scope, u.period, (rule, value) => fail(`.${rule}`, value));
}

/**
 * Checks `PublishOptions.unique` before anything is written.
 *
 * @example
 * validateUniqueOptions({ key: 'order-42', period: 3_600_000 });
 */
export function validateUniqueOptions(unique: unknown): void {
  const fail = (rule: string, value: unknown): never => {
    throw new BusError('INVALID_ARGUMENT', `unique.${rule}`, { value });
  };
  if (typeof unique !== 'object' || unique === null) {
    throw new BusError('INVALID_ARGUMENT', `unique must be an object (got ${String(unique)})`, {
      value: unique,
    });
  }
  const u = unique as Record<string, unknown>;
  for (const name of Object.keys(u)) {
    if (!['key', 'period', 'scope', 'onDuplicate'].includes(name)) fail(`${name} is not an option`, name);
  }
  if (u.key !== undefined && typeof u.key !== 'string' && typeof u.key !== 'function') {
    fail('key must be a string or a function of the payload', u.key);
  }
  assertPeriod(u.period, fail);
  assertScope(u.scope, u.period, fail);
  if (u.onDuplicate !== undefined && u.onDuplicate !== 'return' && u.onDuplicate !== 'throw') {
    fail(`onDuplicate must be 'return' or 'throw'`, u.onDuplicate);
  }
}

/**
 * A key as the contract takes it: a string of 1 to `maxUniqueKeyChars` characters without U+0000,
 * else `INVALID_ARGUMENT` naming the handler.
 *
 * @example
 * checkedKey('order-42', 'ship-order'); // 'order-42'
 */
export function checkedKey(key: unknown, handlerName: string): string {
  if (typeof key !== 'string') {
    throw new BusError(
      'INVALID_ARGUMENT',
      `the unique key for handler ${handlerName} must be a string (got ${typeof key})`,
      { value: key },
    );
  }
  if (key.length === 0 || key.length > maxUniqueKeyChars || key.includes('\u0000')) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `the unique key for handler ${handlerName} must be 1 to ${maxUniqueKeyChars} characters without U+0000 (got ${key.length})`,
      { value: key },
    );
  }
  return key;
}

/** JSON with object keys sorted, so equal payload values make equal keys. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  if (typeof value === 'bigint') return `${value}n`;
  return JSON.stringify(value) ?? 'undefined';
}

function callKey(fn: (payload: unknown) => unknown, payload: unknown, handlerName: string): unknown {
  try {
    return fn(payload);
  } catch (cause) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `the unique key function for handler ${handlerName} threw: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause, value: handlerName },
    );
  }
}

/**
 * The uniqueness of each fanned-out row (`null`: a plain row), in `publishRows` order (payload by
 * payload, handler by handler): the publish's own `unique` first, else each handler's settings.
 *
 * @example
 * const keys = uniquenessOfRows(handlers, payloads, { key: 'order-42' });
 */
export function uniquenessOfRows(
  handlers: readonly RegisteredHandler[],
  payloads: readonly unknown[],
  options: UniqueOptions | undefined,
): (RowUniqueness | null)[] {
  const result: (RowUniqueness | null)[] = [];
  for (const payload of payloads) {
    for (const handler of handlers) {
      const settings = (handler.settings as { unique?: HandlerUniqueSettings }).unique;
      let key: unknown;
      let period: number | undefined;
      let scope: UniqueScope | undefined;
      if (options?.key !== undefined) {
        key = typeof options.key === 'function' ? callKey(options.key, payload, handler.name) : options.key;
        period = options.period;
        scope = options.scope;
      } else if (settings !== undefined) {
        if (settings.key !== undefined) key = callKey(settings.key, payload, handler.name);
        else key = fieldsKey(settings.fields ?? [], payload, handler.name);
        period = options?.period ?? settings.period;
        scope = options?.scope ?? settings.scope;
      } else {
        result.push(null);
        continue;
      }
      const bucketMs = period ?? null;
      result.push({
        key: checkedKey(key, handler.name),
        bucketMs,
        holdMs: scope === 'archive' ? bucketMs : null,
      });
    }
  }
  return result;
}

function fieldsKey(fields: readonly string[], payload: unknown, handlerName: string): string {
  if (typeof payload !== 'object' || payload === null) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `handler ${handlerName} derives its unique key from payload fields, but the payload is not an object`,
      { value: payload },
    );
  }
  const record = payload as Record<string, unknown>;
  return fields.map((f) => `${f}=${stableJson(record[f])}`).join('&');
}

/**
 * Inserts fanned-out rows, keyed ones through `store.unique.insert` and plain ones through
 * `store.insert`, in one transaction (the caller's `tx`, or one of the store's). Results are in
 * row order; plain rows are never duplicates.
 *
 * @example
 * const results = await insertKeyedRows(store, rows, keys);
 */
export async function insertKeyedRows<TTx>(
  store: QueueStore<TTx>,
  rows: readonly NewEventRow[],
  keys: readonly (RowUniqueness | null)[],
  tx: TTx | undefined,
): Promise<UniqueInsertResult[]> {
  const keyed: UniqueNewEventRow[] = [];
  const plain: NewEventRow[] = [];
  rows.forEach((row, i) => {
    const unique = keys[i];
    if (unique === null || unique === undefined) plain.push(row);
    else keyed.push({ ...row, unique });
  });
  const run = async (t: TTx | undefined): Promise<UniqueInsertResult[]> => {
    const keyedResults: UniqueInsertResult[] = [];
    for (let i = 0; i < keyed.length; i += CONTRACT_LIMITS.maxBatch) {
      const batch = keyed.slice(i, i + CONTRACT_LIMITS.maxBatch);
      keyedResults.push(
        ...(await store.unique.insert(t === undefined ? { rows: batch } : { rows: batch, tx: t })),
      );
    }
    const plainIds =
      plain.length === 0
        ? []
        : await store.insert(t === undefined ? { rows: plain } : { rows: plain, tx: t });
    let k = 0;
    let p = 0;
    return keys.map((unique) =>
      unique === null || unique === undefined ? { id: plainIds[p++]!, duplicate: false } : keyedResults[k++]!,
    );
  };
  if (tx !== undefined) return run(tx);
  // One keyed batch alone is atomic in the store; more than that needs a transaction of its own.
  if (plain.length === 0 && keyed.length <= CONTRACT_LIMITS.maxBatch) return run(undefined);
  return store.transaction((t) => run(t));
}
