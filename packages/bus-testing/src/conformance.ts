import {
  type ArchivePolicy,
  type Bus,
  type BusOptions,
  createBus,
  decodePayload,
  defineEvent,
  encodePayload,
  type HandlerContext,
  type HandlerSettings,
  isBusError,
  type NewEventRow,
  type QueueConfig,
  type QueueStore,
  Registry,
  shouldArchive,
} from 'bus-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ConformanceTarget } from './conformance-target.js';

import { newEventRow } from './new-event-row.js';
import { busRoundTrip, storeRoundTrip } from './round-trip.js';
import { waitFor } from './wait.js';

export type { ConformanceTarget } from './conformance-target.js';
export { busRoundTrip, storeRoundTrip } from './round-trip.js';

type Handle<P> = (payload: P, ctx: HandlerContext<any>) => unknown;

/** Builds a handler class around a closure, so each test owns its handler's state. */
function handlerClass<P>(
  handlerName: string,
  settings: Partial<HandlerSettings> & { queueName: string },
  handle: Handle<P>,
  calculateScheduledAt?: (retry: number) => number,
) {
  return class {
    static readonly handlerName = handlerName;
    static readonly settings: HandlerSettings = { maxRetries: 0, executionTimeout: 10_000, ...settings };
    static readonly calculateScheduledAt = calculateScheduledAt;
    handle(payload: P, ctx: HandlerContext<any>): Promise<void> {
      return Promise.resolve(handle(payload, ctx)).then(() => undefined);
    }
  };
}

function queue(queueName: string, over: Partial<QueueConfig> = {}): QueueConfig {
  return { queueName, workers: 4, batchSize: 10, sleepInterval: 20, archivePolicy: 'all', ...over };
}

const rawRow = newEventRow;

/**
 * The store conformance suite: the semantics of the design brief, checked through the public
 * API against any `QueueStore`. Every driver package runs it unchanged.
 *
 * @example
 * runConformanceSuite({ name: 'memory', setup: async () => store, reset: async () => store.clear(), teardown: async () => {} });
 */
