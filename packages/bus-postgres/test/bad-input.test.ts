import { createHash, randomBytes } from 'node:crypto';
import {
  type Bus,
  createBus,
  defineEvent,
  encodePayload,
  type HandlerSettings,
  isBusError,
  Registry,
} from 'bus-core';
import { waitFor } from 'bus-testing';
import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBusTables, migrate, type PgTx, type PostgresStore, postgresStore } from '../src/index.js';
import { archived, createTestSchema, live, type TestSchema } from './helpers.js';

let t: TestSchema;
let store: PostgresStore;
const buses: Bus<PgTx>[] = [];

beforeAll(async () => {
  t = await createTestSchema('bad');
  store = postgresStore(t.db);
  await t.db.execute(sql`CREATE TABLE y (n int4)`);
});

afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.controller.awaitTerminationWithTimeout(2000)));
  await t.truncate();
});

afterAll(async () => {
  await t?.drop();
});

const Anything = defineEvent<Record<string, unknown>>('bad.anything');

async function runBus(s: PostgresStore, seen: unknown[]): Promise<Bus<PgTx>> {
  class Collect {
    static readonly handlerName = 'bad.collect';
    static readonly settings: HandlerSettings = { queueName: 'bad', maxRetries: 0, executionTimeout: 30_000 };
    handle(payload: unknown): void {
      seen.push(payload);
    }
  }
  const registry = new Registry();
  registry.register(Anything, Collect);
  const bus = createBus({
    store: s,
    registry,
    queues: [{ queueName: 'bad', workers: 2, batchSize: 2, sleepInterval: 50, archivePolicy: 'all' }],
  });
  buses.push(bus);
  await bus.init();
  return bus;
}

describe('table names that are not identifiers', () => {
  const bad = ['x; drop table y', 'bus events', '1bus', 'bus"events', 'a'.repeat(64), '', 'büs'];
  it.each(bad)('%j is refused with INVALID_IDENTIFIER everywhere', async (name) => {
    const expectRefused = (fn: () => unknown) => {
      let error: unknown;
      try {
        fn();
      } catch (e) {
        error = e;
      }
      expect(isBusError(error, 'INVALID_IDENTIFIER'), String(error)).toBe(true);
      expect((error as { value: unknown }).value).toBe(name);
    };
    expectRefused(() => createBusTables({ eventsTable: name }));
    expectRefused(() => createBusTables({ archiveTable: name }));
    expectRefused(() => postgresStore(t.db, { eventsTable: name }));
    expectRefused(() => postgresStore(t.db, { archiveTable: name }));
    expectRefused(() => postgresStore(t.db, { channel: name }));
    for (const options of [{ eventsTable: name }, { archiveTable: name }, { migrationsTable: name }]) {
      const error = await migrate(t.db, options).catch((e: unknown) => e);
      expect(isBusError(error, 'INVALID_IDENTIFIER')).toBe(true);
    }
    // Nothing ran: table y is still there.
    expect(await t.db.execute(sql`SELECT count(*)::int AS n FROM y`)).toEqual([{ n: 0 }]);
  });

  it('the old migrate() option journalTable is refused with INVALID_CONFIG naming migrationsTable', async () => {
    const error = await migrate(t.db, { journalTable: 'j' } as never).catch((e: unknown) => e);
    expect(isBusError(error, 'INVALID_CONFIG'), String(error)).toBe(true);
    expect((error as Error).message).toContain('migrationsTable');
  });

  it('equal names, an upper-case channel and too-long derived index names are refused too', async () => {
    expect(() => postgresStore(t.db, { channel: 'Bus_Wake' })).toThrow(/INVALID_IDENTIFIER/);
    expect(() => createBusTables({ eventsTable: 'jobs', archiveTable: 'JOBS' })).toThrow(
      /INVALID_IDENTIFIER/,
    );
    const error = await migrate(t.db, { eventsTable: 'e'.repeat(60) }).catch((e: unknown) => e);
    expect(isBusError(error, 'INVALID_IDENTIFIER')).toBe(true);
  });
});

