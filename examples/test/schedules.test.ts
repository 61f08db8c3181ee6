import { createBus, defineSchedule, Registry } from 'bus-core';
import { ManualClock, memoryStore } from 'bus-testing';
import { expect, it } from 'vitest';
import { SendEmailEvent } from '../src/events.js';
import { SendEmailHandler } from '../src/handlers/send-email.js';

it('publishes the heartbeat once a minute, by the store clock', async () => {
  const clock = new ManualClock(new Date('2030-01-01T00:00:00Z'));
  const store = memoryStore({ clock });
  const bus = createBus({
    store,
    registry: new Registry(),
    queues: [{ queueName: 'email', workers: 1, batchSize: 10, sleepInterval: 10, archivePolicy: 'all' }],
  });
  bus.register(SendEmailEvent, SendEmailHandler, {
    factory: () => new SendEmailHandler({ send: async () => {} }, 'noreply@example.com'),
  });
  bus.schedule(
    defineSchedule({
      name: 'heartbeat',
      event: SendEmailEvent,
      every: 60_000,
      payload: (tick) => ({ to: 'ops@example.com', subject: tick.toISOString(), body: '' }),
    }),
  );
  await bus.init();
  await bus.schedules.runDue(); // first sight: anchors the schedule at the clock's now
  clock.advance(60_000);
  const [tick] = await bus.schedules.runDue(); // what the workers' loop does about every second
  expect(tick?.tickAt).toEqual(new Date('2030-01-01T00:01:00Z'));
  expect(await bus.schedules.runDue()).toEqual([]); // each tick once
});
