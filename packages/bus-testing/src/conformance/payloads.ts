import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { encodePayload, type QueueStore } from 'bus-core';
import { payloadJsonOf } from 'bus-core/driver';
import type { SuiteContext } from './context.js';
import {
  allArchived,
  archived,
  assertBytes,
  claim,
  claimFor,
  held,
  insert,
  live,
  row,
  sha256,
  sorted,
  untilExpired,
} from './support.js';

/**
 * Strings a store must write and read back exactly in every text column: quotes and backslashes
 * for SQL and array literals, LIKE wildcards, placeholders, the word NULL, control characters,
 * text beyond the BMP (utf8mb4), SQL fragments. No NUL: the core's names and errors have none.
 */
export const HOSTILE_STRINGS: readonly string[] = Object.freeze([
  `it's "q" \\ \\' ; DROP TABLE bus_events; --`,
  "o'brien''s",
  '"double" and `back` quotes',
  '\\\\server\\share\\',
  '%_ LIKE wildcards %',
  '{braced},with,commas,"and quotes"',
  'NULL',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal placeholder, on purpose
  '$1 $$ ? :name @var ${x}',
  'tab\there\nnewline\r\nend',
  'Grüße, 世界, שלום, Ελληνικά',
  'emoji 🚀🎉 and a family 👩‍👩‍👧',
  '/* comment */ SELECT 1; -- trailing',
]);

