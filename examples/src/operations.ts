import { createAdmin, isBusError } from 'bus-core';
import { bus, store } from './bus.js';
import { db } from './db.js';

// One API for every operator action: bus.admin in a process with a bus, createAdmin({ store })
// in a script or a dashboard that registers no handlers (the CLI and the dashboard use it too).
const admin = createAdmin({ store });

// Stop a bad batch: rows not started are removed (archived as 'cancelled'); rows running anywhere
// have ctx.signal aborted within about a second, and their late result cannot settle them.
const cancelled = await bus.admin.cancel(
  { filter: { queue: 'email', eventName: 'user.send-email', errorContains: 'template missing' } },
  { reason: 'bad template, see INC-42' },
);
console.info(`cancelled ${cancelled.count} rows`);

// By ids: ids that matched nothing (unknown, finished, not ids at all) are reported, not thrown.
const byId = await bus.admin.cancel({ ids: ['1042', '1043'] });
if (byId.unknown.length > 0) console.warn('not live:', byId.unknown);

// A filter that matches everything must say so.
try {
  await admin.cancel({ filter: {} });
} catch (error) {
  if (!isBusError(error, 'INVALID_ARGUMENT')) throw error; // pass { all: true } to mean it
}

// In your transaction, like publishTxn: a rollback cancels nothing.
await db.transaction(async (tx) => {
  await bus.admin.cancel({ filter: { queue: 'email', state: 'scheduled' } }, { tx });
});

// After the fix: run failed (and cancelled) rows again under their own ids, attempts reset,
// with their handler, payload, priority and retry budget.
const redriven = await bus.admin.redrive({ filter: { queue: 'email', statuses: ['failed'] } });
console.info(`redriven ${redriven.count} rows`);

// Pause a queue (or one handler of it) in every process while a provider is down. Running rows
// finish; nothing new starts within about a second; the pause is stored, so it survives restarts.
await bus.admin.pause('email');
await bus.admin.pause('low', { handlerName: 'audit-signup' });
for (const q of await bus.admin.queues()) {
  console.info(q.queue, q.paused ? 'paused' : 'running', q.pausedHandlers, q.available, q.running);
}
await bus.admin.resume('email');

// Views: keyset paging, newest first; one row by id; the worker processes seen in the last minute.
const newest = await admin.events({ queue: 'email', state: 'available', newestFirst: true, limit: 50 });
const older = await admin.events({
  queue: 'email',
  newestFirst: true,
  afterId: newest.at(-1)?.id,
  limit: 50,
});
console.info(newest.length + older.length, await admin.event('1042'), await admin.workers());
