import { createBus, defineEvent, type HandlerSettings, isBusError, Registry } from 'bus-core';
import { waitFor } from 'bus-testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlStore } from '../src/index.js';
import { archived, createTestDatabase, live, type TestDatabase } from './helpers.js';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase({ connectionLimit: 12 });
});
afterAll(async () => {
  await t?.drop();
});

/** KILLs every connection to the test database but the admin one; returns how many. */
async function killAll(): Promise<number> {
  const [rows] = (await t.admin.query(
    'SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
    [t.name],
  )) as unknown as [{ ID: number }[]];
  let killed = 0;
  for (const { ID } of rows) {
    await t.admin.query(`KILL ${Number(ID)}`).then(
      () => killed++,
      () => undefined, // it ended on its own meanwhile
    );
  }
  return killed;
}

const KillEvent = defineEvent<{ n: number }>('kill.event');

describe('KILL <connection id> under load', () => {
  it('workers recover and every row ends archived once; publishes during the cuts resolve or reject with BusError', async () => {
    const store = mysqlStore(t.db);
    const handled = new Map<number, number>();
    class KillHandler {
      static readonly handlerName = 'kill.handler';
      static readonly settings: HandlerSettings = {
        queueName: 'kill',
        maxRetries: 10,
        executionTimeout: 10_000,
      };
      static calculateScheduledAt(): number {
        return 0;
      }
      async handle(payload: { n: number }): Promise<void> {
        await new Promise((resolve) => setTimeout(resolve, 2));
        handled.set(payload.n, (handled.get(payload.n) ?? 0) + 1);
      }
    }
    const registry = new Registry();
    registry.register(KillEvent, KillHandler);
    const errors: string[] = [];
    const bus = createBus({
      store,
      registry,
      rescueInterval: 200,
      logger: { debug() {}, info() {}, warn() {}, error: (m) => void errors.push(m) },
      queues: [
        {
          queueName: 'kill',
          workers: 16,
          batchSize: 16,
          sleepInterval: 50,
          archivePolicy: 'all',
          leaseDuration: 2000,
        },
      ],
    });
    await bus.init();
    const published = new Map<string, number>();
    const first = await bus.publishBatch(
      KillEvent,
      Array.from({ length: 2000 }, (_, n) => ({ n })),
    );
    for (const [n, id] of first.entries()) published.set(id, n);
    await bus.controller.startWorkers();

    let n = 2000;
    let rejected = 0;
    let killed = 0;
    const maybe: number[][] = [];
    const failed: number[][] = [];
    const publishing = (async () => {
      for (let round = 0; round < 60; round++) {
        const payloads = Array.from({ length: 10 }, () => ({ n: n++ }));
        try {
          const ids = await bus.publishBatch(KillEvent, payloads);
          for (const [i, id] of ids.entries()) published.set(id, payloads[i]!.n);
        } catch (error) {
          // PUBLISH_FAILED did not commit; PUBLISH_OUTCOME_UNKNOWN (the connection died with the
          // insert in flight) may have: its rows are checked below to be all there or none.
          const unknown = isBusError(error, 'PUBLISH_OUTCOME_UNKNOWN');
          expect(unknown || isBusError(error, 'PUBLISH_FAILED'), String(error)).toBe(true);
          if (unknown) maybe.push(payloads.map((p) => p.n));
          else failed.push(payloads.map((p) => p.n));
          rejected++;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    for (let round = 0; round < 6; round++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      killed += await killAll();
    }
    await publishing;
    expect(killed).toBeGreaterThan(6);

    await waitFor(async () => (await store.inspect.listEvents({ limit: 1 })).length === 0, {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: `the queue to drain after the cuts (errors: ${errors.slice(-3).join(' | ')})`,
    });
    await bus.controller.awaitTerminationWithTimeout(5000);
    const done = await archived(store);
    const archivedIds = new Set(done.map((a) => a.id));
    expect(done.length).toBe(archivedIds.size);
    for (const id of published.keys()) expect(archivedIds.has(id), `published row ${id} archived`).toBe(true);
    expect(done.every((a) => a.status === 'completed')).toBe(true);
    const attempts = new Map(done.map((a) => [a.id, a.attempts]));
    for (const [id, payload] of published) {
      const runs = handled.get(payload) ?? 0;
      expect(runs, `row ${id}`).toBeGreaterThanOrEqual(1);
      // A second run only after a lost lease (which counted an attempt).
      if (runs > 1) expect(attempts.get(id)!, `row ${id} ran ${runs} times`).toBeGreaterThan(1);
    }
    // A rejected publish is all or nothing: PUBLISH_FAILED ran nothing; an unknown outcome either.
    for (const batch of failed) expect(batch.filter((p) => handled.has(p))).toEqual([]);
    for (const batch of maybe)
      expect([0, batch.length]).toContain(batch.filter((p) => handled.has(p)).length);
    console.info(
      `killed ${killed} connections; ${rejected} of 60 publishes rejected (${maybe.length} with an unknown outcome, ${maybe.filter((b) => handled.has(b[0]!)).length} of them committed); ${[...handled.values()].filter((r) => r > 1).length} rows ran twice`,
    );
  });

  it('a publish whose connection is killed rejects with PUBLISH_FAILED, and the next one works', async () => {
    const store = mysqlStore(t.db);
    class CutHandler {
      static readonly handlerName = 'cut.handler';
      static readonly settings: HandlerSettings = {
        queueName: 'cut',
        maxRetries: 0,
        executionTimeout: 10_000,
      };
      handle(): void {}
    }
    const CutEvent = defineEvent<{ n: number }>('cut.event');
    const registry = new Registry();
    registry.register(CutEvent, CutHandler);
    const bus = createBus({
      store,
      registry,
      queues: [{ queueName: 'cut', workers: 1, batchSize: 1, sleepInterval: 1000, archivePolicy: 'all' }],
    });
    await bus.init();
    let publishError: unknown;
    const outcome = await store
      .transaction(async (tx) => {
        const [rows] = (await tx.execute(sql`SELECT CONNECTION_ID() AS id`)) as unknown as [{ id: number }[]];
        await t.admin.query(`KILL ${Number(rows[0]!.id)}`);
        publishError = await bus.publishTxn(tx, CutEvent, { n: 1 }).catch((e: unknown) => e);
      })
      .then(
        () => 'committed',
        () => 'failed',
      );
    expect(isBusError(publishError, 'PUBLISH_FAILED'), String(publishError)).toBe(true);
    expect(outcome).toBe('failed');
    expect(await live(store, { queue: 'cut' })).toEqual([]);

    // Right after a cut the pool may still hand out a connection the server closed: that publish
    // rejects with a BusError (the insert cannot be retried blindly: it may have committed). The
    // pool drops each dead connection on first use, and publishing works again at once.
    await killAll();
    let ids: string[] = [];
    let failures = 0;
    await waitFor(
      async () => {
        try {
          ids = await bus.publish(CutEvent, { n: 2 });
          return true;
        } catch (error) {
          expect(isBusError(error, 'PUBLISH_FAILED'), String(error)).toBe(true);
          failures++;
          return false;
        }
      },
      { timeoutMs: 5000, message: 'a publish to succeed after the cut' },
    );
    expect(failures).toBeLessThanOrEqual(3);
    expect((await live(store, { ids })).map((r) => r.id)).toEqual(ids);
  });

  it('a publish killed with its insert in flight rejects with PUBLISH_OUTCOME_UNKNOWN; KILL QUERY, which the server answers, with PUBLISH_FAILED', async () => {
    const store = mysqlStore(t.db);
    class SlowHandler {
      static readonly handlerName = 'slow.handler';
      static readonly settings: HandlerSettings = {
        queueName: 'slow',
        maxRetries: 0,
        executionTimeout: 10_000,
      };
      handle(): void {}
    }
    const SlowEvent = defineEvent<{ n: number }>('slow.event');
    const registry = new Registry();
    registry.register(SlowEvent, SlowHandler);
    const bus = createBus({
      store,
      registry,
      queues: [{ queueName: 'slow', workers: 1, batchSize: 1, sleepInterval: 1000, archivePolicy: 'all' }],
    });
    await bus.init();
    // A trigger keeps the insert running long enough to cut it: the client has sent it and waits.
    await t.admin.query(
      'CREATE TRIGGER slow_insert BEFORE INSERT ON bus_events FOR EACH ROW SET @slow = SLEEP(1)',
    );
    try {
      const cut = async (kill: 'CONNECTION' | 'QUERY') => {
        const publishing = bus.publish(SlowEvent, { n: 1 }).then(
          () => undefined,
          (error: unknown) => error,
        );
        const [row] = await waitFor(
          async () => {
            const [rows] = (await t.admin.query(
              "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND (INFO LIKE 'insert into%' OR INFO LIKE '%SLEEP(1)%') AND ID <> CONNECTION_ID()",
              [t.name],
            )) as unknown as [{ ID: number }[]];
            return rows.length > 0 ? rows : undefined;
          },
          { timeoutMs: 5000, message: 'the insert to be running' },
        );
        await t.admin.query(`KILL ${kill} ${Number(row!.ID)}`);
        return publishing;
      };
      const lost = await cut('CONNECTION');
      expect(isBusError(lost, 'PUBLISH_OUTCOME_UNKNOWN'), String(lost)).toBe(true);
      expect(String(lost)).toMatch(/may have committed/);
      const interrupted = await cut('QUERY');
      expect(isBusError(interrupted, 'PUBLISH_FAILED'), String(interrupted)).toBe(true);
      // Both were rolled back by the server (the first could have committed had the KILL come later).
      expect(await live(store, { queue: 'slow' })).toEqual([]);
    } finally {
      await t.admin.query('DROP TRIGGER IF EXISTS slow_insert');
    }
  });
});
