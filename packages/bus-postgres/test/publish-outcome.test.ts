import { type Bus, createBus, defineEvent, isBusError, Registry } from 'bus-core';
import { waitFor } from 'bus-testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PgTx, postgresStore } from '../src/index.js';
import {
  createTestSchema,
  pgClient,
  type TcpProxy,
  type TestSchema,
  tcpProxy,
  uniqueName,
} from './helpers.js';

// What a rejected publish says about its rows: PUBLISH_FAILED (and STORE_TIMEOUT before the
// statement was sent) means nothing committed; PUBLISH_OUTCOME_UNKNOWN means the connection was
// lost (or the timeout elapsed) after the insert was sent, and the rows may exist.

const Outcome = defineEvent<{ tag: string }>('outcome.event');
class OutcomeHandler {
  static readonly handlerName = 'outcome.handler';
  static readonly settings = { queueName: 'outcome', maxRetries: 1, executionTimeout: 1000 };
  static calculateScheduledAt(): number {
    return 0;
  }
  handle(): void {}
}

let t: TestSchema;
let proxy: TcpProxy;
const clients: postgres.Sql[] = [];

beforeAll(async () => {
  [t, proxy] = await Promise.all([createTestSchema('outcome'), tcpProxy()]);
  // A publish whose payload tag starts with "slow" spends 1.5 s in the insert: time to cut it.
  await t.db.execute(sql`CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF position(convert_to('slow', 'UTF8') IN NEW.payload) > 0 THEN PERFORM pg_sleep(1.5); END IF;
      RETURN NEW;
    END $$`);
  await t.db.execute(
    sql`CREATE TRIGGER slow_insert BEFORE INSERT ON bus_events FOR EACH ROW EXECUTE FUNCTION slow_insert()`,
  );
});

afterAll(async () => {
  for (const c of clients.splice(0)) await c.end({ timeout: 1 });
  await proxy?.close();
  await t?.drop();
});

function publisher(options: { url?: string; max?: number; statementTimeout?: number; app?: string }): {
  bus: Bus<PgTx>;
  client: postgres.Sql;
} {
  const client = pgClient({
    schema: t.schema,
    max: options.max ?? 2,
    ...(options.url === undefined ? {} : { url: options.url }),
    ...(options.app === undefined ? {} : { applicationName: options.app }),
  });
  clients.push(client);
  const registry = new Registry();
  registry.register(Outcome, OutcomeHandler);
  const bus = createBus({
    store: postgresStore(drizzle(client), {
      listen: false,
      ...(options.statementTimeout === undefined ? {} : { statementTimeout: options.statementTimeout }),
    }),
    registry,
    queues: [{ queueName: 'outcome', workers: 1, batchSize: 1, sleepInterval: 1000, archivePolicy: 'none' }],
  });
  return { bus, client };
}

async function rowsTagged(tag: string): Promise<number> {
  const rows = (await t.db.execute(
    sql`SELECT count(*)::int AS n FROM bus_events WHERE position(convert_to(${tag}::text, 'UTF8') IN payload) > 0`,
  )) as unknown as { n: number }[];
  return rows[0]!.n;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('the publish resolved');
}

