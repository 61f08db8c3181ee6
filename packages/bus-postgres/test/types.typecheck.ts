// Compile-time checks, run by `tsc --noEmit` (`pnpm typecheck`); never executed. Each
// `@ts-expect-error` fails the typecheck if the line below it ever compiles.
import type { PGlite } from '@electric-sql/pglite';
import { type Bus, createBus, defineEvent, type TxOf } from 'bus-core';
import type {
  MySqlDatabase,
  MySqlQueryResultHKT,
  MySqlTransaction,
  PreparedQueryHKTBase,
} from 'drizzle-orm/mysql-core';
import { pgTable, text } from 'drizzle-orm/pg-core';
import type { PgliteDatabase } from 'drizzle-orm/pglite';
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type postgres from 'postgres';
import { type PgTx, type PostgresStore, postgresStore } from '../src/index.js';

const Ping = defineEvent<{ n: number }>('types.ping');
const schema = { notes: pgTable('notes', { body: text('body') }) };

declare const pgjs: PostgresJsDatabase & { $client: postgres.Sql };
declare const pgjsWithSchema: PostgresJsDatabase<typeof schema> & { $client: postgres.Sql };
declare const lite: PgliteDatabase & { $client: PGlite };
declare const liteWithSchema: PgliteDatabase<typeof schema>;
declare const mysqlDb: MySqlDatabase<MySqlQueryResultHKT, PreparedQueryHKTBase>;
declare const mysqlTx: MySqlTransaction<MySqlQueryResultHKT, PreparedQueryHKTBase>;
declare const sqlClient: postgres.Sql;
declare const pglite: PGlite;

export async function checks(): Promise<void> {
  // Every Drizzle Postgres database is accepted, whatever the driver and schema.
  const store: PostgresStore = postgresStore(pgjs);
  postgresStore(pgjsWithSchema);
  postgresStore(lite);
  postgresStore(liteWithSchema, { listen: false });
  // The LISTEN client may be given explicitly: postgres.js or PGlite.
  postgresStore(pgjs, { listen: sqlClient });
  postgresStore(lite, { listen: pglite });

  const bus: Bus<PgTx> = createBus({ store, queues: [] });
  const same: TxOf<typeof store> extends PgTx ? true : false = true;
  void same;

  // publishTxn takes transactions of any Postgres driver…
  await pgjs.transaction((tx) => bus.publishTxn(tx, Ping, { n: 1 }));
  await pgjsWithSchema.transaction((tx) => bus.publishTxn(tx, Ping, { n: 1 }));
  await lite.transaction((tx) => bus.publishTxn(tx, Ping, { n: 1 }));
  await liteWithSchema.transaction(async (tx) => {
    await tx.insert(schema.notes).values({ body: 'x' });
    await bus.publishBatchTxn(tx, Ping, [{ n: 1 }, { n: 2 }]);
  });
  // … and the database itself.
  await bus.publishTxn(pgjs, Ping, { n: 1 });

  // …but not a MySQL one.
  // @ts-expect-error: a Postgres bus does not take a MySQL transaction
  await bus.publishTxn(mysqlTx, Ping, { n: 1 });
  // @ts-expect-error: nor a MySQL database
  await bus.publishBatchTxn(mysqlDb, Ping, [{ n: 1 }]);
  // @ts-expect-error: and the store is not built on a MySQL database
  postgresStore(mysqlDb);
  // @ts-expect-error: the payload type flows to publishTxn
  await lite.transaction((tx) => bus.publishTxn(tx, Ping, { n: 'one' }));
  // @ts-expect-error: the LISTEN client must be postgres.js or PGlite
  postgresStore(pgjs, { listen: { query: 1 } });
}
