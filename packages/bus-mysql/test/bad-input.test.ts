import { createHash, randomBytes } from 'node:crypto';
import {
  type BusError,
  type BusErrorCode,
  createBus,
  defineEvent,
  encodePayload,
  type HandlerSettings,
  isBusError,
  Registry,
} from 'bus-core';
import { waitFor } from 'bus-testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createBusTables, MySqlQueueStore, migrate, mysqlStore } from '../src/index.js';
import { archived, createTestDatabase, live, row, type TestDatabase, truncate } from './helpers.js';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.drop();
});
beforeEach(async () => {
  await truncate(t);
});

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

function expectBusError(error: unknown, code: BusErrorCode, value?: unknown): void {
  expect(isBusError(error, code), String(error)).toBe(true);
  if (value !== undefined) expect((error as BusError).value).toEqual(value);
}

describe('table names', () => {
  const bad: unknown[] = [
    'bus-events',
    '1events',
    'events; DROP TABLE users',
    'ev`ents',
    '',
    ' events',
    'événements',
    'x'.repeat(64),
    'a.b',
    42,
  ];

  it.each(bad)('rejects %j with INVALID_IDENTIFIER naming the value', async (name) => {
    expectBusError(
      caught(() => createBusTables({ eventsTable: name as string })),
      'INVALID_IDENTIFIER',
      name,
    );
    expectBusError(
      caught(() => createBusTables({ archiveTable: name as string })),
      'INVALID_IDENTIFIER',
      name,
    );
    expectBusError(
      caught(() => mysqlStore(t.db, { eventsTable: name as string })),
      'INVALID_IDENTIFIER',
      name,
    );
    expectBusError(
      await migrate(t.db, { archiveTable: name as string }).catch((e: unknown) => e),
      'INVALID_IDENTIFIER',
      name,
    );
    expectBusError(
      await migrate(t.db, { migrationsTable: name as string }).catch((e: unknown) => e),
      'INVALID_IDENTIFIER',
      name,
    );
  });

  it('null or undefined means the default name, as in every driver', () => {
    expect(mysqlStore(t.db, { eventsTable: null as never, archiveTable: undefined }).tables).toEqual({
      eventsTable: 'bus_events',
      archiveTable: 'bus_events_archive',
      pausesTable: 'bus_events_pauses',
      workersTable: 'bus_events_workers',
      keysTable: 'bus_events_keys',
      schedulesTable: 'bus_events_schedules',
      limitsTable: 'bus_events_limits',
      startsTable: 'bus_events_starts',
    });
    expect(mysqlStore(t.db, null as never).tables.eventsTable).toBe('bus_events');
  });

  it('accepts identifiers up to 63 characters (as on PostgreSQL) and refuses the same name twice', () => {
    expect(() =>
      createBusTables({
        eventsTable: `_${'a'.repeat(62)}`,
        archiveTable: 'A_1',
        pausesTable: 'p_1',
        workersTable: 'w_1',
        keysTable: 'k_1',
        schedulesTable: 's_1',
        limitsTable: 'l_1',
        startsTable: 'st_1',
      }),
    ).not.toThrow();
    // The derived pauses and workers names would pass 63 characters: refused, naming the option.
    const long = caught(() => createBusTables({ eventsTable: `_${'a'.repeat(62)}`, archiveTable: 'A_1' }));
    expectBusError(long, 'INVALID_IDENTIFIER');
    expect(String(long)).toContain('pausesTable');
    expectBusError(
      caught(() => mysqlStore(t.db, { pausesTable: 'bus_events' })),
      'INVALID_IDENTIFIER',
    );
    expectBusError(
      caught(() => mysqlStore(t.db, { eventsTable: 'jobs', archiveTable: 'JOBS' })),
      'INVALID_IDENTIFIER',
    );
  });
});