describe('the outcome of a publish that fails', () => {
  it('a session terminated while its insert runs: PUBLISH_OUTCOME_UNKNOWN', async () => {
    const app = uniqueName('outcome_kill');
    const { bus } = publisher({ app });
    await bus.init();
    const tag = uniqueName('slow');
    const publishing = rejection(bus.publish(Outcome, { tag }));
    await waitFor(
      async () => {
        const rows = (await t.db.execute(sql`SELECT count(pg_terminate_backend(pid))::int AS n
          FROM pg_stat_activity WHERE application_name = ${app} AND state = 'active'`)) as unknown as {
          n: number;
        }[];
        return rows[0]!.n > 0;
      },
      { timeoutMs: 5000, message: 'the insert to be running' },
    );
    const error = await publishing;
    expect(isBusError(error, 'PUBLISH_OUTCOME_UNKNOWN'), String(error)).toBe(true);
    expect(String((error as Error).message)).toMatch(/may have committed|outcome is unknown/);
  });

  it('the statement timeout elapses while the insert runs: PUBLISH_OUTCOME_UNKNOWN, and the rows do commit', async () => {
    const { bus } = publisher({ statementTimeout: 300 });
    await bus.init();
    const tag = uniqueName('slow');
    const started = Date.now();
    const error = await rejection(bus.publish(Outcome, { tag }));
    expect(Date.now() - started).toBeLessThan(1200);
    expect(isBusError(error, 'PUBLISH_OUTCOME_UNKNOWN'), String(error)).toBe(true);
    // Why the code is not PUBLISH_FAILED: the insert went on and committed.
    await waitFor(async () => (await rowsTagged(tag)) === 1, {
      timeoutMs: 5000,
      message: 'the timed-out insert to commit',
    });
  });

  it('no connection within the statement timeout: STORE_TIMEOUT, and nothing is inserted', async () => {
    const { bus, client } = publisher({ max: 1, statementTimeout: 300 });
    await bus.init();
    // The one pooled connection is reserved (as by a long transaction): statements queue for it.
    const reserved = await client.reserve();
    const tag = uniqueName('queued');
    const started = Date.now();
    const error = await rejection(bus.publish(Outcome, { tag }));
    expect(Date.now() - started).toBeLessThan(1200);
    expect(isBusError(error, 'STORE_TIMEOUT'), String(error)).toBe(true);
    expect(String((error as Error).message)).toMatch(/was not sent/);
    reserved.release();
    // The cancelled statement was dropped from the client's queue: it never runs.
    await client`SELECT 1`;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await rowsTagged(tag)).toBe(0);
  });

  it('no connection for a transaction within the statement timeout: STORE_TIMEOUT, and nothing is inserted', async () => {
    const { bus, client } = publisher({ max: 1, statementTimeout: 300 });
    await bus.init();
    const reserved = await client.reserve();
    const tag = uniqueName('queued_tx');
    const started = Date.now();
    // A keyed publish with a period runs in a transaction of its own: the wait is for its BEGIN.
    const unique = { key: tag, period: 60_000 };
    const error = await rejection(bus.publish(Outcome, { tag }, { unique }));
    expect(Date.now() - started).toBeLessThan(1200);
    expect(isBusError(error, 'STORE_TIMEOUT'), String(error)).toBe(true);
    expect(String((error as Error).message)).toMatch(/BEGIN/);
    reserved.release();
    // The transaction got its connection after the timeout and did nothing: no row, no key.
    await client`SELECT 1`;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await rowsTagged(tag)).toBe(0);
    const again = await bus.publishUnique(Outcome, { tag }, unique);
    expect(again.duplicate, 'the abandoned transaction took no key').toBe(false);
    expect(await rowsTagged(tag)).toBe(1);
  });

  it('the database refuses connections: PUBLISH_FAILED at once, and nothing is inserted', async () => {
    const { bus } = publisher({ url: proxy.url });
    await bus.init();
    await proxy.down();
    // The client notices its pooled connection closed (as when a server shuts down) before the
    // publish: the statement is never sent.
    await new Promise((resolve) => setTimeout(resolve, 100));
    try {
      const tag = uniqueName('refused');
      const started = Date.now();
      const error = await rejection(bus.publish(Outcome, { tag }));
      expect(Date.now() - started).toBeLessThan(2000);
      expect(isBusError(error, 'PUBLISH_FAILED'), String(error)).toBe(true);
      expect(await rowsTagged(tag)).toBe(0);
    } finally {
      await proxy.up();
    }
  });

  it('rejects a statementTimeout that is not a positive integer or false', () => {
    for (const statementTimeout of [0, -1, 1.5, '100', Number.NaN, 3_600_001, true]) {
      expect(
        () => postgresStore(t.db, { statementTimeout: statementTimeout as never }),
        String(statementTimeout),
      ).toThrow(/statementTimeout/);
    }
  });
});
