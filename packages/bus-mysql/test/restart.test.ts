import {
  createBus,
  defineEvent,
  type HandlerContext,
  type HandlerSettings,
  isBusError,
  Registry,
} from 'bus-core';
import { waitFor } from 'bus-testing';
import { drizzle } from 'drizzle-orm/mysql2';
import mysql, { type Pool } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PrivateMariaDb, startPrivateMariaDb } from '../../../test-support/private-mariadb.js';
import { type MySqlTx, migrate, mysqlStore } from '../src/index.js';

// Issue 12, item 2: a private MariaDB (own data directory, port and socket) restarted again and
// again, cleanly and by SIGKILL, during a drain with publishers running. Every acknowledged
// publish is handled, publishes during the downtime reject with a BusError (quickly: the
// connection is refused), workers resume by themselves within ~2 s of the server answering, and
// nothing is left behind (timers, sockets, listeners).

let server: PrivateMariaDb;

beforeAll(async () => {
  server = await startPrivateMariaDb();
  const admin = await mysql.createConnection({ uri: server.url });
  await admin.query('CREATE DATABASE bus CHARACTER SET utf8mb4');
  await admin.end();
}, 60_000);

afterAll(async () => {
  await server?.destroy();
});

const RestartEvent = defineEvent<{ n: number }>('restart.event');

