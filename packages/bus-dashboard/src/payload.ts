import { decodePayload, isBusError, payloadToJson } from 'bus-core';

/**
 * The msgpack payload as indented JSON, or why it cannot be decoded: what the row screen and
 * `bus show` print.
 *
 * @example
 * describePayload(row.payload); // '{\n  "to": "a@b.c"\n}'
 */
export function describePayload(payload: Uint8Array): string {
  try {
    return JSON.stringify(JSON.parse(payloadToJson(decodePayload(payload))), null, 2);
  } catch (error) {
    return `(the payload cannot be decoded: ${isBusError(error) ? error.message : String(error)})`;
  }
}