export function runConformanceSuite<TTx>(target: ConformanceTarget<TTx>): void {
  describe(`store conformance: ${target.name}`, () => {
    let store: QueueStore<TTx>;
    const buses: Bus<TTx>[] = [];

    beforeAll(async () => {
      store = await target.setup();
    });
    afterAll(async () => {
      await target.teardown();
    });
    beforeEach(async () => {
      await target.reset();
    });
    afterEach(async () => {
      await Promise.all(buses.splice(0).map((b) => b.controller.awaitTerminationWithTimeout(2000)));
    });

    async function makeBus(
      options: Omit<BusOptions<TTx>, 'store'> & { registry: Registry },
    ): Promise<Bus<TTx>> {
      const bus = createBus<TTx>({ store, rescueInterval: 100, ...options });
      buses.push(bus);
      await bus.init();
      return bus;
    }

    async function insert(rows: NewEventRow[]): Promise<string[]> {
      return store.insert({ rows });
    }

    async function archiveOf(id: string) {
      return (await store.listArchive({ ids: [id] }))[0];
    }

    describe('round trips', () => {
      it('every store operation once, with hostile strings in every text column', async () => {
        await storeRoundTrip(store);
      });

      it('a bus whose handler fails once: every row archived as completed on attempt 2', async () => {
        await busRoundTrip(store);
      });
    });

    describe('schema', () => {
      it('checkSchema resolves on the tables the target set up, and init passes', async () => {
        await expect(store.checkSchema()).resolves.toBeUndefined();
        const bus = await makeBus({ registry: new Registry(), queues: [queue('schema.q')] });
        expect(bus).toBeDefined();
      });
    });

    describe('fan-out', () => {
      it('publishes one row per handler, each in its queue with its retry settings', async () => {
        const Event = defineEvent<{ n: number }>('fanout.event');
        const registry = new Registry();
        const seen: string[] = [];
        registry.register(
          Event,
          handlerClass('fanout.a', { queueName: 'qa', maxRetries: 2 }, () => void seen.push('a')),
        );
        registry.register(
          Event,
          handlerClass('fanout.b', { queueName: 'qb', maxRetries: 5 }, () => void seen.push('b')),
        );
        const bus = await makeBus({ registry, queues: [queue('qa'), queue('qb')] });

        const ids = await bus.publish(Event, { n: 1 });
        expect(ids).toHaveLength(2);
        const rows = await store.listEvents({ ids });
        expect(rows.map((r) => [r.queue, r.handlerName, r.maxRetries, r.attempts]).sort()).toEqual([
          ['qa', 'fanout.a', 2, 0],
          ['qb', 'fanout.b', 5, 0],
        ]);
        expect(rows.every((r) => r.eventName === 'fanout.event')).toBe(true);

        await bus.controller.startWorkers();
        await waitFor(async () => (await store.listArchive({ ids })).length === 2, {
          message: 'both handlers done',
        });
        expect(seen.sort()).toEqual(['a', 'b']);
      });

      it('handlers fail and retry independently', async () => {
        const Event = defineEvent<{ n: number }>('fanout.independent');
        const registry = new Registry();
        const runs = { ok: 0, flaky: 0 };
        registry.register(
          Event,
          handlerClass('ind.ok', { queueName: 'q' }, () => void runs.ok++),
        );
        registry.register(
          Event,
          handlerClass(
            'ind.flaky',
            { queueName: 'q', maxRetries: 3 },
            () => {
              runs.flaky++;
              if (runs.flaky === 1) throw new Error('first try fails');
            },
            () => 0,
          ),
        );
        const bus = await makeBus({ registry, queues: [queue('q')] });
        const ids = await bus.publish(Event, { n: 1 });
        await bus.controller.startWorkers();
        await waitFor(async () => (await store.listArchive({ ids })).length === 2, {
          message: 'both archived',
        });
        const archived = await store.listArchive({ ids });
        const byName = Object.fromEntries(archived.map((r) => [r.handlerName, r]));
        expect(byName['ind.ok']).toMatchObject({ status: 'completed', attempts: 1 });
        expect(byName['ind.flaky']).toMatchObject({ status: 'completed', attempts: 2 });
        expect(runs).toEqual({ ok: 1, flaky: 2 });
      });

      it('publishing an event with no handler throws NO_HANDLER and writes nothing', async () => {
        const Orphan = defineEvent<{ n: number }>('fanout.orphan');
        const bus = await makeBus({ registry: new Registry(), queues: [queue('q')] });
        const error = await bus.publish(Orphan, { n: 1 }).catch((e: unknown) => e);
        expect(isBusError(error, 'NO_HANDLER')).toBe(true);
        expect((error as { value: unknown }).value).toBe('fanout.orphan');
        expect(await bus.publish(Orphan, { n: 1 }, { allowNoHandler: true })).toEqual([]);
        expect(await store.listEvents()).toEqual([]);
      });
    });

    describe('claim', () => {
      it('takes at most `limit` due rows, leases them and counts the attempt', async () => {
        const ids = await insert(
          Array.from({ length: 5 }, (_, n) => rawRow({ payload: encodePayload({ n }) })),
        );
        expect(ids).toHaveLength(5);
        expect(new Set(ids).size).toBe(5);
        const before = await store.now();
        const claimed = await store.claim({ queue: 'q', limit: 3, workerId: 'w1', leaseMs: 60_000 });
        expect(claimed.map((c) => c.id)).toEqual(ids.slice(0, 3));
        expect(claimed.every((c) => c.attempts === 1)).toBe(true);
        expect(claimed.map((c) => (decodePayload(c.payload) as { n: number }).n)).toEqual([0, 1, 2]);
        const rows = await store.listEvents({ ids: ids.slice(0, 3) });
        for (const row of rows) {
          expect(row.lockedBy).toBe('w1');
          expect(row.lockedUntil!.getTime()).toBeGreaterThan(before.getTime() + 50_000);
        }
        const rest = await store.claim({ queue: 'q', limit: 10, workerId: 'w2', leaseMs: 60_000 });
        expect(rest.map((c) => c.id)).toEqual(ids.slice(3));
        expect(await store.claim({ queue: 'q', limit: 10, workerId: 'w3', leaseMs: 60_000 })).toEqual([]);
      });

      it('orders by priority, then due time, then id', async () => {
        const past = new Date((await store.now()).getTime() - 60_000);
        const older = new Date(past.getTime() - 60_000);
        const [p5, p0late, p0early, pNeg, p0late2] = await insert([
          rawRow({ priority: 5 }),
          rawRow({ priority: 0, runAt: past }),
          rawRow({ priority: 0, runAt: older }),
          rawRow({ priority: -1 }),
          rawRow({ priority: 0, runAt: past }),
        ]);
        const claimed = await store.claim({ queue: 'q', limit: 10, workerId: 'w', leaseMs: 60_000 });
        expect(claimed.map((c) => c.id)).toEqual([pNeg, p0early, p0late, p0late2, p5]);
      });

      it('skips rows that are not due yet and rows of other queues', async () => {
        const future = new Date((await store.now()).getTime() + 3_600_000);
        const past = new Date((await store.now()).getTime() - 1000);
        const [due, , , duePast] = await insert([
          rawRow(),
          rawRow({ delayMs: 60_000 }),
          rawRow({ runAt: future }),
          rawRow({ runAt: past }),
          rawRow({ queue: 'other' }),
        ]);
        const claimed = await store.claim({ queue: 'q', limit: 10, workerId: 'w', leaseMs: 60_000 });
        expect(claimed.map((c) => c.id).sort()).toEqual([due, duePast].sort());
      });

      it('concurrent claims are disjoint', async () => {
        const ids = await insert(Array.from({ length: 200 }, () => rawRow()));
        const seen = new Map<string, string>();
        await Promise.all(
          Array.from({ length: 8 }, async (_, w) => {
            for (;;) {
              const got = await store.claim({ queue: 'q', limit: 7, workerId: `w${w}`, leaseMs: 60_000 });
              if (got.length === 0) return;
              for (const row of got) {
                expect(seen.has(row.id), `row ${row.id} claimed twice`).toBe(false);
                seen.set(row.id, `w${w}`);
              }
            }
          }),
        );
        expect([...seen.keys()].sort()).toEqual([...ids].sort());
        const rows = await store.listEvents();
        for (const row of rows) expect(row.lockedBy).toBe(seen.get(row.id));
      });
    });

    describe('archive policy', () => {
      const cases: [ArchivePolicy, 'completed' | 'failed'][] = [];
      for (const policy of ['all', 'none', 'failed', 'completed'] as const) {
        cases.push([policy, 'completed'], [policy, 'failed']);
      }
      it.each(cases)('policy %s, outcome %s', async (policy, outcome) => {
        const Event = defineEvent<{ n: number }>('archive.event');
        const registry = new Registry();
        registry.register(
          Event,
          handlerClass('archive.handler', { queueName: 'q' }, () => {
            if (outcome === 'failed') throw new Error('handler says no');
          }),
        );
        const bus = await makeBus({ registry, queues: [queue('q', { archivePolicy: policy })] });
        const [id] = await bus.publish(Event, { n: 1 });
        await bus.controller.startWorkers();
        await waitFor(async () => (await store.listEvents({ ids: [id!] })).length === 0, {
          message: 'row settled',
        });
        const archived = await archiveOf(id!);
        if (shouldArchive(policy, outcome)) {
          expect(archived).toMatchObject({
            id,
            status: outcome,
            attempts: 1,
            handlerName: 'archive.handler',
          });
          expect(decodePayload(archived!.payload)).toEqual({ n: 1 });
          expect(archived!.finishedAt).toBeInstanceOf(Date);
          if (outcome === 'failed') expect(archived!.lastError).toContain('handler says no');
        } else {
          expect(archived).toBeUndefined();
        }
      });
    });

    describe('retries', () => {
      it('a retry due before the next poll runs when it is due, not at the poll', async () => {
        const Event = defineEvent<{ n: number }>('retry.soon');
        const registry = new Registry();
        const runs: number[] = [];
        registry.register(
          Event,
          handlerClass(
            'retry-soon.handler',
            { queueName: 'q', maxRetries: 1 },
            () => {
              runs.push(Date.now());
              if (runs.length === 1) throw new Error('first attempt fails');
            },
            () => 300,
          ),
        );
        // A 60 s poll: only the worker's own wake-up can run the retry within the deadline.
        const bus = await makeBus({ registry, queues: [queue('q', { sleepInterval: 60_000 })] });
        const [id] = await bus.publish(Event, { n: 1 });
        await bus.controller.startWorkers();
        await waitFor(async () => (await archiveOf(id!))?.status === 'completed', {
          timeoutMs: 10_000,
          message: 'the retry ran',
        });
        expect(runs).toHaveLength(2);
        // The backoff was honoured: not run before it was due.
        expect(runs[1]! - runs[0]!).toBeGreaterThanOrEqual(290);
      });

      it('reschedules a failed attempt by calculateScheduledAt, clears the lease and records the error', async () => {
        const Event = defineEvent<{ n: number }>('retry.event');
        const registry = new Registry();
        const retries: number[] = [];
        registry.register(
          Event,
          handlerClass(
            'retry.handler',
            { queueName: 'q', maxRetries: 3 },
            () => {
              throw new Error('boom');
            },
            (retry) => {
              retries.push(retry);
              return retry * 3_600_000;
            },
          ),
        );
        const bus = await makeBus({ registry, queues: [queue('q')] });
        const [id] = await bus.publish(Event, { n: 1 });
        await bus.controller.startWorkers();
        const row = await waitFor(
          async () => (await store.listEvents({ ids: [id!] })).find((r) => r.lastError !== null),
          { message: 'first attempt failed' },
        );
        const now = await store.now();
        expect(row.attempts).toBe(1);
        expect(row.lockedBy).toBeNull();
        expect(row.lockedUntil).toBeNull();
        expect(row.lastError).toContain('boom');
        expect(row.scheduledAt.getTime() - now.getTime()).toBeGreaterThan(3_600_000 - 60_000);
        expect(row.scheduledAt.getTime() - now.getTime()).toBeLessThanOrEqual(3_600_000 + 1000);
        expect(retries).toEqual([1]);
      });

      it('runs maxRetries + 1 times, then archives the row as failed', async () => {
        const Event = defineEvent<{ n: number }>('retry.exhaust');
        const registry = new Registry();
        const attempts: number[] = [];
        const retries: number[] = [];
        registry.register(
          Event,
          handlerClass(
            'exhaust.handler',
            { queueName: 'q', maxRetries: 2 },
            (_p, ctx) => {
              attempts.push(ctx.attempt);
              throw new Error(`fail ${ctx.attempt}`);
            },
            (retry) => {
              retries.push(retry);
              return 0;
            },
          ),
        );
        const bus = await makeBus({ registry, queues: [queue('q', { archivePolicy: 'failed' })] });
        const [id] = await bus.publish(Event, { n: 1 });
        await bus.controller.startWorkers();
        const archived = await waitFor(() => archiveOf(id!), { message: 'row archived as failed' });
        expect(archived).toMatchObject({ status: 'failed', attempts: 3 });
        expect(archived.lastError).toContain('fail 3');
        expect(attempts).toEqual([1, 2, 3]);
        expect(retries).toEqual([1, 2]);
      });

      it('a handler that throws a non-Error fails with HANDLER_FAILED', async () => {
        const Event = defineEvent<{ n: number }>('retry.non-error');
        const registry = new Registry();
        registry.register(
          Event,
          handlerClass('non-error.handler', { queueName: 'q' }, () => {
            throw { reason: 'a plain object' };
          }),
        );
        const bus = await makeBus({ registry, queues: [queue('q')] });
        const [id] = await bus.publish(Event, { n: 1 });
        await bus.controller.startWorkers();
        const archived = await waitFor(() => archiveOf(id!), { message: 'row archived' });
        expect(archived.status).toBe('failed');
        expect(archived.lastError).toContain('HANDLER_FAILED');
        expect(archived.lastError).toContain('a plain object');
      });
    });

    describe('timeouts', () => {
      it('aborts the signal at executionTimeout and fails the attempt with HANDLER_TIMEOUT', async () => {
        const Event = defineEvent<{ n: number }>('timeout.event');
        const registry = new Registry();
        let signal: AbortSignal | undefined;
        registry.register(
          Event,
          handlerClass('timeout.handler', { queueName: 'q', executionTimeout: 150 }, (_p, ctx) => {
            signal = ctx.signal;
            return new Promise<void>((_resolve, reject) =>
              ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
            );
          }),
        );
        const bus = await makeBus({ registry, queues: [queue('q')] });
        const [id] = await bus.publish(Event, { n: 1 });
        await bus.controller.startWorkers();
        const archived = await waitFor(() => archiveOf(id!), { message: 'timed-out row archived' });
        expect(signal?.aborted).toBe(true);
        expect(isBusError(signal?.reason, 'HANDLER_TIMEOUT')).toBe(true);
        expect(archived).toMatchObject({ status: 'failed' });
        expect(archived.lastError).toContain('HANDLER_TIMEOUT');
      });

      it('a handler whose promise never settles times out too, and the worker goes on', async () => {
        const Event = defineEvent<{ hang: boolean }>('timeout.hang');
        const registry = new Registry();
        const done: boolean[] = [];
        registry.register(
          Event,
          handlerClass('hang.handler', { queueName: 'q', executionTimeout: 150 }, (p: { hang: boolean }) => {
            if (p.hang) return new Promise(() => {});
            done.push(true);
          }),
        );
        const bus = await makeBus({ registry, queues: [queue('q', { workers: 1 })] });
        const [hung] = await bus.publish(Event, { hang: true });
        const [fine] = await bus.publish(Event, { hang: false });
        await bus.controller.startWorkers();
        const archived = await waitFor(() => archiveOf(hung!), { message: 'hung row archived' });
        expect(archived.lastError).toContain('HANDLER_TIMEOUT');
        await waitFor(async () => (await archiveOf(fine!))?.status === 'completed', {
          message: 'next row ran',
        });
        expect(done).toEqual([true]);
      });
    });

    describe('leases', () => {
      it('an expired lease is rescued, another worker takes the row, the stale settle is refused', async () => {
        const [id] = await insert([rawRow({ maxRetries: 5 })]);
        const [first] = await store.claim({ queue: 'q', limit: 1, workerId: 'stale', leaseMs: 200 });
        expect(first).toMatchObject({ id, attempts: 1 });
        await waitFor(async () => (await store.rescue({ error: 'lease expired', limit: 100 })) === 1, {
          message: 'rescue of the expired lease',
        });
        const rescued = (await store.listEvents({ ids: [id!] }))[0]!;
        expect(rescued).toMatchObject({
          lockedBy: null,
          lockedUntil: null,
          lastError: 'lease expired',
          attempts: 1,
        });
        const [second] = await store.claim({ queue: 'q', limit: 1, workerId: 'fresh', leaseMs: 60_000 });
        expect(second).toMatchObject({ id, attempts: 2 });

        const stale = await store.settle({
          workerId: 'stale',
          outcomes: [{ kind: 'completed', id: id!, attempt: 1, archive: true }],
        });
        expect(stale.settled).toEqual([]);
        expect((await store.listEvents({ ids: [id!] }))[0]).toMatchObject({ lockedBy: 'fresh', attempts: 2 });
        const wrongAttempt = await store.settle({
          workerId: 'fresh',
          outcomes: [{ kind: 'failed', id: id!, attempt: 1, archive: true, error: 'x' }],
        });
        expect(wrongAttempt.settled).toEqual([]);
        const fresh = await store.settle({
          workerId: 'fresh',
          outcomes: [{ kind: 'completed', id: id!, attempt: 2, archive: true }],
        });
        expect(fresh.settled).toEqual([id]);
        expect(await archiveOf(id!)).toMatchObject({ status: 'completed', attempts: 2 });
      });

      it('rescue leaves live leases alone and is idempotent', async () => {
        const [id] = await insert([rawRow()]);
        await store.claim({ queue: 'q', limit: 1, workerId: 'w', leaseMs: 60_000 });
        expect(await store.rescue({ error: 'x', limit: 100 })).toBe(0);
        expect((await store.listEvents({ ids: [id!] }))[0]?.lockedBy).toBe('w');
      });

      it('extendLeases renews only rows the worker holds for that attempt', async () => {
        const [a, b] = await insert([rawRow(), rawRow()]);
        await store.claim({ queue: 'q', limit: 2, workerId: 'w', leaseMs: 1000 });
        const before = (await store.listEvents({ ids: [a!] }))[0]!.lockedUntil!.getTime();
        const kept = await store.extendLeases({
          workerId: 'w',
          leaseMs: 60_000,
          events: [
            { id: a!, attempt: 1 },
            { id: b!, attempt: 2 },
          ],
        });
        expect(kept).toEqual([a]);
        expect((await store.listEvents({ ids: [a!] }))[0]!.lockedUntil!.getTime()).toBeGreaterThan(
          before + 30_000,
        );
        expect(
          await store.extendLeases({ workerId: 'other', leaseMs: 60_000, events: [{ id: b!, attempt: 1 }] }),
        ).toEqual([]);
      });

      it("heartbeats keep a long handler's lease: no second worker runs it", async () => {
        const Event = defineEvent<{ n: number }>('lease.long');
        const registry = new Registry();
        const runs: string[] = [];
        registry.register(
          Event,
          handlerClass('long.handler', { queueName: 'q', maxRetries: 3 }, async (_p, ctx) => {
            runs.push(ctx.id);
            await new Promise((resolve) => setTimeout(resolve, 2500));
          }),
        );
        const config = [queue('q', { leaseDuration: 1000 })];
        const a = await makeBus({ registry, queues: config, workerId: 'worker-a' });
        const b = await makeBus({ registry, queues: config, workerId: 'worker-b' });
        const [id] = await a.publish(Event, { n: 1 });
        await a.controller.startWorkers();
        await b.controller.startWorkers();
        const archived = await waitFor(() => archiveOf(id!), {
          timeoutMs: 15_000,
          message: 'long row archived',
        });
        expect(archived).toMatchObject({ status: 'completed', attempts: 1 });
        expect(runs).toEqual([id]);
      });

      it('a row claimed more often than it has tries fails with RETRIES_EXHAUSTED without running', async () => {
        const Event = defineEvent<{ n: number }>('lease.crashy');
        const registry = new Registry();
        let ran = 0;
        registry.register(
          Event,
          handlerClass('crashy.handler', { queueName: 'q' }, () => void ran++),
        );
        const bus = await makeBus({ registry, queues: [queue('q')] });
        const [id] = await bus.publish(Event, { n: 1 });
        // Two workers die holding the row: claim, let the lease lapse, rescue, twice.
        for (let i = 0; i < 2; i++) {
          await store.claim({ queue: 'q', limit: 1, workerId: `dead-${i}`, leaseMs: 100 });
          await waitFor(async () => (await store.rescue({ error: 'lease expired', limit: 10 })) === 1, {
            message: 'rescue',
          });
        }
        await bus.controller.startWorkers();
        const archived = await waitFor(() => archiveOf(id!), { message: 'crashy row archived' });
        expect(archived).toMatchObject({ status: 'failed', attempts: 3 });
        expect(archived.lastError).toContain('RETRIES_EXHAUSTED');
        expect(ran).toBe(0);
      });
    });

    describe('shutdown', () => {
      it('waits for running handlers, then refuses to publish', async () => {
        const Event = defineEvent<{ n: number }>('shutdown.wait');
        const registry = new Registry();
        let started = false;
        registry.register(
          Event,
          handlerClass('wait.handler', { queueName: 'q' }, async () => {
            started = true;
            await new Promise((resolve) => setTimeout(resolve, 300));
          }),
        );
        const bus = await makeBus({ registry, queues: [queue('q')] });
        const [id] = await bus.publish(Event, { n: 1 });
        await bus.controller.startWorkers();
        await waitFor(() => started, { message: 'handler started' });
        bus.controller.shutdown();
        expect(await bus.controller.awaitTerminationWithTimeout(5000)).toBe(true);
        expect(await archiveOf(id!)).toMatchObject({ status: 'completed' });
        const error = await bus.publish(Event, { n: 2 }).catch((e: unknown) => e);
        expect(isBusError(error, 'SHUT_DOWN')).toBe(true);
      });

      it('aborts handlers still running at the timeout and hands their rows back', async () => {
        const Event = defineEvent<{ n: number }>('shutdown.abort');
        const registry = new Registry();
        let signal: AbortSignal | undefined;
        registry.register(
          Event,
          handlerClass('abort.handler', { queueName: 'q', executionTimeout: 60_000 }, (_p, ctx) => {
            signal = ctx.signal;
            return new Promise(() => {});
          }),
        );
        const bus = await makeBus({ registry, queues: [queue('q')] });
        const [id] = await bus.publish(Event, { n: 1 });
        await bus.controller.startWorkers();
        await waitFor(() => signal, { message: 'handler started' });
        bus.controller.shutdown();
        expect(await bus.controller.awaitTerminationWithTimeout(200)).toBe(false);
        expect(signal!.aborted).toBe(true);
        expect(isBusError(signal!.reason, 'HANDLER_ABORTED')).toBe(true);
        const row = (await store.listEvents({ ids: [id!] }))[0];
        expect(row).toMatchObject({ lockedBy: null, lockedUntil: null, attempts: 0 });
        const [again] = await store.claim({ queue: 'q', limit: 1, workerId: 'next', leaseMs: 60_000 });
        expect(again).toMatchObject({ id, attempts: 1 });
      });

      it('hands buffered rows back at once on shutdown, uncounted, while the running one finishes', async () => {
        const Event = defineEvent<{ n: number }>('shutdown.buffered');
        const registry = new Registry();
        const ran: number[] = [];
        let release: (() => void) | undefined;
        registry.register(
          Event,
          handlerClass('buffered.handler', { queueName: 'q' }, async (p: { n: number }) => {
            ran.push(p.n);
            await new Promise<void>((resolve) => {
              release = resolve;
            });
          }),
        );
        // One slot and five rows claimed ahead of it: six leased, one running, five buffered.
        const bus = await makeBus({
          registry,
          queues: [queue('q', { workers: 1, batchSize: 10, prefetch: 5 })],
        });
        const ids = await bus.publishBatch(
          Event,
          [1, 2, 3, 4, 5, 6].map((n) => ({ n })),
        );
        await bus.controller.startWorkers();
        await waitFor(async () => release !== undefined && (await store.countByQueue())[0]?.running === 6, {
          message: 'one row running, five buffered',
        });
        expect(ran).toEqual([1]);

        bus.controller.shutdown();
        // The buffered rows are available again before the running handler is done.
        await waitFor(async () => (await store.countByQueue())[0]?.available === 5, {
          message: 'buffered rows handed back',
        });
        const rows = await store.listEvents({ ids: ids.slice(1) });
        expect(rows.map((r) => [r.attempts, r.lockedBy, r.lockedUntil])).toEqual(
          rows.map(() => [0, null, null]),
        );
        release!();
        expect(await bus.controller.awaitTerminationWithTimeout(5000)).toBe(true);
        expect(await archiveOf(ids[0]!)).toMatchObject({ status: 'completed', attempts: 1 });
        expect(ran).toEqual([1]);
      });

      it('buffered rows keep their lease by heartbeat while they wait for a slot', async () => {
        const Event = defineEvent<{ n: number }>('lease.buffered');
        const registry = new Registry();
        const ran: number[] = [];
        registry.register(
          Event,
          handlerClass('lease-buffered.handler', { queueName: 'q' }, async (p: { n: number }) => {
            ran.push(p.n);
            // Each run outlasts half the 1 s lease: only heartbeats keep the waiting rows leased.
            await new Promise((resolve) => setTimeout(resolve, 700));
          }),
        );
        // Every claim and hand-back this bus makes, to see that no row left the buffer and came back.
        const claimed: string[] = [];
        const released: string[] = [];
        const watched = new Proxy(store, {
          get(target, prop) {
            if (prop === 'claim') {
              return async (params: Parameters<QueueStore<TTx>['claim']>[0]) => {
                const rows = await target.claim(params);
                claimed.push(...rows.map((r) => r.id));
                return rows;
              };
            }
            if (prop === 'release') {
              return async (params: Parameters<QueueStore<TTx>['release']>[0]) => {
                released.push(...params.events.map((e) => e.id));
                return target.release(params);
              };
            }
            const value = Reflect.get(target, prop, target);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
        const bus = createBus<TTx>({
          store: watched,
          registry,
          rescueInterval: 100,
          queues: [queue('q', { workers: 1, batchSize: 10, prefetch: 3, leaseDuration: 1000 })],
        });
        buses.push(bus);
        await bus.init();
        const ids = await bus.publishBatch(
          Event,
          [1, 2, 3, 4].map((n) => ({ n })),
        );
        await bus.controller.startWorkers();
        await waitFor(async () => (await store.listArchive({ ids })).length === 4, {
          timeoutMs: 15_000,
          message: 'all four rows done',
        });
        // Claimed once, in order, never handed back or rescued: the buffered rows' leases held.
        expect(claimed).toEqual(ids);
        expect(released).toEqual([]);
        expect(ran).toEqual([1, 2, 3, 4]);
        const archived = await store.listArchive({ ids });
        expect(archived.map((a) => [a.status, a.attempts])).toEqual(archived.map(() => ['completed', 1]));
      });

      it('release hands rows back without counting the attempt, fenced by worker', async () => {
        const [a, b] = await insert([rawRow(), rawRow()]);
        await store.claim({ queue: 'q', limit: 2, workerId: 'w', leaseMs: 60_000 });
        expect(await store.release({ workerId: 'x', events: [{ id: a!, attempt: 1 }] })).toEqual([]);
        expect(await store.release({ workerId: 'w', events: [{ id: a!, attempt: 1 }] })).toEqual([a]);
        const rows = await store.listEvents({ ids: [a!, b!] });
        expect(rows.find((r) => r.id === a)).toMatchObject({
          attempts: 0,
          lockedBy: null,
          lockedUntil: null,
        });
        expect(rows.find((r) => r.id === b)).toMatchObject({ attempts: 1, lockedBy: 'w' });
      });
    });

    describe('bad rows never stop a worker', () => {
      it('an undecodable payload fails with DECODE_FAILED and the next row still runs', async () => {
        const Event = defineEvent<{ n: number }>('bad.decode');
        const registry = new Registry();
        const got: unknown[] = [];
        registry.register(
          Event,
          handlerClass('decode.handler', { queueName: 'q' }, (p) => void got.push(p)),
        );
        const bus = await makeBus({ registry, queues: [queue('q', { workers: 1 })] });
        const [bad] = await insert([
          rawRow({
            eventName: 'bad.decode',
            handlerName: 'decode.handler',
            payload: new Uint8Array([0xc1, 0xff, 0x00, 0x13]),
          }),
        ]);
        const [good] = await bus.publish(Event, { n: 7 });
        await bus.controller.startWorkers();
        const archived = await waitFor(() => archiveOf(bad!), { message: 'bad row archived' });
        expect(archived.status).toBe('failed');
        expect(archived.lastError).toContain('DECODE_FAILED');
        await waitFor(async () => (await archiveOf(good!))?.status === 'completed', {
          message: 'good row ran',
        });
        expect(got).toEqual([{ n: 7 }]);
      });

      it('an unknown handler name fails with UNKNOWN_HANDLER', async () => {
        const bus = await makeBus({ registry: new Registry(), queues: [queue('q')] });
        const [id] = await insert([rawRow({ handlerName: 'ghost.handler' })]);
        await bus.controller.startWorkers();
        const archived = await waitFor(() => archiveOf(id!), { message: 'ghost row archived' });
        expect(archived.status).toBe('failed');
        expect(archived.lastError).toContain('UNKNOWN_HANDLER');
        expect(archived.lastError).toContain('ghost.handler');
      });
    });

    describe('payloads', () => {
      it('writes the JSON column when jsonPayload is on, and leaves it null when off', async () => {
        const Event = defineEvent<{ big: bigint; text: string; nested: { ok: boolean } }>('json.event');
        const registry = new Registry();
        registry.register(
          Event,
          handlerClass('json.handler', { queueName: 'q' }, () => {}),
        );
        const withJson = await makeBus({ registry, queues: [queue('q')], jsonPayload: true });
        const withoutJson = await makeBus({ registry, queues: [queue('q')] });
        const payload = { big: 12345678901234567890n, text: 'héllo 🎉', nested: { ok: true } };
        const [a] = await withJson.publish(Event, payload);
        const [b] = await withoutJson.publish(Event, payload);
        const rows = await store.listEvents({ ids: [a!, b!] });
        expect(rows.find((r) => r.id === a)!.payloadJson).toEqual({
          big: '12345678901234567890',
          text: 'héllo 🎉',
          nested: { ok: true },
        });
        expect(rows.find((r) => r.id === b)!.payloadJson).toBeNull();
        expect(decodePayload(rows.find((r) => r.id === a)!.payload)).toEqual(payload);
      });

      it('round-trips dates, bigints, bytes, nested objects, unicode and a 1 MB payload', async () => {
        const Event = defineEvent<Record<string, unknown>>('codec.event');
        const registry = new Registry();
        const got: unknown[] = [];
        registry.register(
          Event,
          handlerClass('codec.handler', { queueName: 'q' }, (p) => void got.push(p)),
        );
        const bus = await makeBus({ registry, queues: [queue('q')] });
        const payloads = [
          {
            at: new Date('2024-02-29T12:34:56.789Z'),
            small: 7n,
            huge: -(2n ** 90n),
            bytes: new Uint8Array([0, 1, 254, 255]),
            deep: { a: [{ b: { c: [1, 2.5, null, true, 'x'] } }] },
            text: 'Grüße, 世界, emoji 🚀, RTL שלום',
          },
          { blob: 'x'.repeat(1024 * 1024), n: 1 },
        ];
        await bus.publishBatch(Event, payloads);
        await bus.controller.startWorkers();
        await waitFor(() => got.length === 2, { message: 'both payloads handled' });
        const normalize = (v: unknown) =>
          JSON.parse(
            JSON.stringify(v, (_k, x) =>
              typeof x === 'bigint' ? `${x}n` : x?.type === 'Buffer' ? { bytes: x.data } : x,
            ),
          );
        const sorted = [...got].sort(
          (x, y) => Number('blob' in (x as object)) - Number('blob' in (y as object)),
        );
        expect(sorted[0]).toEqual({ ...payloads[0], bytes: expect.any(Uint8Array) });
        expect([...(sorted[0] as { bytes: Uint8Array }).bytes]).toEqual([0, 1, 254, 255]);
        expect((sorted[0] as { at: Date }).at).toBeInstanceOf(Date);
        expect(normalize(sorted[1])).toEqual(normalize(payloads[1]));
      });
    });

    describe('publish', () => {
      it('publishTxn: rows exist after commit and not after rollback', async () => {
        const Event = defineEvent<{ n: number }>('txn.event');
        const registry = new Registry();
        registry.register(
          Event,
          handlerClass('txn.handler', { queueName: 'q' }, () => {}),
        );
        const bus = await makeBus({ registry, queues: [queue('q')] });
        const committed = await store.transaction((tx) => bus.publishTxn(tx, Event, { n: 1 }));
        const rolledBack: string[] = [];
        const error = await store
          .transaction(async (tx) => {
            rolledBack.push(...(await bus.publishBatchTxn(tx, Event, [{ n: 2 }, { n: 3 }])));
            throw new Error('rollback');
          })
          .catch((e: unknown) => e);
        expect((error as Error).message).toBe('rollback');
        expect(rolledBack).toHaveLength(2);
        const rows = await store.listEvents();
        expect(rows.map((r) => r.id)).toEqual(committed);
        expect(decodePayload(rows[0]!.payload)).toEqual({ n: 1 });
      });

      it('delay and runAt set the due time from database time', async () => {
        const Event = defineEvent<{ n: number }>('delay.event');
        const registry = new Registry();
        registry.register(
          Event,
          handlerClass('delay.handler', { queueName: 'q' }, () => {}),
        );
        const bus = await makeBus({ registry, queues: [queue('q')] });
        const now = await store.now();
        const runAt = new Date(now.getTime() + 7_200_000);
        const [delayed] = await bus.publish(Event, { n: 1 }, { delay: 3_600_000 });
        const [scheduled] = await bus.publish(Event, { n: 2 }, { runAt });
        const [prioritized] = await bus.publish(Event, { n: 3 }, { priority: -5 });
        const rows = await store.listEvents();
        const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
        const offset = byId[delayed!]!.scheduledAt.getTime() - now.getTime();
        expect(offset).toBeGreaterThanOrEqual(3_600_000 - 1000);
        expect(offset).toBeLessThan(3_600_000 + 60_000);
        expect(byId[scheduled!]!.scheduledAt.getTime()).toBe(runAt.getTime());
        expect(byId[prioritized!]!.priority).toBe(-5);
        const claimed = await store.claim({ queue: 'q', limit: 10, workerId: 'w', leaseMs: 60_000 });
        expect(claimed.map((c) => c.id)).toEqual([prioritized]);
      });

      it('rejects bad publish options with INVALID_ARGUMENT and writes nothing', async () => {
        const Event = defineEvent<{ n: number }>('bad.options');
        const registry = new Registry();
        registry.register(
          Event,
          handlerClass('options.handler', { queueName: 'q' }, () => {}),
        );
        const bus = await makeBus({ registry, queues: [queue('q')] });
        for (const options of [
          { delay: -1 },
          { delay: Number.NaN },
          { runAt: new Date('nope') },
          { priority: 1.5 },
        ]) {
          const error = await bus.publish(Event, { n: 1 }, options).catch((e: unknown) => e);
          expect(isBusError(error, 'INVALID_ARGUMENT'), JSON.stringify(options)).toBe(true);
        }
        const encode = await bus.publish(Event, { n: 1, f: () => 1 } as never).catch((e: unknown) => e);
        expect(isBusError(encode, 'ENCODE_FAILED')).toBe(true);
        expect(await store.listEvents()).toEqual([]);
      });
    });

    describe('inspection and pruning', () => {
      it('countByQueue reports available, scheduled, running, retrying and archived rows', async () => {
        const [, , running] = await insert([
          rawRow(),
          rawRow({ delayMs: 3_600_000 }),
          rawRow({ queue: 'q2' }),
        ]);
        await store.claim({ queue: 'q2', limit: 1, workerId: 'w', leaseMs: 60_000 });
        await store.settle({
          workerId: 'w',
          outcomes: [{ kind: 'retry', id: running!, attempt: 1, delayMs: 0, error: 'oops' }],
        });
        const [done] = await insert([rawRow({ queue: 'q2' })]);
        await store.claim({ queue: 'q2', limit: 5, workerId: 'w', leaseMs: 60_000 });
        await store.settle({
          workerId: 'w',
          outcomes: [{ kind: 'completed', id: done!, attempt: 1, archive: true }],
        });
        const counts = Object.fromEntries((await store.countByQueue()).map((c) => [c.queue, c]));
        expect(counts.q).toMatchObject({ available: 1, scheduled: 1, running: 0, retrying: 0 });
        expect(counts.q2).toMatchObject({
          available: 0,
          running: 1,
          retrying: 1,
          archivedCompleted: 1,
          archivedFailed: 0,
        });
      });

      it('prune deletes archive rows older than the retention only', async () => {
        const [id] = await insert([rawRow()]);
        await store.claim({ queue: 'q', limit: 1, workerId: 'w', leaseMs: 60_000 });
        await store.settle({
          workerId: 'w',
          outcomes: [{ kind: 'completed', id: id!, attempt: 1, archive: true }],
        });
        expect(await store.prune({ olderThanMs: 3_600_000, limit: 100 })).toBe(0);
        expect(await archiveOf(id!)).toBeDefined();
        await waitFor(async () => (await store.prune({ olderThanMs: 1, limit: 100 })) === 1, {
          message: 'prune',
        });
        expect(await archiveOf(id!)).toBeUndefined();
      });
    });

    describe('transactional completion', () => {
      it('settles inside the given transaction: a rollback undoes the settle', async () => {
        const [id] = await insert([rawRow()]);
        await store.claim({ queue: 'q', limit: 1, workerId: 'w', leaseMs: 60_000 });
        if (!store.capabilities.transactionalCompletion) {
          const Event = defineEvent<{ n: number }>('txc.unsupported');
          const registry = new Registry();
          registry.register(
            Event,
            handlerClass('txc.handler', { queueName: 'q', transactional: true }, () => {}),
          );
          const bus = await makeBus({ registry, queues: [queue('q')] });
          const error = await bus.controller.startWorkers().catch((e: unknown) => e);
          expect(isBusError(error, 'UNSUPPORTED')).toBe(true);
          return;
        }
        const error = await store
          .transaction(async (tx) => {
            const r = await store.settle({
              tx,
              workerId: 'w',
              outcomes: [{ kind: 'completed', id: id!, attempt: 1, archive: true }],
            });
            expect(r.settled).toEqual([id]);
            throw new Error('rollback');
          })
          .catch((e: unknown) => e);
        expect((error as Error).message).toBe('rollback');
        expect((await store.listEvents({ ids: [id!] }))[0]).toMatchObject({ lockedBy: 'w', attempts: 1 });
        expect(await archiveOf(id!)).toBeUndefined();
      });

      it('a transactional handler gets ctx.tx and completes in it', async () => {
        const Event = defineEvent<{ n: number }>('txc.event');
        const registry = new Registry();
        const seen: unknown[] = [];
        registry.register(
          Event,
          handlerClass(
            'txc.handler',
            { queueName: 'q', transactional: true },
            (_p, ctx) => void seen.push(ctx.tx),
          ),
        );
        const bus = await makeBus({ registry, queues: [queue('q')] });
        const [id] = await bus.publish(Event, { n: 1 });
        if (!store.capabilities.transactionalCompletion) {
          const error = await bus.controller.startWorkers().catch((e: unknown) => e);
          expect(isBusError(error, 'UNSUPPORTED')).toBe(true);
          return;
        }
        await bus.controller.startWorkers();
        const archived = await waitFor(() => archiveOf(id!), { message: 'transactional row archived' });
        expect(archived.status).toBe('completed');
        expect(seen).toHaveLength(1);
        expect(seen[0]).toBeDefined();
      });
    });

    describe("the guide's example", () => {
      it('SendEmailEvent reaches SendEmailHandler (factory) across the high, low and email queues', async () => {
        interface SendEmail {
          to: string;
          subject: string;
          body: string;
        }
        const SendEmailEvent = defineEvent<SendEmail>('guide.send-email');
        const sent: string[] = [];
        class SendEmailHandler {
          static readonly handlerName = 'guide.send-email-handler';
          static readonly settings: HandlerSettings = {
            queueName: 'email',
            maxRetries: 3,
            executionTimeout: 300_000,
          };
          static calculateScheduledAt(retry: number): number {
            return retry === 1 ? 30 * 60_000 : retry === 2 ? 60 * 60_000 : 90 * 60_000;
          }
          constructor(private readonly from: string) {}
          async handle(event: SendEmail): Promise<void> {
            sent.push(`${this.from} -> ${event.to}: ${event.subject}`);
          }
        }
        class AuditHandler {
          static readonly handlerName = 'guide.audit';
          static readonly settings: HandlerSettings = {
            queueName: 'low',
            maxRetries: 1,
            executionTimeout: 60_000,
          };
          async handle(event: SendEmail): Promise<void> {
            sent.push(`audit ${event.to}`);
          }
        }
        const registry = new Registry();
        registry.register(SendEmailEvent, SendEmailHandler, {
          factory: async () => new SendEmailHandler('from@email.com'),
        });
        registry.register(SendEmailEvent, AuditHandler);
        const bus = await makeBus({
          registry,
          queues: [
            { queueName: 'high', workers: 10, batchSize: 10, sleepInterval: 50, archivePolicy: 'all' },
            { queueName: 'low', workers: 5, batchSize: 5, sleepInterval: 50, archivePolicy: 'none' },
            { queueName: 'email', workers: 5, batchSize: 5, sleepInterval: 50, archivePolicy: 'failed' },
          ],
        });
        await bus.controller.startWorkers();
        await store.transaction((tx) =>
          bus.publishTxn(tx, SendEmailEvent, {
            to: 'user@example.com',
            subject: 'Welcome!',
            body: 'Thanks for signing up.',
          }),
        );
        await waitFor(() => sent.length === 2, { message: 'email sent and audited' });
        expect(sent.sort()).toEqual([
          'audit user@example.com',
          'from@email.com -> user@example.com: Welcome!',
        ]);
        await waitFor(async () => (await store.listEvents()).length === 0, { message: 'rows settled' });
        expect(await store.listArchive()).toEqual([]);
      });
    });
  });
}
