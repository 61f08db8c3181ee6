import { PGlite } from '@electric-sql/pglite';
import { createBus } from 'bus-core';
import { migrate, postgresStore } from 'bus-postgres';
import { drizzle } from 'drizzle-orm/pglite';
import { queues } from './queues.js';

// Embedded PostgreSQL in the process: data in a local folder (`new PGlite()` keeps it in memory).
const client = new PGlite('./.data/app');
export const db = drizzle(client);

await migrate(db);
export const bus = createBus({ store: postgresStore(db), queues });
