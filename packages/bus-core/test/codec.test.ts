import { describe, expect, it } from 'vitest';
import { BusError, decodePayload, encodePayload, isBusError } from '../src/index.js';
import { expectBusError } from './support.js';

// encodePayload refuses what msgpack cannot keep; decodePayload refuses what bus did not write.

describe('codec', () => {
  it('refuses what msgpack cannot encode faithfully, naming where', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expectBusError(() => encodePayload({ a: { f: () => 1 } }), 'ENCODE_FAILED', '.a.f');
    expectBusError(() => encodePayload({ s: Symbol('x') }), 'ENCODE_FAILED', '.s');
    expectBusError(() => encodePayload({ m: new Map() }), 'ENCODE_FAILED', '.m');
    expectBusError(() => encodePayload(cyclic), 'ENCODE_FAILED', '.self');
    expectBusError(() => encodePayload({ r: /x/ }), 'ENCODE_FAILED', '.r');
    expectBusError(() => encodePayload([new Error('e')]), 'ENCODE_FAILED', '[0]');
    class Money {
      constructor(readonly cents: number) {}
    }
    expectBusError(() => encodePayload({ price: new Money(5) }), 'ENCODE_FAILED', '.price');
    expect(decodePayload(encodePayload({ plain: Object.create(null), list: [1] }))).toEqual({
      plain: {},
      list: [1],
    });
  });

  it('garbage bytes give DECODE_FAILED', () => {
    expectBusError(() => decodePayload(new Uint8Array([0x92, 0x01])), 'DECODE_FAILED', 2);
    expectBusError(() => decodePayload(new Uint8Array([])), 'DECODE_FAILED', 0);
    expectBusError(() => decodePayload(Buffer.from('not msgpack at all')), 'DECODE_FAILED');
  });

  it('a __proto__ key never touches a prototype', () => {
    const decoded = decodePayload(
      encodePayload(JSON.parse('{"__proto__": {"polluted": true}, "a": 1}')),
    ) as Record<string, unknown>;
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(decoded.polluted).toBeUndefined();
    expect(decoded.a).toBe(1);
  });

  it('isBusError recognises a BusError from another copy of bus-core', () => {
    const foreign = Object.assign(new Error('x'), { code: 'NO_HANDLER' });
    Object.defineProperty(foreign, Symbol.for('bus.BusError'), { value: true });
    expect(isBusError(foreign, 'NO_HANDLER')).toBe(true);
    expect(isBusError(new Error('x'))).toBe(false);
    expect(isBusError(new BusError('SHUT_DOWN', 'x'), 'NO_HANDLER')).toBe(false);
  });
});
