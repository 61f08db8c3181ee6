import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, MemoryStore, waitFor } from '../../bus-testing/src/index.js';
import {
  cancelRun,
  DEFAULT_MAX_SNOOZES,
  defineEvent,
  discard,
  isBusError,
  isSnooze,
  Registry,
  type SettledInfo,
  snooze,
} from '../src/index.js';
import { archiveOf, expectBusError, handlerClass, liveOf, makeBus, queue } from './support.js';

// Handler controls: `throw snooze(ms)` puts a row off without using an attempt (bounded by
// maxSnoozes), `throw discard(reason)` fails it for good at once, `throw cancelRun(reason)`
// ends it as cancelled. Each is archived per the queue's policy.

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});

describe('handler controls', () => {
  it('snooze N times uses no attempts: the row runs again each time at attempt 1, then completes', async () => {
    const Event = defineEvent<{ n: number }>('ctl.snooze');
    const registry = new Registry();
    const seen: [number, number][] = [];
    registry.register(
      Event,
      handlerClass('snooze.handler', { queueName: 'q', maxRetries: 0 }, (_p, ctx) => {
        seen.push([ctx.attempt, ctx.snoozes]);
        if (ctx.snoozes < 5) throw snooze(0);
      }),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    const done = await waitFor(async () => {
      const row = await archiveOf(store, id!);
      return row?.status === 'completed' ? row : undefined;
    });
    expect(seen).toEqual([
      [1, 0],
      [1, 1],
      [1, 2],
      [1, 3],
      [1, 4],
      [1, 5],
    ]);
    // maxRetries 0: any counted attempt beyond the first would have failed the row.
    expect(done.attempts).toBe(1);
    expect(done.lastError).toBeNull();
  });

  it('a snooze waits out its delay on the database clock', async () => {
    const clock = new ManualClock();
    store = new MemoryStore({ clock });
    const Event = defineEvent<{ n: number }>('ctl.snooze-later');
    const registry = new Registry();
    let runs = 0;
    registry.register(
      Event,
      handlerClass('snooze-later.handler', { queueName: 'q' }, () => {
        runs++;
        if (runs === 1) throw snooze(60_000);
      }),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    const snoozed = await waitFor(async () => {
      const row = await liveOf(store, id!);
      return row?.snoozes === 1 && row.lockedBy === null ? row : undefined;
    });
    expect(snoozed.scheduledAt.getTime()).toBe(clock.now().getTime() + 60_000);
    expect(snoozed.attempts).toBe(0);
    clock.advance(60_000);
    bus.controller.wake('q');
    await waitFor(async () => (await archiveOf(store, id!))?.status === 'completed');
    expect(runs).toBe(2);
  });

  it('beyond maxSnoozes the row fails for good with SNOOZE_LIMIT', async () => {
    const Event = defineEvent<{ n: number }>('ctl.snooze-limit');
    const registry = new Registry();
    let runs = 0;
    registry.register(
      Event,
      handlerClass('snooze-limit.handler', { queueName: 'q', maxRetries: 3, maxSnoozes: 2 }, () => {
        runs++;
        throw snooze(0);
      }),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    const failed = await waitFor(() => archiveOf(store, id!));
    expect(failed.status).toBe('failed');
    expect(failed.lastError).toMatch(/SNOOZE_LIMIT/);
    expect(runs).toBe(3);
    expect(DEFAULT_MAX_SNOOZES).toBe(100);
  });

  it('discard fails the row at once, with retries left, archived with the reason on the first attempt', async () => {
    const Event = defineEvent<{ n: number }>('ctl.discard');
    const registry = new Registry();
    let runs = 0;
    registry.register(
      Event,
      handlerClass('discard.handler', { queueName: 'q', maxRetries: 5 }, () => {
        runs++;
        throw discard('user 7 does not exist');
      }),
    );
    const settled: SettledInfo[] = [];
    const bus = await makeBus({
      store,
      registry,
      queues: [queue('q')],
      telemetry: { settled: (s) => void settled.push(s) },
    });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    const row = await waitFor(() => archiveOf(store, id!));
    expect(row).toMatchObject({ status: 'failed', attempts: 1 });
    expect(row.lastError).toMatch(/^BusError: \[DISCARDED\] user 7 does not exist/);
    expect(runs).toBe(1);
    await waitFor(() => settled.length === 1);
    expect(settled[0]).toMatchObject({ outcome: 'failed', applied: true });
  });

  it('cancelRun ends the row as cancelled with the reason; a policy that drops failures drops it', async () => {
    const Event = defineEvent<{ q: string }>('ctl.cancel');
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass('cancel-all.handler', { queueName: 'keep', maxRetries: 3 }, () => {
        throw cancelRun('order withdrawn');
      }),
    );
    registry.register(
      Event,
      handlerClass('cancel-done.handler', { queueName: 'drop', maxRetries: 3 }, () => {
        throw cancelRun();
      }),
    );
    const bus = await makeBus({
      store,
      registry,
      queues: [queue('keep', { archivePolicy: 'failed' }), queue('drop', { archivePolicy: 'completed' })],
    });
    const [kept, dropped] = await bus.publish(Event, { q: 'x' });
    await bus.controller.startWorkers();
    const row = await waitFor(() => archiveOf(store, kept!));
    expect(row).toMatchObject({ status: 'cancelled', lastError: 'order withdrawn', attempts: 1 });
    await waitFor(async () => (await liveOf(store, dropped!)) === undefined);
    expect(await archiveOf(store, dropped!)).toBeUndefined();
  });

  it('a transactional handler that snoozes has its writes rolled back and the row put off', async () => {
    const Event = defineEvent<{ n: number }>('ctl.tx-snooze');
    const Follow = defineEvent<{ n: number }>('ctl.tx-follow');
    const registry = new Registry();
    let runs = 0;
    registry.register(
      Follow,
      handlerClass('follow.handler', { queueName: 'follow' }, () => {}),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q'), queue('follow')] });
    registry.register(
      Event,
      handlerClass('tx-snooze.handler', { queueName: 'q', transactional: true }, async (_p, ctx) => {
        runs++;
        await bus.publishTxn(ctx.tx, Follow, { n: runs });
        if (runs === 1) throw snooze(0);
      }),
    );
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers({ queues: ['q'] });
    await waitFor(async () => (await archiveOf(store, id!))?.status === 'completed');
    const follows = await store.inspect.listEvents({ queue: 'follow', limit: 10 });
    expect(follows).toHaveLength(1);
    expect((await archiveOf(store, id!))?.attempts).toBe(1);
  });

  it('refuses bad delays and reasons with INVALID_ARGUMENT, and a bad maxSnoozes at registration', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '5' as never, 1e20]) {
      expectBusError(() => snooze(bad), 'INVALID_ARGUMENT');
    }
    for (const bad of ['', 5 as never, null as never, 'a\u0000b', 'x'.repeat(4001)]) {
      expectBusError(() => discard(bad), 'INVALID_ARGUMENT');
      expectBusError(() => cancelRun(bad), 'INVALID_ARGUMENT');
    }
    expect(isSnooze(snooze(5))).toBe(true);
    expect(isSnooze(new Error('snoozed for 5 ms'))).toBe(false);
    expect(isBusError(discard('x'), 'DISCARDED')).toBe(true);
    expect(isBusError(cancelRun(), 'CANCELLED')).toBe(true);
    const Event = defineEvent<{ n: number }>('ctl.bad-setting');
    for (const maxSnoozes of [-1, 1.5, '3', 2_000_000]) {
      expectBusError(
        () =>
          new Registry().register(
            Event,
            handlerClass('bad.snoozes', { queueName: 'q', maxSnoozes: maxSnoozes as number }, () => {}),
          ),
        'INVALID_HANDLER',
      );
    }
  });

  it('a handler that throws a bad snooze fails the attempt with that error instead of snoozing', async () => {
    const Event = defineEvent<{ n: number }>('ctl.bad-snooze');
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass('bad-snooze.handler', { queueName: 'q' }, () => {
        throw snooze(-5);
      }),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    const row = await waitFor(() => archiveOf(store, id!));
    expect(row.status).toBe('failed');
    expect(row.lastError).toMatch(/INVALID_ARGUMENT.*snooze/);
  });
});