describe('bad rows', () => {
  it('garbage payload bytes written by hand fail with DECODE_FAILED and are archived; the worker goes on', async () => {
    // Rows written with plain SQL, not through the store (created_at from the column default).
    await t.admin.query(
      `INSERT INTO bus_events (queue, event_name, handler_name, payload, max_retries, scheduled_at) VALUES
         ('bad', 'bad.event', 'bad.handler', X'c1ffc1ff', 2, UTC_TIMESTAMP(6)),
         ('bad', 'bad.event', 'bad.handler', X'', 0, UTC_TIMESTAMP(6)),
         ('bad', 'bad.event', 'bad.handler', X'92a1', 0, UTC_TIMESTAMP(6)),
         ('bad', 'other.event', 'bad.handler', X'01', 0, UTC_TIMESTAMP(6))`,
    );
    const BadEvent = defineEvent<{ n: number }>('bad.event');
    const got: unknown[] = [];
    class BadHandler {
      static readonly handlerName = 'bad.handler';
      static readonly settings: HandlerSettings = { queueName: 'bad', maxRetries: 2, executionTimeout: 5000 };
      static calculateScheduledAt(): number {
        return 0;
      }
      handle(payload: { n: number }): void {
        got.push(payload);
      }
    }
    const registry = new Registry();
    registry.register(BadEvent, BadHandler);
    const store = mysqlStore(t.db);
    const bus = createBus({
      store,
      registry,
      queues: [{ queueName: 'bad', workers: 1, batchSize: 10, sleepInterval: 20, archivePolicy: 'all' }],
    });
    await bus.init();
    const [good] = await bus.publish(BadEvent, { n: 7 });
    await bus.controller.startWorkers();
    await waitFor(async () => (await archived(store)).length === 5, {
      message: 'all five rows archived',
    });
    await bus.controller.awaitTerminationWithTimeout(2000);
    const archive = await archived(store);
    const failed = archive.filter((a) => a.status === 'failed');
    expect(failed).toHaveLength(4);
    expect(failed.filter((a) => a.lastError?.includes('DECODE_FAILED'))).toHaveLength(3);
    expect(failed.find((a) => a.eventName === 'other.event')!.lastError).toContain('UNKNOWN_EVENT');
    expect(failed.find((a) => a.maxRetries === 2)!.attempts).toBe(3);
    expect(archive.find((a) => a.id === good)).toMatchObject({ status: 'completed' });
    expect(got).toEqual([{ n: 7 }]);
    for (const a of archive) expect(Math.abs(a.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('a __proto__ key pollutes nothing, in the msgpack payload or the JSON column', async () => {
    const ProtoEvent = defineEvent<Record<string, unknown>>('proto.event');
    const got: Record<string, unknown>[] = [];
    class ProtoHandler {
      static readonly handlerName = 'proto.handler';
      static readonly settings: HandlerSettings = {
        queueName: 'proto',
        maxRetries: 0,
        executionTimeout: 5000,
      };
      handle(payload: Record<string, unknown>): void {
        got.push(payload);
      }
    }
    const registry = new Registry();
    registry.register(ProtoEvent, ProtoHandler);
    const store = mysqlStore(t.db, { jsonPayload: true });
    const bus = createBus({
      store,
      registry,
      queues: [{ queueName: 'proto', workers: 1, batchSize: 1, sleepInterval: 20, archivePolicy: 'all' }],
    });
    await bus.init();
    const payload = JSON.parse(
      '{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}, "ok": 1}',
    ) as Record<string, unknown>;
    const [id] = await bus.publish(ProtoEvent, payload);
    const [stored] = await live(store, { ids: [id!] });
    expect(Object.getPrototypeOf(stored!.payloadJson)).toBe(Object.prototype);
    expect((stored!.payloadJson as { ok: number }).ok).toBe(1);
    await bus.controller.startWorkers();
    await waitFor(() => got.length === 1, { message: 'handled' });
    await bus.controller.awaitTerminationWithTimeout(2000);
    expect(got[0]!.ok).toBe(1);
    expect(Object.getPrototypeOf(got[0])).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect((await archived(store, { ids: [id!] }))[0]!.status).toBe('completed');
  });
});

describe('payload size', () => {
  it('a 10 MB payload goes through publish, claim, handler and archive intact', async () => {
    const BigEvent = defineEvent<{ blob: Uint8Array }>('big.event');
    const digests: string[] = [];
    class BigHandler {
      static readonly handlerName = 'big.handler';
      static readonly settings: HandlerSettings = {
        queueName: 'big',
        maxRetries: 0,
        executionTimeout: 30_000,
      };
      handle(payload: { blob: Uint8Array }): void {
        digests.push(createHash('sha256').update(payload.blob).digest('hex'));
      }
    }
    const registry = new Registry();
    registry.register(BigEvent, BigHandler);
    const store = mysqlStore(t.db);
    const bus = createBus({
      store,
      registry,
      queues: [{ queueName: 'big', workers: 1, batchSize: 1, sleepInterval: 20, archivePolicy: 'all' }],
    });
    await bus.init();
    const blob = randomBytes(10 * 1024 * 1024);
    const [id] = await bus.publish(BigEvent, { blob: new Uint8Array(blob) });
    await bus.controller.startWorkers();
    await waitFor(() => digests.length === 1, { timeoutMs: 30_000, message: 'the 10 MB row handled' });
    await bus.controller.awaitTerminationWithTimeout(5000);
    expect(digests[0]).toBe(createHash('sha256').update(blob).digest('hex'));
    const [done] = await archived(store, { ids: [id!] });
    expect(done!.status).toBe('completed');
    expect(done!.payload.byteLength).toBe(encodePayload({ blob: new Uint8Array(blob) }).byteLength);
  });

  it('a payload over max_allowed_packet fails with PUBLISH_FAILED naming max_allowed_packet, and writes nothing', async () => {
    const store = mysqlStore(t.db);
    const { maxAllowedPacket } = await store.serverInfo();
    const TooBig = defineEvent<{ blob: Uint8Array }>('too-big.event');
    class TooBigHandler {
      static readonly handlerName = 'too-big.handler';
      static readonly settings: HandlerSettings = { queueName: 'big', maxRetries: 0, executionTimeout: 5000 };
      handle(): void {}
    }
    const registry = new Registry();
    registry.register(TooBig, TooBigHandler);
    const bus = createBus({
      store,
      registry,
      queues: [{ queueName: 'big', workers: 1, batchSize: 1, sleepInterval: 20, archivePolicy: 'all' }],
    });
    await bus.init();
    // Base64 makes it 4/3 larger on the wire: 80% of max_allowed_packet does not fit.
    const blob = new Uint8Array(Math.floor(maxAllowedPacket * 0.8));
    const error = await bus.publish(TooBig, { blob }).catch((e: unknown) => e);
    expectBusError(error, 'PUBLISH_FAILED');
    expect((error as Error).message).toContain('max_allowed_packet');
    expect((error as Error).message).toContain('too-big.event');
    // In a batch, nothing of it is written either.
    const batch = await bus
      .publishBatch(TooBig, [{ blob: new Uint8Array(10) }, { blob }])
      .catch((e: unknown) => e);
    expectBusError(batch, 'PUBLISH_FAILED');
    expect(await live(store)).toEqual([]);
  });

  it("the server's own max_allowed_packet refusal maps to the same error", async () => {
    // A store that believes the limit is larger than it is (as after `SET GLOBAL max_allowed_packet`
    // lowered it): the server refuses the statement.
    const { db } = t.open({ connectionLimit: 1 });
    const info = await mysqlStore(db).serverInfo();
    const store = new MySqlQueueStore(db, {}, { ...info, maxAllowedPacket: 1024 * 1024 * 1024 });
    const error = await store
      .insert({
        rows: [row({ queue: 'big', payload: new Uint8Array(Math.floor(info.maxAllowedPacket * 0.8)) })],
      })
      .catch((e: unknown) => e);
    expectBusError(error, 'PUBLISH_FAILED');
    expect((error as Error).message).toContain('max_allowed_packet');
    expect(await live(mysqlStore(t.db))).toEqual([]);
  });
});

describe('bad arguments', () => {
  it('ids that are not row ids never reach SQL (they are inlined as literals): INVALID_ARGUMENT, nothing changed', async () => {
    const store = mysqlStore(t.db);
    const [id] = await store.insert({ rows: [row({ payload: encodePayload(1) })] });
    await store.claim({ queue: 'q', limit: 1, workerId: 'w', leaseMs: 60_000, handlers: ['test.handler'] });
    const weird = [
      '1 OR 1=1',
      '-1',
      '1e3',
      '01',
      '',
      '99999999999999999999999',
      `${id}; DELETE FROM bus_events`,
      `${id}) OR (1=1`,
    ];
    for (const bad of weird) {
      const calls: [string, () => Promise<unknown>][] = [
        ['listEvents', () => store.inspect.listEvents({ ids: [bad], limit: 10 })],
        ['listArchive afterId', () => store.inspect.listArchive({ afterId: bad, limit: 10 })],
        ['release', () => store.release({ workerId: 'w', events: [{ id: bad, attempt: 1 }] })],
        [
          'extendLeases',
          () => store.extendLeases({ workerId: 'w', leaseMs: 1000, events: [{ id: bad, attempt: 1 }] }),
        ],
        [
          'settle',
          () =>
            store.settle({
              workerId: 'w',
              outcomes: [{ kind: 'completed', id: bad, attempt: 1, archive: true }],
            }),
        ],
        [
          'settle (one-statement path)',
          () =>
            store.settle({
              workerId: 'w',
              outcomes: [{ kind: 'completed', id: bad, attempt: 1, archive: false }],
            }),
        ],
        [
          'rescue',
          () =>
            store.rescue({
              decisions: [{ kind: 'failed', id: bad, attempt: 1, archive: true, error: 'x', workerId: 'w' }],
            }),
        ],
      ];
      for (const [name, call] of calls) {
        const error = await call().catch((e: unknown) => e);
        expect(
          isBusError(error, 'INVALID_ARGUMENT'),
          `${name} with ${JSON.stringify(bad)}: ${String(error)}`,
        ).toBe(true);
      }
    }
    expect((await live(store)).map((r) => [r.id, r.lockedBy])).toEqual([[id, 'w']]);
  });

  it('deadlockRetries is refused with INVALID_CONFIG: conflicts are retried by bus-core now', () => {
    for (const value of [10, 0, -1]) {
      const error = caught(() => new MySqlQueueStore(t.db, { deadlockRetries: value } as never));
      expectBusError(error, 'INVALID_CONFIG', value);
      expect((error as Error).message).toContain('bus-core');
      expect((error as Error).message).toContain('STORE_CONFLICT');
    }
  });

  it('a jsonPayload that is not a boolean is refused with INVALID_CONFIG', () => {
    expectBusError(
      caught(() => mysqlStore(t.db, { jsonPayload: 'yes' as never })),
      'INVALID_CONFIG',
      'yes',
    );
  });
});
