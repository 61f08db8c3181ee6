import { describe, expect, it } from 'vitest';
import { decodePayload, encodePayload, isBusError } from '../src/index.js';

// A payload's bytes come from a table anyone can write to: whatever they hold, decoding either
// returns a value of the kinds encodePayload writes or throws DECODE_FAILED, and never hands a
// handler something of another shape (msgpackr alone turns 0xc1 into an object, its extension
// types into RegExp/Map/Set, non-string keys into "[object Object]", bad UTF-8 into U+FFFD).

/** A small deterministic PRNG (mulberry32), so a failure names a seed that reproduces it. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Decodes, or returns the BusError code; any other throw fails the test. */
function outcome(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: decodePayload(bytes) };
  } catch (error) {
    if (!isBusError(error, 'DECODE_FAILED')) throw error;
    return { ok: false };
  }
}

/** What a decoded payload may hold: exactly what encodePayload accepts. */
function assertPlain(value: unknown, path = '$'): void {
  if (value === null || value === undefined) return;
  switch (typeof value) {
    case 'string':
      expect(value.includes('\uFFFD') ? path : '', 'a replacement character from bad UTF-8').toBe('');
      return;
    case 'number':
    case 'boolean':
    case 'bigint':
      return;
    case 'object': {
      if (value instanceof Date) return;
      if (value instanceof Uint8Array) return;
      const proto = Object.getPrototypeOf(value);
      expect(
        Array.isArray(value) || proto === Object.prototype || proto === null,
        `${path} is ${proto?.constructor?.name}`,
      ).toBe(true);
      for (const [k, v] of Object.entries(value)) assertPlain(v, `${path}.${k}`);
      return;
    }
    default:
      throw new Error(`${path} is a ${typeof value}`);
  }
}

const samples: unknown[] = [
  { to: 'ada@example.com', subject: 'Welcome!', body: 'Thanks for signing up.' },
  {
    n: 1,
    big: 2n ** 70n,
    neg: -(2n ** 63n),
    at: new Date('2026-12-01T00:00:00Z'),
    bytes: new Uint8Array([0, 255]),
  },
  { nested: { list: [1, 'two', null, true, 1.5, undefined, [{ é: 'ü' }]] }, empty: {}, none: [] },
  'a string',
  42,
  [],
  { long: 'x'.repeat(70_000), unicode: '日本語 😀' },
];

describe('decodePayload under random and damaged bytes', () => {
  it('round-trips every sample', () => {
    // Binary comes back as a Buffer in Node (a Uint8Array): compare the bytes, not the class.
    const bytesAsArrays = (v: unknown): unknown =>
      v instanceof Uint8Array
        ? { bytes: [...v] }
        : Array.isArray(v)
          ? v.map(bytesAsArrays)
          : v !== null && typeof v === 'object' && !(v instanceof Date)
            ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, bytesAsArrays(x)]))
            : v;
    for (const sample of samples) {
      const decoded = decodePayload(encodePayload(sample));
      expect(bytesAsArrays(decoded)).toEqual(bytesAsArrays(sample));
      assertPlain(decoded);
    }
  });

  it('random bytes: DECODE_FAILED or a plain value, never anything else', () => {
    const random = rng(1);
    let decoded = 0;
    for (let i = 0; i < 50_000; i++) {
      const bytes = new Uint8Array(1 + Math.floor(random() * 24));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
      const result = outcome(bytes);
      if (result.ok) {
        decoded++;
        assertPlain(result.value);
      }
    }
    // Some random inputs are valid msgpack (a fixint, a short string): the check is not "reject all".
    expect(decoded).toBeGreaterThan(0);
  });

  it('every truncation of a valid payload is DECODE_FAILED', () => {
    for (const sample of samples) {
      const bytes = encodePayload(sample);
      for (let n = 0; n < Math.min(bytes.length, 400); n++) {
        expect(outcome(bytes.subarray(0, n)).ok, `${n} of ${bytes.length} bytes`).toBe(false);
      }
    }
  });

  it('trailing bytes after a valid payload are DECODE_FAILED', () => {
    for (const sample of samples) {
      const bytes = encodePayload(sample);
      expect(outcome(new Uint8Array([...bytes, 0x00])).ok).toBe(false);
    }
  });

  it('single-byte damage: DECODE_FAILED or a plain value', () => {
    const random = rng(2);
    for (const sample of samples.slice(0, 3)) {
      const bytes = encodePayload(sample);
      for (let i = 0; i < 5_000; i++) {
        const damaged = bytes.slice();
        damaged[Math.floor(random() * damaged.length)] = Math.floor(random() * 256);
        const result = outcome(damaged);
        if (result.ok) assertPlain(result.value);
      }
    }
  });

  it.each([
    ['the reserved byte 0xc1', [0xc1]],
    ["msgpackr's RegExp extension", [0xd4, 0x78, 0x38, 0x46]],
    ["msgpackr's Set extension", [0xd4, 0x73, 0x90]],
    ['an unknown extension type', [0xd5, 0x07, 0x00, 0x00]],
    ['a map with an integer key', [0x81, 0x01, 0x02]],
    ['a map with an array key', [0x81, 0x90, 0x02]],
    ['a string that is not UTF-8', [0xa2, 0xc3, 0x28]],
    ['a huge array header with nothing after it', [0xdd, 0xff, 0xff, 0xff, 0xff]],
  ])('%s is DECODE_FAILED', (_name, bytes) => {
    expect(outcome(new Uint8Array(bytes)).ok).toBe(false);
  });

  it('refuses what is not bytes at all', () => {
    expect(outcome('hello' as unknown as Uint8Array).ok).toBe(false);
  });
});
