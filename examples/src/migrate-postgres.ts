import { migrate } from 'bus-postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';

const client = postgres(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/app');
const db = drizzle(client);

// Creates or updates bus_events and bus_events_archive, recording what it applied in
// bus_migrations. Idempotent, and safe when several processes start at once (advisory lock).
const { applied } = await migrate(db);
console.info(applied.length > 0 ? `applied ${applied.join(', ')}` : 'bus tables are up to date');
await client.end();
