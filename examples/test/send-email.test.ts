import { createBus, Registry } from 'bus-core';
import { assertPublished, ManualClock, memoryStore, runUntilIdle } from 'bus-testing';
import { expect, it } from 'vitest';
import { SendEmailEvent } from '../src/events.js';
import { SendEmailHandler } from '../src/handlers/send-email.js';
import type { Mailer, Message } from '../src/mailer.js';

/** A mailer that records messages and fails the first `failures` sends. */
class FakeMailer implements Mailer {
  readonly sent: Message[] = [];
  constructor(private failures = 0) {}
  async send(message: Message): Promise<void> {
    if (this.failures-- > 0) throw new Error('421 try again later');
    this.sent.push(message);
  }
}

it('sends the welcome email, retrying 30 minutes after a failure', async () => {
  const clock = new ManualClock(); // the store's "database time"; moves only when told
  const store = memoryStore({ clock });
  const mailer = new FakeMailer(1);
  const bus = createBus({
    store,
    registry: new Registry(), // a fresh registry: no handler leaks between tests
    queues: [{ queueName: 'email', workers: 1, batchSize: 10, sleepInterval: 10, archivePolicy: 'all' }],
  });
  bus.register(SendEmailEvent, SendEmailHandler, {
    factory: () => new SendEmailHandler(mailer, 'noreply@example.com'),
  });
  await bus.init();

  await bus.publish(SendEmailEvent, { to: 'ada@example.com', subject: 'Welcome!', body: 'Hi Ada' });
  await runUntilIdle(bus); // starts the workers, runs everything due, waits until idle
  expect(mailer.sent).toEqual([]); // the first attempt failed; the retry is 30 minutes away

  clock.advance(30 * 60_000);
  await runUntilIdle(bus);
  expect(mailer.sent).toMatchObject([{ to: 'ada@example.com', from: 'noreply@example.com' }]);

  // Live and archived rows of the event, payloads decoded. Archive policy 'all' keeps the
  // completed row; under 'none' or 'failed' it would be gone once completed.
  const [row] = await assertPublished(store, SendEmailEvent, (email) => email.to === 'ada@example.com');
  expect(row).toMatchObject({ state: 'completed', handlerName: 'send-email' });

  await bus.controller.awaitTerminationWithTimeout(1_000);
});
