import { migrate } from 'bus-mysql';
import { drizzle } from 'drizzle-orm/mysql2';
import mysql from 'mysql2/promise';

const pool = mysql.createPool({ uri: process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/app' });
const db = drizzle(pool);

// Creates or updates bus_events and bus_events_archive; idempotent, serialised with GET_LOCK.
await migrate(db);
await pool.end();
