import { bus as postgresBus } from './bus.js';
import { SendEmailEvent } from './events.js';
import { bus as mysqlBus, db as mysqlDb } from './mysql.js';

const email = { to: 'user@example.com', subject: 'Welcome!', body: '…' };

await mysqlDb.transaction(async (tx) => {
  await mysqlBus.publishTxn(tx, SendEmailEvent, email); // a MySQL bus takes a MySQL transaction

  // @ts-expect-error: a Postgres bus does not take a MySQL transaction
  await postgresBus.publishTxn(tx, SendEmailEvent, email);
});