describe('bad rows never stop a worker', () => {
  it('garbage payload bytes inserted by hand: archived as failed with DECODE_FAILED; the next row runs', async () => {
    await t.db.execute(sql`INSERT INTO bus_events (queue, event_name, handler_name, payload, max_retries)
      VALUES ('bad', 'bad.anything', 'bad.collect', '\\xc1ffc1ff00'::bytea, 0),
             ('bad', 'bad.anything', 'bad.collect', ''::bytea, 0)`);
    const seen: unknown[] = [];
    const bus = await runBus(store, seen);
    const [good] = await bus.publish(Anything, { fine: true });
    await bus.controller.startWorkers();
    await waitFor(async () => (await archived(store)).length === 3, {
      message: 'all three rows archived',
    });
    const archive = await archived(store);
    const failed = archive.filter((r) => r.status === 'failed');
    expect(failed).toHaveLength(2);
    for (const row of failed) expect(row.lastError).toContain('DECODE_FAILED');
    expect(archive.find((r) => r.id === good)?.status).toBe('completed');
    expect(seen).toEqual([{ fine: true }]);
  });

  it('a __proto__ key (published, or hand-written msgpack) never pollutes a prototype', async () => {
    const published = JSON.parse(
      '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"ok":1}',
    );
    // msgpack map {"__proto__": {"polluted": "yes"}, "ok": 2} written byte by byte.
    const handWritten = Buffer.concat([
      Buffer.from([0x82, 0xa9]),
      Buffer.from('__proto__'),
      Buffer.from([0x81, 0xa8]),
      Buffer.from('polluted'),
      Buffer.from([0xa3]),
      Buffer.from('yes'),
      Buffer.from([0xa2]),
      Buffer.from('ok'),
      Buffer.from([0x02]),
    ]);
    await t.db.execute(sql`INSERT INTO bus_events (queue, event_name, handler_name, payload, max_retries)
      VALUES ('bad', 'bad.anything', 'bad.collect', decode(${handWritten.toString('hex')}, 'hex'), 0)`);
    const seen: Record<string, unknown>[] = [];
    const bus = await runBus(store, seen);
    await bus.publish(Anything, published);
    await bus.controller.startWorkers();
    await waitFor(() => seen.length === 2, { message: 'both payloads handled' });
    expect(seen.map((p) => p.ok).sort()).toEqual([1, 2]);
    for (const payload of seen) expect(Object.getPrototypeOf(payload)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    await waitFor(async () => (await archived(store, { status: 'completed' })).length === 2, {
      message: 'both rows archived as completed',
    });
  });

  // On PostgreSQL: PGlite takes seconds per 10 MB in and out of its WASM heap (1 MB payloads are
  // in the conformance suite on both).
  it('a 10 MB payload round-trips', async () => {
    const blob = randomBytes(10 * 1024 * 1024);
    const digest = createHash('sha256').update(blob).digest('hex');
    const seen: { blob: Uint8Array; note: string }[] = [];
    const bus = await runBus(store, seen);
    const [id] = await bus.publish(Anything, { blob, note: 'big' });
    const [row] = await live(store, { ids: [id!] });
    expect(row!.payload.byteLength).toBeGreaterThan(10 * 1024 * 1024);
    expect(Buffer.from(row!.payload).equals(Buffer.from(encodePayload({ blob, note: 'big' })))).toBe(true);
    await bus.controller.startWorkers();
    await waitFor(() => seen.length === 1, { timeoutMs: 30_000, message: 'the big payload handled' });
    expect(createHash('sha256').update(seen[0]!.blob).digest('hex')).toBe(digest);
    expect(seen[0]!.note).toBe('big');
    await waitFor(async () => (await archived(store, { ids: [id!] }))[0]?.status === 'completed', {
      message: 'the big row archived',
    });
  });
});
