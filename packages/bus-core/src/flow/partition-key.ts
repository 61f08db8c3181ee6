import { CONTRACT_LIMITS } from '../contract/limits.js';
import { BusError } from '../errors.js';

// A UTF-16 half without its other half: not text any database can store as it is.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Derives a row's partition key from its payload (`HandlerSettings.partitionKey`). */
export type PartitionKeyFunction<P = any> = (payload: P) => string;

/**
 * Throws `INVALID_PARTITION_KEY` unless `key` is a partition key every store can keep: a string
 * of 1 to `maxPartitionKeyChars` UTF-16 code units, well formed, without U+0000.
 *
 * @example
 * assertPartitionKey('account:42', 'publish option partitionKey');
 */
export function assertPartitionKey(key: unknown, what: string): asserts key is string {
  const max = CONTRACT_LIMITS.maxPartitionKeyChars;
  if (typeof key !== 'string') {
    throw new BusError('INVALID_PARTITION_KEY', `${what} must be a string (got ${typeof key})`, {
      value: key,
    });
  }
  if (key.length === 0 || key.length > max || key.includes('\u0000') || LONE_SURROGATE.test(key)) {
    throw new BusError(
      'INVALID_PARTITION_KEY',
      `${what} must be 1 to ${max} characters of well-formed text without U+0000 (got ${key.length} characters)`,
      { value: key },
    );
  }
}

/**
 * The partition key of one handler's row: the publish option when given, else the handler's key
 * function applied to the payload, else none. A function that throws or returns a bad key fails
 * the publish with `INVALID_PARTITION_KEY` (nothing is written).
 *
 * @example
 * partitionKeyOf('send-mail', (p: { account: string }) => p.account, { account: 'a1' }, undefined); // 'a1'
 */
export function partitionKeyOf(
  handlerName: string,
  keyFunction: PartitionKeyFunction | undefined,
  payload: unknown,
  explicit: string | undefined,
): string | null {
  if (explicit !== undefined) return explicit;
  if (keyFunction === undefined) return null;
  let key: unknown;
  try {
    key = keyFunction(payload);
  } catch (cause) {
    throw new BusError(
      'INVALID_PARTITION_KEY',
      `handler ${handlerName}: settings.partitionKey threw: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause, value: handlerName },
    );
  }
  assertPartitionKey(key, `handler ${handlerName}: settings.partitionKey's result`);
  return key;
}
