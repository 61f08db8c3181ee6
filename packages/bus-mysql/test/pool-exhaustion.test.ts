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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MySqlTx, mysqlStore } from '../src/index.js';
import { createTestDatabase, type TestDatabase, truncate } from './helpers.js';

// Issue 12, item 6 on MariaDB: a mysql2 pool far smaller than queues × workers (`connectionLimit:
// 2` for 5 queues and their heartbeats). Nothing deadlocks and no lease runs out (handlers outlive
// the lease, so only heartbeats keep them); a pool too small for the transactional handlers that
// may run at once is refused at startWorkers with POOL_TOO_SMALL.

const QUEUES = ['p1', 'p2', 'p3', 'p4', 'p5'];
const PER_QUEUE = 12;
const LEASE_MS = 1000;

let t: TestDatabase;
const buses: Bus<MySqlTx>[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  await t.admin.query('CREATE TABLE ran (queue varchar(10) NOT NULL, n int NOT NULL, attempt int NOT NULL)');
});

afterAll(async () => {
  for (const bus of buses.splice(0)) {
    bus.controller.shutdown();
    await bus.controller.awaitTerminationWithTimeout(5000);
  }
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
      async handle(event: { n: number }, ctx: HandlerContext<MySqlTx>): Promise<void> {
        // Longer than the lease: only heartbeats keep the row.
        await new Promise((resolve) => setTimeout(resolve, LEASE_MS + 300));
        const db = ctx.tx ?? t.db;
        await db.execute(sql`INSERT INTO ran VALUES (${queueName}, ${event.n}, ${ctx.attempt})`);
      }
    };
  });
}

function makeBus(connectionLimit: number, transactional: string[], workers: number, logs: string[]) {
  const { db } = t.open({ connectionLimit });
  const store = mysqlStore(db);
  const registry = new Registry();
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
      sleepInterval: 100,
      archivePolicy: 'all' as const,
      leaseDuration: LEASE_MS,
    })),
  });
  buses.push(bus);
  return { bus, store };
}

async function count(query: string): Promise<number> {
  const [rows] = (await t.admin.query(query)) as unknown as [{ n: number }[]];
  return Number(rows[0]!.n);
}

describe('a mysql2 pool smaller than the queues need at once', () => {
  it('connectionLimit 2, 5 queues of 4 workers and heartbeats: everything runs once, no lease is lost', async () => {
    const logs: string[] = [];
    const { bus, store } = makeBus(2, [], 4, logs);
    await bus.init();
    expect(store.capabilities.poolSize).toBe(2);
    await bus.controller.startWorkers();
    for (const [i, event] of Work.entries()) {
      await bus.publishBatch(
        event,
        Array.from({ length: PER_QUEUE }, (_, n) => ({ n: i * 1000 + n })),
      );
    }
    const total = QUEUES.length * PER_QUEUE;
    await waitFor(
      async () =>
        (await count("SELECT COUNT(*) AS n FROM bus_events_archive WHERE status = 'completed'")) === total,
      { timeoutMs: 30_000, intervalMs: 100, message: `${total} rows completed through a pool of 2` },
    );
    const [ran] = (await t.admin.query(
      'SELECT COUNT(*) AS runs, COUNT(DISTINCT queue, n) AS distinct_runs, MAX(attempt) AS attempt FROM ran',
    )) as unknown as [{ runs: number; distinct_runs: number; attempt: number }[]];
    expect(ran[0]).toEqual({ runs: total, distinct_runs: total, attempt: 1 });
    expect(logs.filter((l) => /LEASE|lease|failed/.test(l))).toEqual([]);
    bus.controller.shutdown();
    expect(await bus.controller.awaitTerminationWithTimeout(5000)).toBe(true);
  });

  it('refuses at startWorkers a pool smaller than 1 + the transactional runs that may be in progress', async () => {
    await truncate(t);
    // Two transactional queues of 2 workers: 1 + 4 = 5 connections needed, the pool has 2.
    const { bus } = makeBus(2, ['p1', 'p2'], 2, []);
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
    await truncate(t);
    await t.admin.query('TRUNCATE TABLE ran');
    const { bus } = makeBus(2, ['p1'], 1, []);
    await bus.init();
    await bus.controller.startWorkers();
    await bus.publishBatch(Work[0]!, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    await waitFor(async () => (await count('SELECT COUNT(*) AS n FROM ran')) === 3, {
      timeoutMs: 15_000,
      message: 'three transactional runs',
    });
    bus.controller.shutdown();
    expect(await bus.controller.awaitTerminationWithTimeout(5000)).toBe(true);
  });
});
