// msgpackr decodes more than bus writes: the reserved byte 0xc1, its own extensions (RegExp, Map,
// Set, Error, typed arrays, records), map keys that are not strings, strings that are not UTF-8.
// A payload bus did not write must fail its attempt with DECODE_FAILED rather than reach a handler
// as an object of another shape, so the bytes are walked once before msgpackr reads them.

const EXT_UNDEFINED = 0x00; // msgpackr's `undefined` (fixext 1, data 0)
const EXT_BIGINT = 0x42; // msgpackr's bigint extension, for integers beyond 64 bits
const EXT_TIMESTAMP = 0xff; // the msgpack timestamp (-1), for Date

const utf8 = new TextDecoder('utf-8', { fatal: true });

interface Frame {
  /** Values still to read in this array or map (a map counts keys and values). */
  left: number;
  /** A map's next value is a key (keys must be strings: bus writes plain objects). */
  map: boolean;
}

/**
 * Returns why `bytes` is not one msgpack value of the kinds `encodePayload` writes (nil, booleans,
 * numbers, strings, binary, arrays, maps with string keys, Date, bigint, undefined), or undefined
 * when it is. Linear in the length; never allocates more than the nesting depth.
 */
export function checkMsgpack(bytes: Uint8Array): string | undefined {
  const end = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: Frame[] = [];
  let pos = 0;
  let pending = 1; // values still to read at the top level

  const need = (n: number): boolean => pos + n <= end;
  const length = (size: 1 | 2 | 4): number | undefined => {
    if (!need(size)) return undefined;
    const n = size === 1 ? view.getUint8(pos) : size === 2 ? view.getUint16(pos) : view.getUint32(pos);
    pos += size;
    return n;
  };

  while (pending > 0 || stack.length > 0) {
    const frame = stack[stack.length - 1];
    if (frame !== undefined && frame.left === 0) {
      stack.pop();
      continue;
    }
    const isKey = frame?.map === true && frame.left % 2 === 0;
    if (frame !== undefined) frame.left--;
    else pending--;
    if (pos >= end) return `it ends after ${end} bytes in the middle of a value`;
    const at = pos;
    const b = bytes[pos++]!;
    let strLength: number | undefined;
    if (b <= 0x7f || b >= 0xe0) {
      // fixint
    } else if (b <= 0x8f || b === 0xde || b === 0xdf) {
      const n = b <= 0x8f ? b & 0x0f : length(b === 0xde ? 2 : 4);
      if (n === undefined) return `a map header at byte ${at} is cut off`;
      stack.push({ left: n * 2, map: true });
    } else if (b <= 0x9f || b === 0xdc || b === 0xdd) {
      const n = b <= 0x9f ? b & 0x0f : length(b === 0xdc ? 2 : 4);
      if (n === undefined) return `an array header at byte ${at} is cut off`;
      stack.push({ left: n, map: false });
    } else if (b <= 0xbf) {
      strLength = b & 0x1f;
    } else if (b === 0xd9 || b === 0xda || b === 0xdb) {
      strLength = length(b === 0xd9 ? 1 : b === 0xda ? 2 : 4);
      if (strLength === undefined) return `a string header at byte ${at} is cut off`;
    } else if (b === 0xc0 || b === 0xc2 || b === 0xc3) {
      // nil, false, true
    } else if (b === 0xc1) {
      return `byte ${at} is 0xc1, which msgpack never uses`;
    } else if (b === 0xc4 || b === 0xc5 || b === 0xc6) {
      const n = length(b === 0xc4 ? 1 : b === 0xc5 ? 2 : 4);
      if (n === undefined || !need(n)) return `binary data at byte ${at} is cut off`;
      pos += n;
    } else if (b >= 0xca && b <= 0xd3) {
      const size = [4, 8, 1, 2, 4, 8, 1, 2, 4, 8][b - 0xca]!;
      if (!need(size)) return `a number at byte ${at} is cut off`;
      pos += size;
    } else {
      // 0xc7-0xc9 ext 8/16/32, 0xd4-0xd8 fixext 1/2/4/8/16
      const n = b >= 0xd4 ? 1 << (b - 0xd4) : length(b === 0xc7 ? 1 : b === 0xc8 ? 2 : 4);
      if (n === undefined || !need(n + 1)) return `an extension at byte ${at} is cut off`;
      const type = bytes[pos]!;
      const ok =
        type === EXT_TIMESTAMP
          ? n === 1 || n === 4 || n === 8 || n === 12
          : type === EXT_BIGINT
            ? n >= 1
            : type === EXT_UNDEFINED && n === 1 && bytes[pos + 1] === 0;
      if (!ok) return `byte ${at} starts an extension (type ${type}, ${n} bytes) that bus never writes`;
      pos += n + 1;
    }
    if (isKey && strLength === undefined) return `a map key at byte ${at} is not a string`;
    if (strLength !== undefined) {
      if (!need(strLength)) return `a string at byte ${at} is cut off`;
      const text = bytes.subarray(pos, pos + strLength);
      pos += strLength;
      if (!isAscii(text)) {
        try {
          utf8.decode(text);
        } catch {
          return `the string at byte ${at} is not valid UTF-8`;
        }
      }
    }
  }
  if (pos !== end) return `${end - pos} more byte(s) follow the value`;
  return undefined;
}

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! > 0x7f) return false;
  return true;
}
