import {
  type Bus,
  createBus,
  defineEvent,
  type HandlerSettings,
  isBusError,
  type Logger,
  Registry,
} from 'bus-core';
import { waitFor } from 'bus-testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import type postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type PgTx, postgresStore } from '../src/index.js';
import {
  createTestSchema,
  pgClient,
  type TcpProxy,
  type TestSchema,
  tcpProxy,
  uniqueName,
} from './helpers.js';

// The database connection is cut under load: workers log, reconnect and finish; a publish while
// the database is unreachable rejects with a BusError instead of resolving.

const LoadEvent = defineEvent<{ n: number }>('outage.load');

let t: TestSchema;
let proxy: TcpProxy;
const clients: postgres.Sql[] = [];
const buses: Bus<PgTx>[] = [];
const handled = new Map<number, number>();
const logs: string[] = [];

const logger: Logger = {
  debug() {},
  info() {},
  warn: (message, fields) => void logs.push(`${message} ${JSON.stringify(fields)}`),
  error: (message, fields) => void logs.push(`${message} ${JSON.stringify(fields)}`),
};

class LoadHandler {
  static readonly handlerName = 'outage.load-handler';
  static readonly settings: HandlerSettings = { queueName: 'load', maxRetries: 10, executionTimeout: 30_000 };
  static calculateScheduledAt(): number {
    return 0;
  }
  async handle(event: { n: number }): Promise<void> {
    handled.set(event.n, (handled.get(event.n) ?? 0) + 1);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function registry(): Registry {
  const r = new Registry();
  r.register(LoadEvent, LoadHandler);
  return r;
}

async function workerBus(options: { url?: string; applicationName: string }): Promise<Bus<PgTx>> {
  const client = pgClient({
    schema: t.schema,
    url: options.url,
    max: 3,
    applicationName: options.applicationName,
  });
  clients.push(client);
  const bus = createBus({
    store: postgresStore(drizzle(client), { listenCheckInterval: 300 }),
    registry: registry(),
    logger,
    rescueInterval: 200,
    queues: [
      {
        queueName: 'load',
        workers: 20,
        batchSize: 20,
        sleepInterval: 30_000,
        archivePolicy: 'all',
        leaseDuration: 2000,
      },
    ],
  });
  buses.push(bus);
  await bus.init();
  return bus;
}

async function publisher(url?: string): Promise<Bus<PgTx>> {
  const client = pgClient({ schema: t.schema, url, max: 2 });
  clients.push(client);
  const bus = createBus({
    store: postgresStore(drizzle(client), { listen: false }),
    registry: registry(),
    queues: [{ queueName: 'load', workers: 1, batchSize: 1, sleepInterval: 1000, archivePolicy: 'all' }],
  });
  await bus.init();
  return bus;
}

async function archived(): Promise<number> {
  const rows = (await t.db.execute(sql`SELECT count(*)::int AS n FROM bus_events_archive`)) as unknown as {
    n: number;
  }[];
  return rows[0]!.n;
}

async function terminate(applicationName: string): Promise<number> {
  const rows = (await t.db.execute(
    sql`SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = ${applicationName}`,
  )) as unknown as { n: number }[];
  return rows[0]!.n;
}

beforeAll(async () => {
  [t, proxy] = await Promise.all([createTestSchema('outage'), tcpProxy()]);
});

afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.controller.awaitTerminationWithTimeout(2000)));
  await Promise.all(clients.splice(0).map((c) => c.end({ timeout: 1 })));
  await t.truncate();
  handled.clear();
  logs.length = 0;
});

afterAll(async () => {
  await proxy?.close();
  await t?.drop();
});

describe('connection loss', () => {
  it('pg_terminate_backend under load: workers log, reconnect and finish every event', async () => {
    const app = uniqueName('bus-term');
    const total = 6000;
    const workers = [await workerBus({ applicationName: app }), await workerBus({ applicationName: app })];
    for (const bus of workers) await bus.controller.startWorkers();
    const pub = await publisher();
    await pub.publishBatch(
      LoadEvent,
      Array.from({ length: total }, (_, n) => ({ n })),
    );
    let killed = 0;
    for (const threshold of [total / 4, total / 2]) {
      await waitFor(async () => (await archived()) >= threshold, {
        timeoutMs: 30_000,
        message: `${threshold} done`,
      });
      killed += await terminate(app);
    }
    expect(killed).toBeGreaterThanOrEqual(4);
    await waitFor(async () => (await archived()) === total, {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: 'every event archived after the connections were cut',
    });
    expect(handled.size).toBe(total);
    const rows = (await t.db.execute(
      sql`SELECT status, count(*)::int AS n FROM bus_events_archive GROUP BY status`,
    )) as unknown as { status: string; n: number }[];
    expect(rows).toEqual([{ status: 'completed', n: total }]);
    // The cut surfaced in the workers' logs (failed claims, settles or heartbeats, retried).
    expect(logs.length).toBeGreaterThan(0);
  });

  it('publish during an outage rejects with a BusError; afterwards workers and LISTEN recover', async () => {
    const total = 2000;
    const workers = [
      await workerBus({ url: proxy.url, applicationName: uniqueName('bus-out') }),
      await workerBus({ url: proxy.url, applicationName: uniqueName('bus-out') }),
    ];
    for (const bus of workers) await bus.controller.startWorkers();
    const pub = await publisher(proxy.url);
    await pub.publishBatch(
      LoadEvent,
      Array.from({ length: total }, (_, n) => ({ n })),
    );
    await waitFor(async () => (await archived()) >= total / 4, {
      timeoutMs: 30_000,
      message: 'a quarter done',
    });

    await proxy.down();
    const started = Date.now();
    const error = await pub.publish(LoadEvent, { n: -1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Written to a pooled connection the proxy had just cut, before the client saw it close: the
    // client cannot tell whether it reached the server, so PUBLISH_OUTCOME_UNKNOWN is as honest
    // as PUBLISH_FAILED (a connection known dead beforehand gives PUBLISH_FAILED; see
    // publish-outcome.test.ts). Either way it did not commit (checked below).
    expect(
      isBusError(error, 'PUBLISH_FAILED') || isBusError(error, 'PUBLISH_OUTCOME_UNKNOWN'),
      String(error),
    ).toBe(true);
    expect(Date.now() - started).toBeLessThan(15_000);
    // The outage lasts until the workers have noticed it: failed claims, and the listener's
    // self-check failing (postgres.js's own re-listen fails while the network is down).
    await waitFor(
      () =>
        logs.some((l) => l.includes('claim failed')) &&
        logs.some((l) => l.includes('wake-up listener failed')),
      { timeoutMs: 10_000, message: 'failures logged' },
    );
    await proxy.up();

    await waitFor(async () => (await archived()) === total, {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: 'every event archived after the outage',
    });
    expect(handled.size).toBe(total);
    expect(handled.has(-1)).toBe(false);

    // Idle workers (30 s sleepInterval) wake on NOTIFY again: the listener came back.
    const [late] = await pub.publish(LoadEvent, { n: total });
    // (postgres.js re-listens with its reconnect backoff, so allow for that.)
    await waitFor(() => handled.has(total), { timeoutMs: 30_000, message: 'the late event woke a worker' });
    expect(late).toBeDefined();
  });
});
