import { Packr } from 'msgpackr';
import { BusError } from './errors.js';
import { checkMsgpack } from './msgpack-check.js';

// One Packr with pinned options: the byte format is part of the table contract, so it must not
// drift with msgpackr's defaults. No records/structures (rows must decode in any process), 64-bit
// integers and larger bigints round-trip as bigint, Date uses the msgpack timestamp extension.
const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  mapsAsObjects: true,
  int64AsType: 'bigint',
  useBigIntExtension: true,
  moreTypes: false,
  bundleStrings: false,
});

const MAX_DEPTH = 200;

// msgpackr silently drops functions and turns Map/Set/RegExp/class instances into plain data; a
// queue must not change a payload behind the user's back, so such values are refused up front.
function assertEncodable(value: unknown, path: string, depth: number, seen: Set<object>): void {
  switch (typeof value) {
    case 'function':
    case 'symbol':
      throw new BusError(
        'ENCODE_FAILED',
        `payload${path} is a ${typeof value}, which msgpack cannot encode`,
        {
          value: path || '(root)',
        },
      );
    case 'object': {
      if (value === null || value instanceof Date || value instanceof Uint8Array) return;
      if (depth > MAX_DEPTH) {
        throw new BusError('ENCODE_FAILED', `payload is nested deeper than ${MAX_DEPTH} levels at ${path}`, {
          value: path,
        });
      }
      const proto = Object.getPrototypeOf(value);
      if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) {
        // Map, Set, RegExp, Error and class instances would arrive as something else.
        throw new BusError(
          'ENCODE_FAILED',
          `payload${path} is a ${proto?.constructor?.name ?? 'non-plain object'}; use plain objects, arrays, Date, bigint and Uint8Array`,
          { value: path || '(root)' },
        );
      }
      if (seen.has(value)) {
        throw new BusError('ENCODE_FAILED', `payload${path} is a circular reference`, {
          value: path || '(root)',
        });
      }
      seen.add(value);
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) assertEncodable(value[i], `${path}[${i}]`, depth + 1, seen);
      } else {
        for (const key of Object.keys(value)) {
          assertEncodable((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1, seen);
        }
      }
      seen.delete(value);
      return;
    }
    default:
      return;
  }
}

/**
 * Encodes a payload to msgpack bytes. Dates, bigints, Uint8Arrays, nested objects and unicode
 * round-trip; functions, symbols, cycles and non-plain objects (Map, Set, class instances) are
 * refused with `ENCODE_FAILED`.
 *
 * @example
 * const bytes = encodePayload({ to: 'a@b.c', at: new Date() });
 */
export function encodePayload(value: unknown): Uint8Array {
  assertEncodable(value, '', 0, new Set());
  try {
    return packr.pack(value);
  } catch (cause) {
    throw new BusError('ENCODE_FAILED', `payload cannot be encoded as msgpack: ${String(cause)}`, {
      cause,
      value,
    });
  }
}

/**
 * Decodes msgpack bytes written by `encodePayload`. Bytes that are not such a value (garbage,
 * cut off, trailing bytes, msgpackr's own extensions, non-string map keys, invalid UTF-8) give
 * `DECODE_FAILED`; a `__proto__` key is renamed by msgpackr and never touches a prototype.
 *
 * @example
 * const payload = decodePayload(row.payload);
 */
export function decodePayload(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) {
    throw new BusError('DECODE_FAILED', `payload must be bytes (got ${typeof bytes})`, {
      value: typeof bytes,
    });
  }
  const invalid = checkMsgpack(bytes);
  if (invalid !== undefined) {
    throw new BusError(
      'DECODE_FAILED',
      `payload of ${bytes.byteLength} bytes is not one bus wrote: ${invalid}`,
      {
        value: bytes.byteLength,
      },
    );
  }
  try {
    return packr.unpack(bytes);
  } catch (cause) {
    throw new BusError(
      'DECODE_FAILED',
      `payload of ${bytes.byteLength} bytes is not valid msgpack: ${String((cause as Error)?.message ?? cause)}`,
      { cause, value: bytes.byteLength },
    );
  }
}

/**
 * The payload as JSON text for the optional JSON column, meant for people reading the table:
 * bigints become strings, bytes become base64, dates ISO strings.
 *
 * @example
 * payloadToJson({ n: 1n }); // '{"n":"1"}'
 */
export function payloadToJson(value: unknown): string {
  return JSON.stringify(value, function replacer(this: unknown, key, v) {
    const raw = (this as Record<string, unknown>)[key];
    if (typeof raw === 'bigint') return raw.toString();
    if (raw instanceof Uint8Array) return { $bytes: Buffer.from(raw).toString('base64') };
    return v;
  });
}
