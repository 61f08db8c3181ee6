import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../bus-testing/src/index.js';
import { createAdmin, defineEvent, defineSchedule, Registry } from '../src/index.js';
import { expectRejects, handlerClass, makeBus, queue } from './support.js';

// The admin's schedules (bus.admin and createAdmin) are bus.schedules under another name: the same
// rows, the same pause, the same errors, so the dashboard, the CLI and user code cannot disagree.

const Report = defineEvent<{ at: string }>('admin-schedules.report');
const ReportHandler = handlerClass<{ at: string }>('admin-schedules.handler', { queueName: 'q' }, () => {});

async function busWithSchedule(store: MemoryStore) {
  const registry = new Registry();
  registry.register(Report, ReportHandler);
  const bus = await makeBus({ registry, store, queues: [queue('q')] });
  bus.schedule(
    defineSchedule({
      name: 'nightly',
      event: Report,
      cron: '0 3 * * *',
      payload: (tick: Date) => ({ at: tick.toISOString() }),
    }),
  );
  return bus;
}

describe('admin schedules', () => {
  it('lists what bus.schedules lists, and pauses and resumes the same row, reporting whether it changed', async () => {
    const store = new MemoryStore();
    const bus = await busWithSchedule(store);
    const [listed] = await bus.admin.schedules();
    const [own] = await bus.schedules.list();
    expect(listed).toEqual({
      name: 'nightly',
      signature: own?.signature,
      paused: false,
      lastTickAt: null,
      nextTickAt: own?.nextTickAt,
    });
    expect(listed?.signature).toContain('0 3 * * *');
    expect(listed?.nextTickAt?.getUTCHours()).toBe(3);

    expect(await bus.admin.pauseSchedule('nightly')).toEqual({ changed: true });
    expect(await bus.admin.pauseSchedule('nightly')).toEqual({ changed: false });
    expect((await bus.schedules.list())[0]?.paused).toBe(true);
    expect((await store.schedules.list())[0]?.paused).toBe(true);

    expect(await bus.schedules.resume('nightly')).toEqual({ changed: true });
    expect(await bus.admin.resumeSchedule('nightly')).toEqual({ changed: false });
    expect((await bus.admin.schedules())[0]?.paused).toBe(false);
  });

  it('works without a bus (createAdmin) on the stored rows, with the next tick the database recorded', async () => {
    const store = new MemoryStore();
    await store.schedules.sync({ schedules: [{ name: 'stored', signature: 'every 60000ms' }] });
    const admin = createAdmin({ store });
    expect(await admin.schedules()).toEqual([
      { name: 'stored', signature: 'every 60000ms', paused: false, lastTickAt: null, nextTickAt: null },
    ]);
    expect(await admin.pauseSchedule('stored')).toEqual({ changed: true });
    expect((await store.schedules.list())[0]?.paused).toBe(true);
    expect(await admin.resumeSchedule('stored')).toEqual({ changed: true });
    expect((await store.schedules.list())[0]?.paused).toBe(false);
    expect(await createAdmin({ store: new MemoryStore() }).schedules()).toEqual([]);
  });

  it('refuses an unknown schedule with UNKNOWN_SCHEDULE and a bad name with INVALID_ARGUMENT', async () => {
    const store = new MemoryStore();
    const bus = await busWithSchedule(store);
    for (const admin of [bus.admin, createAdmin({ store })]) {
      await expectRejects(admin.pauseSchedule('no-such-schedule'), 'UNKNOWN_SCHEDULE', 'no-such-schedule');
      await expectRejects(admin.resumeSchedule('no-such-schedule'), 'UNKNOWN_SCHEDULE');
      for (const bad of ['', 'x'.repeat(201), 42, null, undefined, { name: 'nightly' }, Symbol('s')]) {
        await expectRejects(admin.pauseSchedule(bad as never), 'INVALID_ARGUMENT');
        await expectRejects(admin.resumeSchedule(bad as never), 'INVALID_ARGUMENT');
      }
    }
    await expectRejects(bus.schedules.pause(7 as never), 'INVALID_ARGUMENT');
    expect((await store.schedules.list()).map((r) => r.paused)).toEqual([false]);
  });
});
