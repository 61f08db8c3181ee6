/**
 * The bounds the core guarantees on every value it hands a store, so a store never validates,
 * clamps or truncates: it can size columns and statements by these numbers.
 */
export const CONTRACT_LIMITS = Object.freeze({
  /** Rows per `claim`, outcomes per `settle` and `rescue`, rows per lease call: at most this. */
  maxBatch: 1000,
  /** Error text in outcomes and decisions: at most this many UTF-16 code units. */
  maxErrorChars: 4000,
  /** Any delay or lease the core passes (ms): an integer from 0 to this (about 100 years). */
  maxDelayMs: 100 * 365 * 86_400_000,
  /** Rows per inspection call at most (`limit` of the list calls). */
  maxListLimit: 10_000,
  /** Ids per inspection filter at most. */
  maxIds: 1000,
  /** Queue, event and handler names: at most this many characters (the columns are wider). */
  maxNameLength: 200,
  /** Trace context text (`NewEventRow.traceContext`): at most this many characters. */
  maxTraceContextChars: 1000,
  /** Handler names per `claim` (`ClaimParams.handlers`): at most this many. */
  maxHandlers: 1000,
  /** Unique keys (`RowUniqueness.key`): at most this many characters (a bucket suffix adds at most 21). */
  maxUniqueKeyChars: 255,
  /** Partition keys (`NewEventRow.partitionKey`): at most this many characters. */
  maxPartitionKeyChars: 255,
  /** Worker ids: at most this many characters. */
  maxWorkerIdLength: 200,
  /** The earliest and the latest absolute due time the core passes (years 1970 to 9999, UTC). */
  minDueTime: 0,
  maxDueTime: Date.UTC(9999, 11, 31, 23, 59, 59, 999),
});

const ROW_ID = /^[1-9][0-9]{0,18}$/;
const MAX_ROW_ID = 9223372036854775807n;

/**
 * Whether `id` has the one format of a row id: the decimal text of a positive signed 64-bit
 * integer without leading zeros. Stores generate ids in this format; the core drops any other
 * string from a filter before the store sees it (such an id can match no row).
 *
 * @example
 * isRowId('42'); // true
 * isRowId('042'); // false
 */
export function isRowId(id: unknown): id is string {
  return typeof id === 'string' && ROW_ID.test(id) && (id.length < 19 || BigInt(id) <= MAX_ROW_ID);
}
