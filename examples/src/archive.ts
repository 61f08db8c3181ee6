import { decodePayload } from 'bus-core';
import { bus, store } from './bus.js';

// Per queue: rows due now, scheduled later, running, retrying, and archived by status.
console.table(await bus.inspect.counts());

// Rows of the email queue that failed for good (kept because its policy is 'failed').
for (const row of await bus.inspect.archive({ queue: 'email', status: 'failed', limit: 50 })) {
  const error = row.lastError?.split('\n', 1)[0];
  console.info(row.id, row.handlerName, `${row.attempts} runs`, row.finishedAt.toISOString(), error);
  console.info(decodePayload(row.payload));
}

// Runs one archived row again, for its own handler only, as a fresh row (the archive row stays).
// bus.publish would fan out to every handler of the event instead.
export async function replay(id: string): Promise<string | undefined> {
  const [row] = await bus.inspect.archive({ ids: [id] });
  if (row === undefined) return undefined;
  const [newId] = await store.insert({
    rows: [
      {
        queue: row.queue,
        eventName: row.eventName,
        handlerName: row.handlerName,
        payload: row.payload,
        maxRetries: row.maxRetries,
        priority: row.priority,
        due: 0, // ms after the database's now, or a Date
      },
    ],
  });
  return newId;
}

// Without archiveRetention, prune from a scheduled job: rows finished more than 7 days ago.
export async function pruneArchive(): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await store.prune({ olderThanMs: 7 * 86_400_000, limit: 10_000 });
    total += deleted;
    if (deleted < 10_000) return total;
  }
}
