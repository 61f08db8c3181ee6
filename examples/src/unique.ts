import { bus } from './bus.js';
import { db } from './db.js';
import { SendEmailEvent } from './events.js';

const welcome = { to: 'user@example.com', subject: 'Welcome!', body: 'Thanks for signing up.' };

// One row per handler unless a live row of that handler holds the key already.
const result = await bus.publishUnique(SendEmailEvent, welcome, { key: 'welcome:user@example.com' });
result.duplicate; // false the first time; true while the first rows are live
result.ids; // the row ids, one per handler; for a duplicate, the existing rows' ids
result.rows; // [{ id, handlerName, duplicate }] per handler

// Inside your transaction: the key is taken only if the transaction commits.
await db.transaction((tx) =>
  bus.publishUniqueTxn(tx, SendEmailEvent, welcome, { key: 'welcome:user@example.com' }),
);

// At most one per key and day, finished or not; a duplicate rejects with DUPLICATE_PUBLISH.
await bus.publishUnique(SendEmailEvent, welcome, {
  key: 'digest:user@example.com',
  period: 86_400_000,
  scope: 'archive',
  onDuplicate: 'throw',
});

// The plain publish calls take it as an option and resolve with ids (the holder's for a duplicate).
await bus.publish(SendEmailEvent, welcome, { unique: { key: 'welcome:user@example.com' } });
await bus.publishBatch(SendEmailEvent, [welcome], { unique: { key: (email) => `welcome:${email.to}` } });
