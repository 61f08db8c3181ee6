import { bus } from './bus.js';
import { SendEmailEvent } from './events.js';

// One event: one row per handler of SendEmailEvent, each in its handler's queue. Resolves with
// the row ids once the rows are committed.
const ids = await bus.publish(SendEmailEvent, {
  to: 'user@example.com',
  subject: 'Welcome!',
  body: 'Thanks for signing up.',
});
console.log(`queued ${ids.length} rows`);

// Many events of one type in one multi-row INSERT.
const newsletter = ['ada@example.com', 'alan@example.com'].map((to) => ({
  to,
  subject: 'What is new in May',
  body: '…',
}));
await bus.publishBatch(SendEmailEvent, newsletter);

const reminder = { to: 'user@example.com', subject: 'Finish your profile', body: '…' };
// Delayed: due 24 hours from now, by the database's clock ...
await bus.publish(SendEmailEvent, reminder, { delay: 24 * 3_600_000 });
// ... or at an instant (`runAt` wins over `delay`).
await bus.publish(SendEmailEvent, reminder, { runAt: new Date('2030-01-01T09:00:00Z') });

// Priority: lower runs first within a queue; the default is the handler's settings.priority or 0.
await bus.publish(
  SendEmailEvent,
  { to: 'user@example.com', subject: 'Your password reset code', body: '…' },
  { priority: -10 },
);
