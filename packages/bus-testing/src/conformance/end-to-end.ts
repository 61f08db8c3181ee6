import assert from 'node:assert/strict';
import {
  type Bus,
  createBus,
  defineEvent,
  type HandlerContext,
  type HandlerSettings,
  type QueueConfig,
  Registry,
} from 'bus-core';
import { waitFor } from '../wait.js';
import type { SuiteContext } from './context.js';
import { busRoundTrip, storeRoundTrip } from './round-trip.js';
import { archived, claimFor, insert, live, row } from './support.js';

type Handle<P> = (payload: P, ctx: HandlerContext<any>) => unknown;

/** A handler class around a closure, so each test owns its handler's state. */
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

/**
 * A handful of checks through `createBus` on the store: what the core and a store do together
 * (the core's own behaviour is tested once, in bus-core, on the memory store).
 */
export function endToEndTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  /** Runs `body` with a bus on the target's store, shut down afterwards whatever happens. */
  async function withBus(
    registry: Registry,
    queues: QueueConfig[],
    body: (bus: Bus<any>) => Promise<void>,
  ): Promise<void> {
    const bus = createBus<any>({ store: s.store, registry, queues, rescueInterval: 100 });
    await bus.init();
    try {
      await body(bus);
    } finally {
      bus.controller.shutdown();
      await bus.controller.awaitTerminationWithTimeout(2_000);
    }
  }

  describe('round trips', () => {
    it('every store operation once, with hostile strings in every text column', async () => {
      await storeRoundTrip(s.store);
    });

    if (s.target.setupJsonPayload !== undefined) {
      it('every store operation once, on the store with jsonPayload', async () => {
        await storeRoundTrip(s.jsonStore!);
      });
    }

    it('a bus whose handler fails once: every row archived as completed on attempt 2', async () => {
      await busRoundTrip(s.store);
    });
  });

  describe('end to end through the bus', () => {
    it('publish fans out one row per handler, each handled in its queue', async () => {
      const Event = defineEvent<{ n: number }>('e2e.fanout');
      const registry = new Registry();
      const seen: string[] = [];
      registry.register(
        Event,
        handlerClass(
          'e2e.a',
          { queueName: 'qa', maxRetries: 2 },
          (p: { n: number }) => void seen.push(`a${p.n}`),
        ),
      );
      registry.register(
        Event,
        handlerClass(
          'e2e.b',
          { queueName: 'qb', maxRetries: 5 },
          (p: { n: number }) => void seen.push(`b${p.n}`),
        ),
      );
      await withBus(registry, [queue('qa'), queue('qb')], async (bus) => {
        const ids = await bus.publish(Event, { n: 1 });
        assert.equal(ids.length, 2);
        const rows = await s.store.inspect.listEvents({ ids, limit: 10 });
        assert.deepEqual(rows.map((r) => [r.queue, r.handlerName, r.maxRetries]).sort(), [
          ['qa', 'e2e.a', 2],
          ['qb', 'e2e.b', 5],
        ]);
        await bus.controller.startWorkers();
        await waitFor(async () => (await s.store.inspect.listArchive({ ids, limit: 10 })).length === 2, {
          message: 'both handlers done',
        });
        assert.deepEqual(seen.sort(), ['a1', 'b1']);
      });
    });

    it('a failed attempt is retried, and a row out of tries is archived as failed', async () => {
      const Event = defineEvent<{ flaky: boolean }>('e2e.retry');
      const registry = new Registry();
      let flakyRuns = 0;
      registry.register(
        Event,
        handlerClass(
          'e2e.retry-handler',
          { queueName: 'q', maxRetries: 1 },
          (p: { flaky: boolean }) => {
            if (!p.flaky) throw new Error('always fails');
            flakyRuns++;
            if (flakyRuns === 1) throw new Error('first attempt fails');
          },
          () => 0,
        ),
      );
      await withBus(registry, [queue('q')], async (bus) => {
        const [flaky] = await bus.publish(Event, { flaky: true });
        const [doomed] = await bus.publish(Event, { flaky: false });
        await bus.controller.startWorkers();
        const ok = await waitFor(() => archived(s.store, flaky!), { message: 'the flaky row archived' });
        assert.deepEqual([ok.status, ok.attempts], ['completed', 2]);
        assert.match(ok.lastError ?? '', /first attempt fails/);
        const bad = await waitFor(() => archived(s.store, doomed!), { message: 'the failing row archived' });
        assert.deepEqual([bad.status, bad.attempts], ['failed', 2]);
        assert.match(bad.lastError ?? '', /always fails/);
      });
    });

    it('publishTxn: rows exist after the commit and not after a rollback', async () => {
      const Event = defineEvent<{ n: number }>('e2e.txn');
      const registry = new Registry();
      const got: number[] = [];
      registry.register(
        Event,
        handlerClass('e2e.txn-handler', { queueName: 'q' }, (p: { n: number }) => void got.push(p.n)),
      );
      await withBus(registry, [queue('q')], async (bus) => {
        const committed = await s.store.transaction((tx) => bus.publishTxn(tx, Event, { n: 1 }));
        const error = await s.store
          .transaction(async (tx) => {
            await bus.publishBatchTxn(tx, Event, [{ n: 2 }, { n: 3 }]);
            throw new Error('roll back');
          })
          .catch((e: unknown) => e);
        assert.equal((error as Error).message, 'roll back');
        assert.deepEqual(
          (await s.store.inspect.listEvents({ limit: 10 })).map((r) => r.id),
          committed,
        );
        await bus.controller.startWorkers();
        await waitFor(async () => (await archived(s.store, committed[0]!))?.status === 'completed', {
          message: 'the committed row handled',
        });
        assert.deepEqual(got, [1]);
      });
    });

    it('a transactional handler publishes in ctx.tx: its writes and its completion commit together', async () => {
      const Start = defineEvent<{ n: number }>('e2e.tx-start');
      const Next = defineEvent<{ n: number }>('e2e.tx-next');
      const registry = new Registry();
      const got: number[] = [];
      let bus: Bus<any> | undefined;
      registry.register(
        Start,
        handlerClass(
          'e2e.tx-start-handler',
          { queueName: 'q', transactional: true },
          async (p: { n: number }, ctx) => {
            assert.notEqual(ctx.tx, undefined);
            await bus!.publishTxn(ctx.tx, Next, { n: p.n + 1 });
          },
        ),
      );
      registry.register(
        Next,
        handlerClass('e2e.tx-next-handler', { queueName: 'q' }, (p: { n: number }) => void got.push(p.n)),
      );
      await withBus(registry, [queue('q')], async (b) => {
        bus = b;
        const [id] = await b.publish(Start, { n: 1 });
        await b.controller.startWorkers();
        await waitFor(() => got.length === 1, { message: 'the follow-up handled' });
        assert.deepEqual(got, [2]);
        assert.equal((await archived(s.store, id!))?.status, 'completed');
      });
    });

    it('shutdown hands a running row back, uncounted, once its handler is aborted', async () => {
      const Event = defineEvent<{ n: number }>('e2e.shutdown');
      const registry = new Registry();
      let signal: AbortSignal | undefined;
      registry.register(
        Event,
        handlerClass('e2e.hang', { queueName: 'q', executionTimeout: 60_000 }, (_p, ctx) => {
          signal = ctx.signal;
          return new Promise(() => {});
        }),
      );
      const bus = createBus<any>({ store: s.store, registry, queues: [queue('q')], rescueInterval: 100 });
      await bus.init();
      try {
        const [id] = await bus.publish(Event, { n: 1 });
        await bus.controller.startWorkers();
        await waitFor(() => signal, { message: 'the handler started' });
        bus.controller.shutdown();
        // The handler never ends: the timeout aborts it and hands its row back.
        assert.equal(await bus.controller.awaitTerminationWithTimeout(200), false);
        assert.equal(signal!.aborted, true);
        const r = await waitFor(
          async () => {
            const x = await live(s.store, id!);
            return x?.lockedBy === null ? x : undefined;
          },
          { message: 'the row handed back' },
        );
        assert.deepEqual([r.lockedBy, r.lockedUntil, r.attempts], [null, null, 0]);
        const [again] = await claimFor(s.store, { queue: 'q', limit: 1, workerId: 'next', leaseMs: 60_000 });
        assert.deepEqual([again?.id, again?.attempts], [id, 1]);
      } finally {
        bus.controller.shutdown();
      }
    });

    it('a row with an undecodable payload is archived as failed and a row of a handler this process lacks is left alone; the worker goes on', async () => {
      const Event = defineEvent<{ n: number }>('e2e.bad');
      const registry = new Registry();
      const got: unknown[] = [];
      registry.register(
        Event,
        handlerClass('e2e.good', { queueName: 'q' }, (p) => void got.push(p)),
      );
      await withBus(registry, [queue('q', { workers: 1 })], async (bus) => {
        const [ghost, garbage] = await insert(s.store, [
          row({ eventName: 'e2e.bad', handlerName: 'e2e.ghost' }),
          row({
            eventName: 'e2e.bad',
            handlerName: 'e2e.good',
            payload: new Uint8Array([0xc1, 0xff, 0x00, 0x13]),
          }),
        ]);
        const [good] = await bus.publish(Event, { n: 7 });
        await bus.controller.startWorkers();
        const undecodable = await waitFor(() => archived(s.store, garbage!), {
          message: 'the garbage row archived',
        });
        assert.equal(undecodable.status, 'failed');
        assert.match(undecodable.lastError ?? '', /DECODE_FAILED/);
        await waitFor(async () => (await archived(s.store, good!))?.status === 'completed', {
          message: 'the good row handled',
        });
        assert.deepEqual(got, [{ n: 7 }]);
        // Rolling deploys: the row of a handler no process here has is not claimed, so its
        // attempts are kept for the process that has it.
        const ghostRow = await live(s.store, ghost!);
        assert.deepEqual([ghostRow?.attempts, ghostRow?.lockedBy], [0, null]);
        assert.equal(await archived(s.store, ghost!), undefined);
      });
    });
  });
}
