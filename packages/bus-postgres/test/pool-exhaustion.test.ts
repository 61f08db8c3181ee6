import {
  type Bus,
  createBus,
  defineEvent,
  type HandlerContext,
  type HandlerSettings,
  isBusError,
  type Logger,
  Registry,
} from 'bus-core';
import { waitFor } from 'bus-testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PgTx, postgresStore } from '../src/index.js';
import { createTestSchema, pgClient, type TestSchema } from './helpers.js';

// A pool far smaller than queues × workers: `max: 2` for 5 queues, LISTEN and heartbeats. Nothing
// deadlocks and no lease runs out (handlers outlive the lease, so only heartbeats keep them);
// a pool too small for the transactional handlers that may run at once is refused up front.

const QUEUES = ['p1', 'p2', 'p3', 'p4', 'p5'];
const PER_QUEUE = 12;
const LEASE_MS = 1000;

let t: TestSchema;
const clients: postgres.Sql[] = [];
const buses: Bus<PgTx>[] = [];

beforeAll(async () => {
  t = await createTestSchema('pool');
  await t.db.execute(sql`CREATE TABLE ran (queue text NOT NULL, n int4 NOT NULL, attempt int4 NOT NULL)`);
});

afterAll(async () => {
  for (const bus of buses.splice(0)) {
    bus.controller.shutdown();
    await bus.controller.awaitTerminationWithTimeout(5000);
  }
  for (const c of clients.splice(0)) await c.end({ timeout: 5 });
  await t?.drop();
});

const Work = QUEUES.map((q) => defineEvent<{ n: number }>(`pool.${q}`));

function handlersFor(transactional: string[]) {
  return QUEUES.map((queueName) => {
    const isTx = transactional.includes(queueName);
    return class {
      static readonly handlerName: string = `pool.${queueName}-handler`;
      static readonly settings: HandlerSettings = {
        queueName,
        maxRetries: 5,
        executionTimeout: 10_000,
        ...(isTx ? { transactional: true } : {}),
      };
      static calculateScheduledAt(): number {
        return 0;
      }
      async handle(event: { n: number }, ctx: HandlerContext<PgTx>): Promise<void> {
        // Longer than the lease: only heartbeats keep the row.
        await new Promise((resolve) => setTimeout(resolve, LEASE_MS + 300));
        const db = ctx.tx ?? t.db;
        await db.execute(sql`INSERT INTO ran VALUES (${queueName}, ${event.n}, ${ctx.attempt})`);
      }
    };
  });
}

function makeBus(
  client: postgres.Sql,
  transactional: string[],
  workers: number,
  logs: string[],
): { bus: Bus<PgTx>; store: ReturnType<typeof postgresStore> } {
  const registry = new Registry();
  const store = postgresStore(drizzle(client), { listenCheckInterval: 500 });
  const classes = handlersFor(transactional);
  for (const [i, event] of Work.entries()) registry.register(event, classes[i]!);
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (message, fields) => void logs.push(`${message} ${JSON.stringify(fields)}`),
    error: (message, fields) => void logs.push(`${message} ${JSON.stringify(fields)}`),
  };
  const bus = createBus({
    store,
    registry,
    logger,
    rescueInterval: 200,
    queues: QUEUES.map((queueName) => ({
      queueName,
      workers,
      batchSize: 4,
      sleepInterval: 30_000,
      archivePolicy: 'all' as const,
      leaseDuration: LEASE_MS,
    })),
  });
  buses.push(bus);
  return { bus, store };
}

describe('a connection pool smaller than the queues need at once', () => {
  it('max 2, 5 queues of 4 workers, LISTEN and heartbeats: everything runs once, no lease is lost', async () => {
    const client = pgClient({ schema: t.schema, max: 2 });
    clients.push(client);
    const logs: string[] = [];
    const { bus, store } = makeBus(client, [], 4, logs);
    await bus.init();
    expect(store.capabilities.poolSize).toBe(2);
    await bus.controller.startWorkers();
    // Published after the workers went idle: only NOTIFY (over the LISTEN connection) wakes them.
    for (const [i, event] of Work.entries()) {
      await bus.publishBatch(
        event,
        Array.from({ length: PER_QUEUE }, (_, n) => ({ n: i * 1000 + n })),
      );
    }
    const total = QUEUES.length * PER_QUEUE;
    await waitFor(
      async () => {
        const rows = (await t.db.execute(
          sql`SELECT count(*)::int AS n FROM bus_events_archive WHERE status = 'completed'`,
        )) as unknown as { n: number }[];
        return rows[0]!.n === total;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: `${total} rows completed through a pool of 2` },
    );
    const ran = (await t.db.execute(
      sql`SELECT count(*)::int AS runs, count(DISTINCT (queue, n))::int AS distinct_runs, max(attempt)::int AS attempt FROM ran`,
    )) as unknown as { runs: number; distinct_runs: number; attempt: number }[];
    expect(ran[0]).toEqual({ runs: total, distinct_runs: total, attempt: 1 });
    expect(logs.filter((l) => /LEASE|lease|failed/.test(l))).toEqual([]);
    bus.controller.shutdown();
    expect(await bus.controller.awaitTerminationWithTimeout(5000)).toBe(true);
  });

  it('refuses at startWorkers a pool smaller than 1 + the transactional runs that may be in progress', async () => {
    await t.truncate();
    const client = pgClient({ schema: t.schema, max: 2 });
    clients.push(client);
    // Two transactional queues of 2 workers: 1 + 4 = 5 connections needed, the pool has 2.
    const { bus } = makeBus(client, ['p1', 'p2'], 2, []);
    await bus.init();
    const error = await bus.controller.startWorkers().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBusError(error, 'POOL_TOO_SMALL'), String(error)).toBe(true);
    expect(String((error as Error).message)).toMatch(/holds 2 connections, but these workers need 5/);
    // Publishing needs one connection only: it still works.
    await bus.publish(Work[2]!, { n: 1 });
  });

  it('a transactional queue within the budget runs', async () => {
    await t.db.execute(sql`TRUNCATE bus_events, bus_events_archive, ran`);
    const client = pgClient({ schema: t.schema, max: 2 });
    clients.push(client);
    const { bus } = makeBus(client, ['p1'], 1, []);
    await bus.init();
    await bus.controller.startWorkers();
    await bus.publishBatch(Work[0]!, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    await waitFor(
      async () => {
        const rows = (await t.db.execute(sql`SELECT count(*)::int AS n FROM ran`)) as unknown as {
          n: number;
        }[];
        return rows[0]!.n === 3;
      },
      { timeoutMs: 15_000, message: 'three transactional runs' },
    );
    bus.controller.shutdown();
    expect(await bus.controller.awaitTerminationWithTimeout(5000)).toBe(true);
  });
});
