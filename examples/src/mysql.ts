import { createBus } from 'bus-core';
import { migrate, mysqlStore } from 'bus-mysql';
import { drizzle } from 'drizzle-orm/mysql2';
import mysql from 'mysql2/promise';
import { queues } from './queues.js';

// MySQL 8.0+ or MariaDB 10.6+, through a mysql2 pool.
export const pool = mysql.createPool({
  uri: process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/app',
  connectionLimit: 20,
});
export const db = drizzle(pool);

await migrate(db);
export const bus = createBus({ store: mysqlStore(db), queues });
