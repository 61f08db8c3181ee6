import {
  type Bus,
  createBus,
  defineEvent,
  defineSchedule,
  isBusError,
  type MissedTickPolicy,
  Registry,
  type ScheduleOptions,
} from 'bus-core';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, MemoryStore } from '../src/index.js';

// Schedules in a user's unit test: a ManualClock moves "database time" and bus.schedules.runDue()
// publishes what is due, as the workers' loop does about every second.

const Tick = defineEvent<{ at: string }>('schedules.tick');

class TickHandler {
  static readonly handlerName = 'schedules.tick-handler';
  static readonly settings = { queueName: 'q', maxRetries: 0, executionTimeout: 10_000 };
  handle(): void {}
}

const buses: Bus<any>[] = [];
afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.controller.awaitTerminationWithTimeout(1000)));
});

async function busOn(store: MemoryStore, schedule?: Partial<ScheduleOptions<{ at: string }>>) {
  const registry = new Registry();
  registry.register(Tick, TickHandler);
  const bus = createBus({
    store,
    registry,
    queues: [{ queueName: 'q', workers: 1, batchSize: 10, sleepInterval: 1000, archivePolicy: 'all' }],
  });
  buses.push(bus);
  if (schedule !== undefined) {
    bus.schedule(
      defineSchedule({
        name: 'every-second',
        event: Tick,
        every: 1000,
        payload: (tick: Date) => ({ at: tick.toISOString() }),
        ...schedule,
      }),
    );
  }
  await bus.init();
  return bus;
}

const start = new Date('2030-01-01T00:00:00.500Z');
const at = (s: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, s)).toISOString();

