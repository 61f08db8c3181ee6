import { createHash, randomBytes } from 'node:crypto';
import {
  BusError,
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
import { createTestDatabase, type TestDatabase, truncate } from './helpers.js';

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
    'x'.repeat(65),
    'a.b',
    42,
    null,
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

  it('accepts identifiers up to 64 characters and refuses the same name twice', () => {
    expect(() => createBusTables({ eventsTable: `_${'a'.repeat(63)}`, archiveTable: 'A_1' })).not.toThrow();
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
    await waitFor(async () => (await store.listArchive()).length === 5, {
      message: 'all five rows archived',
    });
    await bus.controller.awaitTerminationWithTimeout(2000);
    const archive = await store.listArchive();
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
    const store = mysqlStore(t.db);
    const bus = createBus({
      store,
      registry,
      jsonPayload: true,
      queues: [{ queueName: 'proto', workers: 1, batchSize: 1, sleepInterval: 20, archivePolicy: 'all' }],
    });
    await bus.init();
    const payload = JSON.parse(
      '{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}, "ok": 1}',
    ) as Record<string, unknown>;
    const [id] = await bus.publish(ProtoEvent, payload);
    const [row] = await store.listEvents({ ids: [id!] });
    expect(Object.getPrototypeOf(row!.payloadJson)).toBe(Object.prototype);
    expect((row!.payloadJson as { ok: number }).ok).toBe(1);
    await bus.controller.startWorkers();
    await waitFor(() => got.length === 1, { message: 'handled' });
    await bus.controller.awaitTerminationWithTimeout(2000);
    expect(got[0]!.ok).toBe(1);
    expect(Object.getPrototypeOf(got[0])).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect((await store.listArchive({ ids: [id!] }))[0]!.status).toBe('completed');
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
    const [archived] = await store.listArchive({ ids: [id!] });
    expect(archived!.status).toBe('completed');
    expect(archived!.payload.byteLength).toBe(encodePayload({ blob: new Uint8Array(blob) }).byteLength);
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
    expect(await store.listEvents()).toEqual([]);
  });

  it("the server's own max_allowed_packet refusal maps to the same error", async () => {
    // A store that believes the limit is larger than it is (as after `SET GLOBAL max_allowed_packet`
    // lowered it): the server refuses the statement.
    const { db } = t.open({ connectionLimit: 1 });
    const info = await mysqlStore(db).serverInfo();
    const store = new MySqlQueueStore(db, {}, { ...info, maxAllowedPacket: 1024 * 1024 * 1024 });
    const error = await store
      .insert({
        rows: [
          {
            queue: 'big',
            eventName: 'e',
            handlerName: 'h',
            payload: new Uint8Array(Math.floor(info.maxAllowedPacket * 0.8)),
            payloadJson: null,
            maxRetries: 0,
            priority: 0,
            delayMs: 0,
            runAt: null,
          },
        ],
      })
      .catch((e: unknown) => e);
    expectBusError(error, 'PUBLISH_FAILED');
    expect((error as Error).message).toContain('max_allowed_packet');
    expect(await mysqlStore(t.db).listEvents()).toEqual([]);
  });
});

describe('bad arguments', () => {
  it('ids that cannot exist match nothing instead of reaching SQL', async () => {
    const store = mysqlStore(t.db);
    const [id] = await store.insert({
      rows: [
        {
          queue: 'q',
          eventName: 'e',
          handlerName: 'h',
          payload: encodePayload(1),
          payloadJson: null,
          maxRetries: 0,
          priority: 0,
          delayMs: 0,
          runAt: null,
        },
      ],
    });
    const weird = [
      '1 OR 1=1',
      '-1',
      '1e3',
      '01',
      '',
      '99999999999999999999999',
      `${id}; DELETE FROM bus_events`,
    ];
    expect(await store.listEvents({ ids: weird })).toEqual([]);
    expect(await store.release({ workerId: 'w', events: weird.map((w) => ({ id: w, attempt: 1 })) })).toEqual(
      [],
    );
    expect(
      (
        await store.settle({
          workerId: 'w',
          outcomes: weird.map((w) => ({ kind: 'completed', id: w, attempt: 1, archive: true })),
        })
      ).settled,
    ).toEqual([]);
    expect(await store.listEvents()).toHaveLength(1);
    expect(() => new MySqlQueueStore(t.db, { deadlockRetries: -1 })).toThrow(BusError);
  });
});