/** Resource kinds (timers, sockets, …) by count, to compare before and after. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

describe('a MariaDB server restarted again and again under load', () => {
  it('loses no acknowledged publish, rejects during downtime with BusError, resumes by itself, leaks nothing', async () => {
    const listenersBefore = ['exit', 'uncaughtException', 'unhandledRejection', 'SIGTERM', 'SIGINT'].map(
      (e) => process.listenerCount(e),
    );
    const resourcesBefore = resources();
    const pool: Pool = mysql.createPool({
      uri: `${server.url}/bus`,
      connectionLimit: 12,
      connectTimeout: 2000,
    });
    const db = drizzle(pool) as unknown as MySqlTx;
    await migrate(db);
    const store = mysqlStore(db);

    const handled = new Map<number, number>();
    let lastHandledAt = 0;
    class RestartHandler {
      static readonly handlerName = 'restart.handler';
      static readonly settings: HandlerSettings = {
        queueName: 'restart',
        maxRetries: 50,
        executionTimeout: 10_000,
      };
      static calculateScheduledAt(): number {
        return 50;
      }
      async handle(payload: { n: number }, _ctx: HandlerContext): Promise<void> {
        await new Promise((resolve) => setTimeout(resolve, 1));
        handled.set(payload.n, (handled.get(payload.n) ?? 0) + 1);
        lastHandledAt = Date.now();
      }
    }
    const registry = new Registry();
    registry.register(RestartEvent, RestartHandler);
    const errors: string[] = [];
    const bus = createBus({
      store,
      registry,
      rescueInterval: 250,
      logger: { debug() {}, info() {}, warn() {}, error: (m) => void errors.push(m) },
      queues: [
        {
          queueName: 'restart',
          workers: 16,
          batchSize: 32,
          sleepInterval: 100,
          archivePolicy: 'all',
          leaseDuration: 3000,
        },
      ],
    });
    await bus.init();
    await bus.controller.startWorkers();

    const acknowledged: number[] = [];
    const failed: number[][] = [];
    const unknown: number[][] = [];
    const notBusErrors: unknown[] = [];
    let slowestRejectionMs = 0;
    let publishing = true;
    let n = 0;
    const publisher = (async () => {
      while (publishing) {
        const payloads = Array.from({ length: 20 }, () => ({ n: n++ }));
        const sent = Date.now();
        try {
          await bus.publishBatch(RestartEvent, payloads);
          acknowledged.push(...payloads.map((p) => p.n));
        } catch (error) {
          slowestRejectionMs = Math.max(slowestRejectionMs, Date.now() - sent);
          if (isBusError(error, 'PUBLISH_OUTCOME_UNKNOWN')) unknown.push(payloads.map((p) => p.n));
          else if (isBusError(error, 'PUBLISH_FAILED')) failed.push(payloads.map((p) => p.n));
          else notBusErrors.push(error);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const resumeMs: number[] = [];
    for (let round = 0; round < 4; round++) {
      await waitFor(() => handled.size > 0 && Date.now() - lastHandledAt < 200, {
        timeoutMs: 10_000,
        message: 'rows being handled before the restart',
      });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await server.stop(round % 2 === 0 ? 'SIGTERM' : 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await server.start();
      const back = Date.now();
      // Rows keep arriving (the publisher runs): workers must handle one again, unaided.
      await waitFor(() => lastHandledAt > back, {
        timeoutMs: 10_000,
        intervalMs: 10,
        message: `workers to resume after restart ${round + 1} (errors: ${errors.slice(-2).join(' | ')})`,
      });
      resumeMs.push(lastHandledAt - back);
    }
    publishing = false;
    await publisher;

    await waitFor(() => acknowledged.every((p) => handled.has(p)), {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: 'every acknowledged publish to be handled',
    });
    await waitFor(async () => (await store.inspect.listEvents({ limit: 1 })).length === 0, {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: 'the queue to drain',
    });
    expect(await bus.controller.awaitTerminationWithTimeout(10_000)).toBe(true);
    await pool.end();

    console.info(
      `4 restarts: resumed after ${resumeMs.join(', ')} ms; ${acknowledged.length} rows acknowledged, ` +
        `${failed.length} publishes failed, ${unknown.length} with an unknown outcome ` +
        `(${unknown.filter((b) => handled.has(b[0]!)).length} committed); slowest rejection ${slowestRejectionMs} ms; ` +
        `${[...handled.values()].filter((c) => c > 1).length} rows ran twice`,
    );
    expect(notBusErrors).toEqual([]);
    expect(failed.length + unknown.length).toBeGreaterThan(0);
    for (const ms of resumeMs) expect(ms).toBeLessThan(2500);
    expect(slowestRejectionMs).toBeLessThan(3000);
    for (const batch of failed) expect(batch.filter((p) => handled.has(p))).toEqual([]);
    for (const batch of unknown)
      expect([0, batch.length]).toContain(batch.filter((p) => handled.has(p)).length);

    // Nothing left behind: no timers, sockets or listeners beyond what was there before.
    await waitFor(
      () => {
        const now = resources();
        return Object.entries(now).every(([kind, count]) => count <= (resourcesBefore[kind] ?? 0));
      },
      {
        timeoutMs: 5000,
        message: `resources to return to ${JSON.stringify(resourcesBefore)} (now ${JSON.stringify(resources())})`,
      },
    );
    expect(
      ['exit', 'uncaughtException', 'unhandledRejection', 'SIGTERM', 'SIGINT'].map((e) =>
        process.listenerCount(e),
      ),
    ).toEqual(listenersBefore);
  }, 120_000);

  it('a hung server (SIGSTOP): publishes and claims reject within statementTimeout, and all resumes on SIGCONT', async () => {
    const pool: Pool = mysql.createPool({
      uri: `${server.url}/bus`,
      connectionLimit: 4,
      connectTimeout: 1000,
    });
    const store = mysqlStore(drizzle(pool) as unknown as MySqlTx, { statementTimeout: 1000 });
    const handled = new Set<number>();
    class HungHandler {
      static readonly handlerName = 'hung.handler';
      static readonly settings: HandlerSettings = {
        queueName: 'hung',
        maxRetries: 20,
        executionTimeout: 10_000,
      };
      static calculateScheduledAt(): number {
        return 0;
      }
      handle(payload: { n: number }): void {
        handled.add(payload.n);
      }
    }
    const HungEvent = defineEvent<{ n: number }>('hung.event');
    const registry = new Registry();
    registry.register(HungEvent, HungHandler);
    const errors: string[] = [];
    const bus = createBus({
      store,
      registry,
      rescueInterval: 250,
      logger: { debug() {}, info() {}, warn() {}, error: (m) => void errors.push(m) },
      queues: [
        {
          queueName: 'hung',
          workers: 4,
          batchSize: 4,
          sleepInterval: 50,
          archivePolicy: 'all',
          leaseDuration: 3000,
        },
      ],
    });
    await bus.init();
    await bus.controller.startWorkers();
    await bus.publish(HungEvent, { n: 1 });
    await waitFor(() => handled.has(1), { message: 'the first row handled' });

    server.signal('SIGSTOP');
    let elapsed = 0;
    let rejection: unknown;
    try {
      const sent = Date.now();
      rejection = await bus.publish(HungEvent, { n: 2 }).then(
        () => undefined,
        (error: unknown) => error,
      );
      elapsed = Date.now() - sent;
      // The claim loop times out too and logs it; it does not hang.
      await waitFor(() => errors.some((e) => /claim failed/.test(e)), {
        timeoutMs: 5000,
        message: 'a claim to time out',
      });
    } finally {
      server.signal('SIGCONT');
    }
    // Sent on an open connection that never answered: it may still commit.
    expect(isBusError(rejection, 'PUBLISH_OUTCOME_UNKNOWN'), String(rejection)).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(2500);

    await bus.publish(HungEvent, { n: 3 });
    await waitFor(() => handled.has(3), { timeoutMs: 15_000, message: 'work to resume after SIGCONT' });
    expect(await bus.controller.awaitTerminationWithTimeout(10_000)).toBe(true);
    await pool.end();
  }, 60_000);

  it('statementTimeout that is not false or an integer from 1 to 3600000 is INVALID_CONFIG', () => {
    const pool = mysql.createPool({ uri: `${server.url}/bus` });
    const db = drizzle(pool) as unknown as MySqlTx;
    for (const bad of [0, -1, 1.5, 3_600_001, '1000', true, null]) {
      let error: unknown;
      try {
        mysqlStore(db, { statementTimeout: bad as never });
      } catch (e) {
        error = e;
      }
      if (bad === null) continue; // null is "not given": the default applies
      expect(isBusError(error, 'INVALID_CONFIG'), `${String(bad)}: ${String(error)}`).toBe(true);
      expect(String(error)).toMatch(/statementTimeout must be false or an integer from 1 to 3600000/);
    }
    expect(() => mysqlStore(db, { statementTimeout: false })).not.toThrow();
    void pool.end();
  });
});
