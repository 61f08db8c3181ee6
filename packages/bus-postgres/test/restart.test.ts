import { type Bus, createBus, defineEvent, isBusError, Registry } from 'bus-core';
import { waitFor } from 'bus-testing';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, postgresStore } from '../src/index.js';
import { type PrivatePostgres, privatePostgres } from './private-servers.js';

// A private PostgreSQL (its own data directory and port) is restarted again and again while a
// publisher publishes and a worker bus drains: every acknowledged publish is handled, a publish
// during downtime rejects with a BusError within a bound, the workers and LISTEN come back by
// themselves soon after the server does, and nothing leaks.

const RESTARTS = 3;
const UP_MS = 1500;
const DOWN_MS = 1500;
/** The bound: workers resume within ~2 s of the database answering again. */
const RESUME_BOUND_MS = 2000;
/** A publish while the server is down rejects within this (the store's statement timeout is 2 s). */
const PUBLISH_BOUND_MS = 2500;

const Tick = defineEvent<{ n: number }>('restart.tick');
class TickHandler {
  static readonly handlerName = 'restart.tick-handler';
  static readonly settings = { queueName: 'restart', maxRetries: 20, executionTimeout: 10_000 };
  static calculateScheduledAt(): number {
    return 50;
  }
  handle(_event: { n: number }, _ctx: { id: string }): void {}
}

let server: PrivatePostgres;

beforeAll(async () => {
  server = await privatePostgres();
  const admin = postgres(server.url, { max: 1, onnotice: () => {} });
  await migrate(drizzle(admin));
  await admin.end();
});

afterAll(async () => {
  await server?.destroy();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resource kinds that must not outlive the buses (timers, sockets), counted by kind. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind === 'TTYWrap' || kind === 'PipeWrap' || kind === 'FSReqCallback') continue;
    counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

describe('a PostgreSQL that restarts again and again during a drain', () => {
  it('every acknowledged publish is handled; workers and LISTEN recover by themselves; nothing leaks', async () => {
    const before = resources();
    const listenersBefore = process.listenerCount('unhandledRejection') + process.listenerCount('exit');

    const handled = new Map<string, number>();
    const handledNs = new Set<number>();
    const registry = new Registry();
    class Recording extends TickHandler {
      handle(event: { n: number }, ctx: { id: string }): void {
        if (!handled.has(ctx.id)) handled.set(ctx.id, Date.now());
        handledNs.add(event.n);
      }
    }
    registry.register(Tick, Recording);
    const queues = [
      {
        queueName: 'restart',
        workers: 8,
        batchSize: 20,
        // Long on purpose: an idle worker comes back quickly only through LISTEN (or its retry).
        sleepInterval: 30_000,
        archivePolicy: 'none' as const,
        leaseDuration: 3000,
      },
    ];
    const silent = { debug() {}, info() {}, warn() {}, error() {} };
    // connect_timeout as docs/postgres.md advises (postgres.js waits 30 s by default on a
    // connection cut while it connects); the figures in the docs hold with the default too.
    const workerClient = postgres(server.url, { max: 4, connect_timeout: 2, onnotice: () => {} });
    const publisherClient = postgres(server.url, { max: 2, connect_timeout: 2, onnotice: () => {} });
    const workers: Bus = createBus({
      store: postgresStore(drizzle(workerClient), { listenCheckInterval: 500 }),
      registry,
      queues,
      logger: silent,
      rescueInterval: 250,
    });
    const publisher: Bus = createBus({
      store: postgresStore(drizzle(publisherClient), { listen: false, statementTimeout: 2000 }),
      registry,
      queues,
      logger: silent,
    });
    await workers.init();
    await publisher.init();
    await workers.controller.startWorkers();

    const acknowledged: string[] = [];
    const rejected: Record<string, number> = {};
    const foreign: string[] = [];
    // Payloads of publishes that rejected saying nothing committed (PUBLISH_FAILED, STORE_TIMEOUT).
    const notCommitted: number[] = [];
    let slowest = 0;
    let publishing = true;
    let n = 0;
    const ackTimes: number[] = [];
    const publishLoop = async () => {
      while (publishing) {
        const started = Date.now();
        try {
          const batch = Array.from({ length: 5 }, () => ({ n: n++ }));
          const ids = await publisher.publishBatch(Tick, batch).catch((error: unknown) => {
            if (isBusError(error, 'PUBLISH_FAILED') || isBusError(error, 'STORE_TIMEOUT')) {
              notCommitted.push(...batch.map((p) => p.n));
            }
            throw error;
          });
          acknowledged.push(...ids);
          ackTimes.push(Date.now());
        } catch (error) {
          if (isBusError(error)) rejected[error.code] = (rejected[error.code] ?? 0) + 1;
          else foreign.push(String(error));
        }
        slowest = Math.max(slowest, Date.now() - started);
        await sleep(20);
      }
    };
    const loops = [publishLoop(), publishLoop()];

    const resumes: number[] = [];
    const publishResumes: number[] = [];
    for (let r = 0; r < RESTARTS; r++) {
      await sleep(UP_MS);
      await server.stop();
      await sleep(DOWN_MS);
      await server.start();
      const back = Date.now();
      const firstHandled = await waitFor(() => [...handled.values()].find((at) => at >= back), {
        timeoutMs: 30_000,
        intervalMs: 20,
        message: `handling to resume after restart ${r + 1}`,
      });
      resumes.push(firstHandled - back);
      publishResumes.push((ackTimes.find((at) => at >= back) ?? Date.now()) - back);
    }
    publishing = false;
    await Promise.all(loops);

    await waitFor(() => acknowledged.every((id) => handled.has(id)), {
      timeoutMs: 30_000,
      intervalMs: 50,
      message: 'every acknowledged publish to be handled',
    });
    console.log(
      JSON.stringify({
        resumes,
        publishResumes,
        slowestPublishMs: slowest,
        rejected,
        acknowledged: acknowledged.length,
      }),
    );
    expect(foreign).toEqual([]);
    expect(acknowledged.length).toBeGreaterThan(0);
    // A publish that said it did not commit did not: none of its events ran.
    expect(notCommitted.filter((x) => handledNs.has(x))).toEqual([]);
    // Publishes while the server was down rejected, each with a BusError, and none blocked long.
    expect(Object.values(rejected).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(slowest).toBeLessThan(PUBLISH_BOUND_MS);
    for (const ms of resumes) expect(ms).toBeLessThan(RESUME_BOUND_MS);

    // LISTEN came back by itself: idle workers (30 s sleepInterval) wake on a publish from the
    // other bus at once, which only a notification can do.
    const [late] = await publisher.publish(Tick, { n: -1 });
    const lateAt = Date.now();
    await waitFor(() => handled.has(late!), {
      timeoutMs: 5000,
      intervalMs: 10,
      message: 'a publish after the restarts to wake the idle workers',
    });
    expect(handled.get(late!)! - lateAt).toBeLessThan(1500);

    workers.controller.shutdown();
    expect(await workers.controller.awaitTerminationWithTimeout(10_000)).toBe(true);
    await workerClient.end({ timeout: 5 });
    await publisherClient.end({ timeout: 5 });
    await waitFor(
      () => {
        const after = resources();
        return Object.keys(after).every((kind) => (after[kind] ?? 0) <= (before[kind] ?? 0));
      },
      {
        timeoutMs: 5000,
        message: `timers and sockets to be released (${JSON.stringify(resources())} vs ${JSON.stringify(before)})`,
      },
    );
    expect(process.listenerCount('unhandledRejection') + process.listenerCount('exit')).toBe(listenersBefore);
  });
});
