import {
  type Bus,
  createBus,
  decodePayload,
  defineEvent,
  type HandlerContext,
  type HandlerSettings,
  Registry,
} from 'bus-core';
import { waitFor } from 'bus-testing';
import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type PgTx, type PostgresStore, postgresStore } from '../src/index.js';
import { archived, createPglite, createTestSchema, live, type TestSchema } from './helpers.js';

// The transactional outbox and transactional completion, on postgres.js and PGlite.

const OrderPlaced = defineEvent<{ order: number }>('publish.order-placed');

let t: TestSchema;
let lite: Awaited<ReturnType<typeof createPglite>>;
const buses: Bus<PgTx>[] = [];

beforeAll(async () => {
  [t, lite] = await Promise.all([createTestSchema('publish', { max: 10 }), createPglite()]);
  for (const db of [t.db, lite.db] as PgTx[]) {
    await db.execute(sql`CREATE TABLE orders (id int4 PRIMARY KEY)`);
    await db.execute(sql`CREATE TABLE side_effects (event_id int8 PRIMARY KEY, note text NOT NULL)`);
  }
});

afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.controller.awaitTerminationWithTimeout(2000)));
  for (const db of [t.db, lite.db] as PgTx[]) {
    await db.execute(sql`TRUNCATE orders, side_effects, bus_events, bus_events_archive`);
  }
});

afterAll(async () => {
  await lite?.close();
  await t?.drop();
});

const targets = () =>
  [
    ['postgres.js', t.db],
    ['PGlite', lite.db],
  ] as [string, PgTx][];

class OrderHandler {
  static readonly handlerName = 'publish.order-handler';
  static readonly settings: HandlerSettings = {
    queueName: 'orders',
    maxRetries: 0,
    executionTimeout: 10_000,
  };
  handle(): void {}
}

async function makeBus(
  store: PostgresStore,
  register: (r: Registry) => void = (r) => r.register(OrderPlaced, OrderHandler),
) {
  const registry = new Registry();
  register(registry);
  const bus = createBus({
    store,
    registry,
    rescueInterval: 100,
    queues: [{ queueName: 'orders', workers: 4, batchSize: 10, sleepInterval: 50, archivePolicy: 'all' }],
  });
  buses.push(bus);
  await bus.init();
  return bus;
}

async function ids(db: PgTx, query: ReturnType<typeof sql>): Promise<number[]> {
  const result: unknown = await db.execute(query);
  const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as { id: number }[];
  return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
}

describe('transactional publish', () => {
  it.each([
    'postgres.js',
    'PGlite',
  ])('%s: 200 concurrent transactions commit or roll back at random; exactly the committed events exist', async (name) => {
    const [, db] = targets().find(([n]) => n === name)!;
    const store = postgresStore(db, { listen: false });
    const bus = await makeBus(store);
    const committed: number[] = [];
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, order) =>
        db.transaction(async (tx) => {
          await tx.execute(sql`INSERT INTO orders (id) VALUES (${order})`);
          // Sometimes one event, sometimes a batch with a second copy.
          if (order % 3 === 0)
            await bus.publishBatchTxn(tx, OrderPlaced, [{ order }, { order: order + 1000 }]);
          else await bus.publishTxn(tx, OrderPlaced, { order });
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
          if (Math.random() < 0.5) throw new Error(`order ${order} rolled back`);
          committed.push(order);
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(committed.length);
    expect(committed.length).toBeGreaterThan(0);
    expect(committed.length).toBeLessThan(200);

    const expected = committed.flatMap((order) => (order % 3 === 0 ? [order, order + 1000] : [order]));
    const published = (await live(store)).map((r) => (decodePayload(r.payload) as { order: number }).order);
    expect(published.sort((a, b) => a - b)).toEqual(expected.sort((a, b) => a - b));
    expect(await ids(db, sql`SELECT id FROM orders`)).toEqual([...committed].sort((a, b) => a - b));
  });
});

describe('transactional completion', () => {
  it.each([
    'postgres.js',
    'PGlite',
  ])("%s: a handler's writes in ctx.tx commit with the completion, and roll back with a failure", async (name) => {
    const [, db] = targets().find(([n]) => n === name)!;
    const store = postgresStore(db);
    class WritingHandler {
      static readonly handlerName = 'publish.writing-handler';
      static readonly settings: HandlerSettings = {
        queueName: 'orders',
        maxRetries: 0,
        executionTimeout: 10_000,
        transactional: true,
      };
      async handle(event: { order: number }, ctx: HandlerContext<PgTx>): Promise<void> {
        await ctx.tx!.execute(
          sql`INSERT INTO side_effects (event_id, note) VALUES (${ctx.id}::int8, 'written')`,
        );
        if (event.order < 0) throw new Error('the handler failed after writing');
      }
    }
    const bus = await makeBus(store, (r) => r.register(OrderPlaced, WritingHandler));
    const [good] = await bus.publish(OrderPlaced, { order: 1 });
    const [bad] = await bus.publish(OrderPlaced, { order: -1 });
    await bus.controller.startWorkers();
    await waitFor(async () => (await archived(store)).length === 2, { message: 'both rows archived' });
    const archive = Object.fromEntries((await archived(store)).map((r) => [r.id, r.status]));
    expect(archive).toEqual({ [good!]: 'completed', [bad!]: 'failed' });
    expect(await ids(db, sql`SELECT event_id AS id FROM side_effects`)).toEqual([Number(good)]);
  });

  it('postgres.js: when the fence fails at settle, the handler’s writes roll back too', async () => {
    const store = postgresStore(t.db);
    let stolen = false;
    class StolenHandler {
      static readonly handlerName = 'publish.stolen-handler';
      static readonly settings: HandlerSettings = {
        queueName: 'orders',
        maxRetries: 0,
        executionTimeout: 10_000,
        transactional: true,
      };
      async handle(_event: { order: number }, ctx: HandlerContext<PgTx>): Promise<void> {
        await ctx.tx!.execute(
          sql`INSERT INTO side_effects (event_id, note) VALUES (${ctx.id}::int8, 'written')`,
        );
        // Meanwhile another worker took the row over (its lease was rescued and claimed again).
        await t.db.execute(sql`UPDATE bus_events SET locked_by = 'thief' WHERE id = ${ctx.id}::int8`);
        stolen = true;
      }
    }
    const bus = await makeBus(store, (r) => r.register(OrderPlaced, StolenHandler));
    const [id] = await bus.publish(OrderPlaced, { order: 1 });
    await bus.controller.startWorkers();
    await waitFor(() => stolen, { message: 'the handler ran' });
    await bus.controller.awaitTerminationWithTimeout(5000);
    expect(await ids(t.db, sql`SELECT event_id AS id FROM side_effects`)).toEqual([]);
    expect((await live(store, { ids: [id!] }))[0]).toMatchObject({ lockedBy: 'thief' });
    expect(await archived(store)).toEqual([]);
  });
});
