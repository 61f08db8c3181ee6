import type { QueueConfig } from 'bus-core';
import { bus } from './bus.js';
import { SendEmailEvent } from './events.js';

// In the queue configuration: held across every process, stored in the database at start-up.
export const mailQueue: QueueConfig = {
  queueName: 'mail',
  workers: 10, // slots in this process
  batchSize: 10,
  sleepInterval: 5000,
  archivePolicy: 'failed',
  limits: {
    concurrency: 5, // at most 5 rows of 'mail' running at once in the whole cluster
    rate: { limit: 50, periodMs: 30_000 }, // at most 50 starts in any 30 s (the provider's quota)
    keyConcurrency: 1, // one row per partition key at a time: each account's mail in order
  },
};

// A handler's rows get their partition key from the payload (in its settings):
//   static settings = { queueName: 'mail', ..., partitionKey: (email: SendEmail) => email.to };
// or a publish gives it for every handler:
await bus.publish(
  SendEmailEvent,
  { to: 'a@example.com', subject: 'Hi', body: '…' },
  { partitionKey: 'account:42' },
);

// At run time, from any process: every process follows within about a second.
await bus.admin.setLimits('mail', { concurrency: 2, rate: { limit: 10, periodMs: 1000 } });
for (const { queue, limits, updatedAt } of await bus.admin.limits()) console.log(queue, limits, updatedAt);
await bus.admin.setLimits('mail', null); // no limits: the plain claim again