describe('schedules with a ManualClock', () => {
  it('publishes each tick once, in any number of buses on one store', async () => {
    const clock = new ManualClock(start);
    const store = new MemoryStore({ clock });
    const a = await busOn(store, {});
    const b = await busOn(new MemoryStore({ tablesOf: store }), {});
    expect(await a.schedules.runDue()).toEqual([]);
    clock.advance(2000);
    const published = [...(await a.schedules.runDue()), ...(await b.schedules.runDue())];
    expect(published.map((p) => p.tickAt.toISOString())).toEqual([at(1), at(2)]);
    clock.advance(1000);
    const both = await Promise.all([a.schedules.runDue(), b.schedules.runDue()]);
    expect(both.flat().map((p) => p.tickAt.toISOString())).toEqual([at(3)]);
    const rows = await store.inspect.listEvents({ limit: 100 });
    expect(rows).toHaveLength(3);
    const [info] = await a.schedules.list();
    expect(info).toMatchObject({
      name: 'every-second',
      declared: true,
      paused: false,
      signature: 'every 1000',
    });
    expect(info!.lastTickAt?.toISOString()).toBe(at(3));
    expect(info!.nextTickAt?.toISOString()).toBe(at(4));
  });

  for (const [missed, expected] of [
    ['skip', [7, 8, 9, 10, 11]],
    ['last', [6, 7, 8, 9, 10, 11]],
    [{ backfill: 2 }, [5, 6, 7, 8, 9, 10, 11]],
  ] as [MissedTickPolicy, number[]][]) {
    it(`missed ticks, policy ${JSON.stringify(missed)}: ticks older than graceMs follow it`, async () => {
      const clock = new ManualClock(start);
      const store = new MemoryStore({ clock });
      const bus = await busOn(store, { missed, graceMs: 5000 });
      await bus.schedules.runDue();
      // Every process down for 10.5 s: ticks 1-6 are older than the 5 s grace at 11 s.
      clock.advance(10_500);
      const published = await bus.schedules.runDue();
      expect(published.map((p) => p.tickAt.toISOString())).toEqual(expected.map(at));
    });
  }

  it('pause and resume hold across buses; a paused schedule publishes nothing', async () => {
    const clock = new ManualClock(start);
    const store = new MemoryStore({ clock });
    const a = await busOn(store, { missed: 'skip', graceMs: 1500 });
    const b = await busOn(new MemoryStore({ tablesOf: store }), { missed: 'skip', graceMs: 1500 });
    await a.schedules.runDue();
    await a.schedules.pause('every-second');
    expect((await b.schedules.list())[0]?.paused).toBe(true);
    clock.advance(3000);
    expect(await b.schedules.runDue()).toEqual([]);
    await b.schedules.resume('every-second');
    // Resumed at 3.5 s: ticks 1 and 2 are older than the grace, missed (policy skip); 3 is on time.
    expect((await a.schedules.runDue()).map((p) => p.tickAt.toISOString())).toEqual([at(3)]);
    clock.advance(1000);
    expect((await a.schedules.runDue()).map((p) => p.tickAt.toISOString())).toEqual([at(4)]);
    const error = await a.schedules.pause('no-such-schedule').catch((e) => e);
    expect(isBusError(error, 'UNKNOWN_SCHEDULE')).toBe(true);
  });

  it('a changed expression starts after the deploy, without a duplicate at the switch; a removed schedule stops', async () => {
    const clock = new ManualClock(start);
    const store = new MemoryStore({ clock });
    const old = await busOn(store, {});
    await old.schedules.runDue();
    clock.advance(1500); // 2 s
    expect((await old.schedules.runDue()).map((p) => p.tickAt.toISOString())).toEqual([at(1), at(2)]);
    const deployed = await busOn(new MemoryStore({ tablesOf: store }), { every: 2000 });
    await deployed.schedules.list(); // syncs: the new expression's ticks start after now
    clock.advance(2000); // 4 s
    // The old process sees another signature in the database and leaves the schedule to the new.
    expect(await old.schedules.runDue()).toEqual([]);
    expect((await deployed.schedules.runDue()).map((p) => p.tickAt.toISOString())).toEqual([at(4)]);
    const removed = await busOn(new MemoryStore({ tablesOf: store }));
    clock.advance(10_000);
    expect(await removed.schedules.runDue()).toEqual([]);
    expect((await removed.schedules.list())[0]).toMatchObject({ name: 'every-second', declared: false });
    expect((await store.inspect.listEvents({ limit: 100 })).length).toBe(3);
  });

  it('a cron schedule in a time zone ticks on its wall clock (DST as Vixie cron: a missing 02:30 runs at 03:00)', async () => {
    const clock = new ManualClock(new Date('2030-03-30T12:00:00Z'));
    const store = new MemoryStore({ clock });
    const bus = await busOn(store, {
      every: undefined,
      cron: '0 30 2 * * *',
      timezone: 'Europe/Berlin',
      missed: { backfill: 10 },
    });
    await bus.schedules.runDue();
    clock.advance(2 * 86_400_000);
    const ticks = (await bus.schedules.runDue()).map((p) => p.tickAt.toISOString());
    // 31 March 2030 is the spring-forward day in Berlin: 02:30 does not exist, it runs at 03:00 CEST.
    expect(ticks).toEqual(['2030-03-31T01:00:00.000Z', '2030-04-01T00:30:00.000Z']);
  });

  it('bad schedules are INVALID_SCHEDULE at definition; an event without handlers is NO_HANDLER at init', async () => {
    const bad: Partial<ScheduleOptions<{ at: string }>>[] = [
      { every: undefined, cron: '61 * * * *' },
      { every: undefined, cron: 'not cron' },
      { every: undefined, cron: '* * * * *', timezone: 'Mars/Olympus_Mons' },
      { every: 999 },
      { every: 1000, cron: '* * * * *' },
      { every: undefined },
      { name: 'bad name!' },
      { missed: 'all' as never },
      { missed: { backfill: 0 } },
      { graceMs: -1 },
      { every: 1000, timezone: 'UTC' },
    ];
    for (const over of bad) {
      let error: unknown;
      try {
        defineSchedule({ name: 's', event: Tick, every: 1000, payload: { at: '' }, ...over } as never);
      } catch (e) {
        error = e;
      }
      expect(isBusError(error, 'INVALID_SCHEDULE'), JSON.stringify(over)).toBe(true);
    }
    const Orphan = defineEvent<object>('schedules.orphan');
    const registry = new Registry();
    registry.register(Tick, TickHandler);
    const bus = createBus({
      store: new MemoryStore(),
      registry,
      queues: [{ queueName: 'q', workers: 1, batchSize: 1, sleepInterval: 1000, archivePolicy: 'all' }],
    });
    bus.schedule(defineSchedule({ name: 'orphan', event: Orphan, every: 1000, payload: {} }));
    expect(isBusError(await bus.init().catch((e) => e), 'NO_HANDLER')).toBe(true);
    const ready = await busOn(new MemoryStore(), {});
    expect(() =>
      ready.schedule(defineSchedule({ name: 'late', event: Orphan, every: 1000, payload: {} })),
    ).toThrow(/no handler/);
    expect(() =>
      ready.schedule(defineSchedule({ name: 'every-second', event: Tick, every: 1000, payload: { at: '' } })),
    ).toThrow(/declared twice/);
  });
});