/** Payload bytes and every text column written and read back exactly; JSON column; collation. */
export function payloadTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  /** Inserts `payload`, then checks it through claim, the live list, settle and the archive. */
  async function roundTrip(store: QueueStore<any>, payload: Uint8Array, what: string): Promise<void> {
    const [id] = await insert(store, [row({ payload, queue: 'bytes' })]);
    assertBytes((await live(store, id!))?.payload, payload, `${what}: listEvents`);
    const [c] = await claim(store, 'bytes');
    assert.equal(c?.id, id);
    assertBytes(c?.payload, payload, `${what}: claim`);
    await store.settle({
      workerId: 'w',
      outcomes: [{ kind: 'completed', id: id!, attempt: 1, archive: true }],
    });
    assertBytes((await archived(store, id!))?.payload, payload, `${what}: listArchive`);
  }

  describe('payloads', () => {
    it('round-trips any bytes exactly: undecodable, every byte value, quotes, backslashes and NULs', async () => {
      const everyByte = Uint8Array.from({ length: 256 }, (_, n) => n);
      const cases: [string, Uint8Array][] = [
        ['not msgpack', new Uint8Array([0xc1, 0xff, 0x00, 0x13])],
        ['every byte value', everyByte],
        ['every byte value backwards', everyByte.slice().reverse()],
        ['quote, backslash and NUL bytes', new Uint8Array([0x27, 0x5c, 0x00, 0x27, 0x27, 0x5c, 0x5c, 0x00])],
        ['invalid UTF-8', new Uint8Array([0xa2, 0xc3, 0x28, 0xed, 0xa0, 0x80])],
        ['64 KiB of random bytes', new Uint8Array(randomBytes(64 * 1024))],
      ];
      for (const [what, payload] of cases) await roundTrip(s.store, payload, what);
    });

    it('round-trips an empty payload', async () => {
      await roundTrip(s.store, new Uint8Array(0), 'empty');
    });

    it('round-trips a 10 MB payload', async () => {
      const payload = encodePayload({ blob: new Uint8Array(randomBytes(10 * 1024 * 1024)), note: 'big' });
      const [id] = await insert(s.store, [row({ payload, queue: 'big' })]);
      const [c] = await claim(s.store, 'big');
      assert.equal(c?.payload.byteLength, payload.byteLength);
      assert.equal(sha256(c!.payload), sha256(payload), 'claimed payload');
      await s.store.settle({
        workerId: 'w',
        outcomes: [{ kind: 'completed', id: id!, attempt: 1, archive: true }],
      });
      const a = await archived(s.store, id!);
      assert.equal(sha256(a!.payload), sha256(payload), 'archived payload');
    });

    it('keeps a payload with __proto__ keys as bytes, polluting nothing', async () => {
      // msgpack map {"__proto__": {"polluted": "yes"}, "ok": 2} written byte by byte.
      const handWritten = new Uint8Array(
        Buffer.concat([
          Buffer.from([0x82, 0xa9]),
          Buffer.from('__proto__'),
          Buffer.from([0x81, 0xa8]),
          Buffer.from('polluted'),
          Buffer.from([0xa3]),
          Buffer.from('yes'),
          Buffer.from([0xa2]),
          Buffer.from('ok'),
          Buffer.from([0x02]),
        ]),
      );
      const published = encodePayload(
        JSON.parse('{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"ok":1}'),
      );
      await roundTrip(s.store, handWritten, 'hand-written __proto__');
      await roundTrip(s.store, published, 'encoded __proto__');
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.equal(Object.hasOwn(Object.prototype, 'polluted'), false);
    });

    it('writes hostile strings exactly in every text column and matches them exactly', async () => {
      for (const h of HOSTILE_STRINGS) {
        const [id] = await insert(s.store, [row({ queue: h, eventName: h, handlerName: h, maxRetries: 5 })]);
        const listed = await s.store.inspect.listEvents({ queue: h, limit: 10 });
        assert.deepEqual(
          listed.map((r) => [r.id, r.queue, r.eventName, r.handlerName]),
          [[id, h, h, h]],
          `listEvents by queue ${JSON.stringify(h)}`,
        );
        const [c] = await claimFor(s.store, { queue: h, limit: 10, workerId: h, leaseMs: 600_000 });
        assert.deepEqual(
          [c?.id, c?.queue, c?.eventName, c?.handlerName],
          [id, h, h, h],
          `claim ${JSON.stringify(h)}`,
        );
        assert.equal((await live(s.store, id!))?.lockedBy, h, 'lockedBy');
        assert.deepEqual(
          await s.store.extendLeases({ workerId: h, leaseMs: 600_000, events: [{ id: id!, attempt: 1 }] }),
          [id],
        );
        assert.deepEqual(
          await s.store.settle({
            workerId: h,
            outcomes: [{ kind: 'retry', id: id!, attempt: 1, delayMs: 0, error: h }],
          }),
          { settled: [id] },
        );
        assert.equal((await live(s.store, id!))?.lastError, h, 'lastError of a retry');
        await claimFor(s.store, { queue: h, limit: 10, workerId: h, leaseMs: 600_000 });
        assert.deepEqual(await s.store.release({ workerId: h, events: [{ id: id!, attempt: 2 }] }), [id]);
        await claimFor(s.store, { queue: h, limit: 10, workerId: h, leaseMs: 1 });
        await untilExpired(s.store, h, [id!]);
        const [expired] = await s.store.listExpired({ queues: [h], limit: 10 });
        assert.deepEqual(
          [expired?.id, expired?.queue, expired?.eventName, expired?.handlerName, expired?.workerId],
          [id, h, h, h, h],
          'listExpired',
        );
        assert.deepEqual(
          await s.store.rescue({
            decisions: [{ kind: 'retry', id: id!, attempt: 2, workerId: h, delayMs: 0, error: `${h}!` }],
          }),
          [id],
        );
        assert.equal((await live(s.store, id!))?.lastError, `${h}!`, 'lastError of a rescue');
        await claimFor(s.store, { queue: h, limit: 10, workerId: h, leaseMs: 600_000 });
        assert.deepEqual(
          await s.store.settle({
            workerId: h,
            outcomes: [{ kind: 'failed', id: id!, attempt: 3, archive: true, error: h }],
          }),
          { settled: [id] },
        );
        const [a] = await s.store.inspect.listArchive({ queue: h, limit: 10 });
        assert.deepEqual(
          [a?.id, a?.queue, a?.eventName, a?.handlerName, a?.lastError, a?.status],
          [id, h, h, h, h, 'failed'],
          `archive of ${JSON.stringify(h)}`,
        );
      }
      const queues = (await s.store.inspect.countByQueue()).map((c) => c.queue);
      assert.deepEqual(sorted(queues), sorted(HOSTILE_STRINGS), 'countByQueue names every queue exactly');
    });

    it('names that differ only in case or trailing spaces are different queues, handlers and events', async () => {
      const names = ['case', 'Case', 'CASE', 'case ', 'case  ', ' case'];
      const ids = await insert(
        s.store,
        names.map((n) => row({ queue: n, eventName: n, handlerName: n })),
      );
      for (const [i, n] of names.entries()) {
        const listed = await s.store.inspect.listEvents({ queue: n, limit: 10 });
        assert.deepEqual(
          listed.map((r) => [r.id, r.queue, r.eventName, r.handlerName]),
          [[ids[i], n, n, n]],
          `queue ${JSON.stringify(n)}`,
        );
      }
      for (const [i, n] of names.entries()) {
        const claimed = await claimFor(s.store, { queue: n, limit: 10, workerId: 'w', leaseMs: 1 });
        assert.deepEqual(
          claimed.map((c) => c.id),
          [ids[i]],
          `claim of queue ${JSON.stringify(n)}`,
        );
      }
      await untilExpired(s.store, names[0]!, [ids[0]!]);
      await untilExpired(s.store, names[3]!, [ids[3]!]);
      assert.deepEqual(
        (await s.store.listExpired({ queues: ['case'], limit: 10 })).map((e) => e.id),
        [ids[0]],
        'listExpired of one queue',
      );
      const counts = await s.store.inspect.countByQueue();
      assert.deepEqual(sorted(counts.map((c) => c.queue)), sorted(names));
      assert.ok(counts.every((c) => c.running === 1));
    });

    it('worker ids that differ only in case or trailing spaces do not pass each other’s fence', async () => {
      const c = await held(s.store, { maxRetries: 3 }, 'Worker', 600_000);
      for (const other of ['worker', 'WORKER', 'Worker ', ' Worker', 'Worker\t']) {
        const what = JSON.stringify(other);
        assert.deepEqual(
          await s.store.extendLeases({ workerId: other, leaseMs: 1000, events: [{ id: c.id, attempt: 1 }] }),
          [],
          `extendLeases by ${what}`,
        );
        assert.deepEqual(
          await s.store.settle({
            workerId: other,
            outcomes: [{ kind: 'completed', id: c.id, attempt: 1, archive: true }],
          }),
          { settled: [] },
          `settle by ${what}`,
        );
        assert.deepEqual(
          await s.store.release({ workerId: other, events: [{ id: c.id, attempt: 1 }] }),
          [],
          `release by ${what}`,
        );
      }
      assert.deepEqual(
        await s.store.extendLeases({ workerId: 'Worker', leaseMs: 1, events: [{ id: c.id, attempt: 1 }] }),
        [c.id],
      );
      await untilExpired(s.store, 'q', [c.id]);
      assert.deepEqual(
        await s.store.rescue({
          decisions: [{ kind: 'retry', id: c.id, attempt: 1, workerId: 'Worker ', delayMs: 0, error: 'x' }],
        }),
        [],
        'rescue naming "Worker "',
      );
      assert.equal((await live(s.store, c.id))?.lockedBy, 'Worker');
    });

    it('leaves payloadJson null when the store does not write its JSON column', async () => {
      const c = await held(s.store, { payload: encodePayload({ a: 1 }) });
      assert.equal((await live(s.store, c.id))?.payloadJson, null);
      await s.store.settle({
        workerId: 'w',
        outcomes: [{ kind: 'completed', id: c.id, attempt: 1, archive: true }],
      });
      assert.equal((await archived(s.store, c.id))?.payloadJson, null);
    });

    if (s.target.setupJsonPayload !== undefined) {
      it('with jsonPayload: writes payloadJsonOf(payload) to the JSON column, kept in the archive', async () => {
        const json = s.jsonStore!;
        const payloads = [
          encodePayload({
            big: 12345678901234567890n,
            text: 'héllo 🎉 "quoted" \\ back',
            nested: { ok: true, list: [1, null, 'x', 2.5] },
            bytes: new Uint8Array([0, 1, 254, 255]),
            at: new Date('2024-02-29T12:34:56.789Z'),
          }),
          encodePayload('a string'),
          encodePayload([1, 2, 3]),
          encodePayload(JSON.parse('{"__proto__":{"polluted":"yes"},"ok":1}')),
        ];
        // Rows of one event share one array: each gets the JSON.
        const shared = payloads[0]!;
        const ids = await insert(json, [
          ...payloads.map((payload) => row({ payload })),
          row({ payload: shared }),
        ]);
        const expected = [...payloads, shared].map((p) => JSON.parse(payloadJsonOf(p)) as unknown);
        for (const [n, id] of ids.entries()) {
          // Read through either store: the column is the tables', not the store object's.
          for (const reader of [json, s.store]) {
            const r = await live(reader, id);
            assert.deepEqual(r?.payloadJson, expected[n], `payloadJson of row ${n}`);
            assertBytes(r?.payload, [...payloads, shared][n]!, `payload of row ${n}`);
          }
        }
        const proto = (await live(json, ids[3]!))?.payloadJson as object;
        assert.equal(Object.getPrototypeOf(proto), Object.prototype);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
        await claim(json, 'q');
        await json.settle({
          workerId: 'w',
          outcomes: ids.map((id) => ({ kind: 'completed' as const, id, attempt: 1, archive: true })),
        });
        const archive = await allArchived(json);
        assert.deepEqual(
          archive.map((a) => a.payloadJson),
          expected,
          'the archive keeps the JSON column',
        );
      });
    }
  });
}
