// Compile-time checks, run by `tsc --noEmit` (not a vitest file): the store's transaction type
// takes a Drizzle MySQL (mysql2) database or transaction and refuses a Drizzle Postgres one.
import { createBus, defineEvent, type TxOf } from 'bus-core';
import { drizzle } from 'drizzle-orm/mysql2';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import type { Pool } from 'mysql2/promise';
import { busEvents, type MySqlTx, mysqlStore } from '../src/index.js';

declare const pool: Pool;
declare const pg: PgDatabase<PgQueryResultHKT>;
declare const pgTx: PgTransaction<PgQueryResultHKT>;

const db = drizzle(pool);
const withSchema = drizzle(pool, { schema: { busEvents }, mode: 'default' });
const store = mysqlStore(db);
mysqlStore(withSchema);
const bus = createBus({ store, queues: [] });
const Event = defineEvent<{ n: number }>('types.event');

const tx: TxOf<typeof store> = db;
void tx;

export async function compiles(): Promise<void> {
  await db.transaction(async (trx) => {
    await bus.publishTxn(trx, Event, { n: 1 });
    await trx.transaction(async (nested) => bus.publishBatchTxn(nested, Event, [{ n: 2 }]));
  });
  await withSchema.transaction((trx) => bus.publishTxn(trx, Event, { n: 1 }));
  await bus.publishTxn(db, Event, { n: 1 });
  await store.transaction(async (trx: MySqlTx) => bus.publishTxn(trx, Event, { n: 1 }));
  // @ts-expect-error the payload type flows from the event
  await bus.publishTxn(db, Event, { n: 'one' });
}

export async function refused(): Promise<void> {
  // @ts-expect-error a Drizzle Postgres database is not a MySQL transaction
  await bus.publishTxn(pg, Event, { n: 1 });
  // @ts-expect-error a Drizzle Postgres transaction is not a MySQL transaction
  await bus.publishTxn(pgTx, Event, { n: 1 });
  // @ts-expect-error the store itself needs a MySQL database
  mysqlStore(pg);
  // @ts-expect-error not a transaction at all
  await bus.publishTxn({}, Event, { n: 1 });
}
