import { decodePayload, payloadToJson } from '../codec.js';

/**
 * The JSON text a store writes to its optional JSON column (its `jsonPayload` option) for a
 * msgpack payload the core encoded: bigints as strings, bytes as `{ $bytes: base64 }`.
 *
 * @example
 * payloadJsonOf(encodePayload({ n: 1 })); // '{"n":1}'
 */
export function payloadJsonOf(payload: Uint8Array): string {
  return payloadToJson(decodePayload(payload));
}
