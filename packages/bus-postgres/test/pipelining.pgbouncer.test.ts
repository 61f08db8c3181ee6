import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, type PostgresStore, postgresStore } from '../src/index.js';
import { pgClient, uniqueName } from './helpers.js';
import { type PrivatePgBouncer, privatePgBouncer } from './private-servers.js';

// postgres.js sends the next statement on a busy connection (pipelining) when the busy one binds
// no parameter. With `prepare: false`, a statement that binds parameters first asks for their
// types (Parse, Describe, Flush: no Sync). PgBouncer 1.18 in transaction mode counts only Syncs,
// so it hands the server connection back when the first statement ends and the second one's
// answers go nowhere: the statement never settles. The 1 s pause watcher's `listPauses` and
// `now` bound nothing, and worker processes behind PgBouncer stalled for 15-25 s with their leases
// expiring (rows ran twice). Every store statement now binds a parameter (`Statements.rows`
// refuses one that does not), so the store never opens a pipeline on its own.

let bouncer: PrivatePgBouncer;
let schema: string;
let client: postgres.Sql;
let store: PostgresStore;

beforeAll(async () => {
  bouncer = await privatePgBouncer({ poolSize: 2 });
  schema = uniqueName('bt_pipeline');
  const admin = pgClient({ max: 1 });
  await admin.unsafe(`CREATE SCHEMA "${schema}"`);
  await admin.end();
  // One connection, so every statement of a round shares it: the pipelining case.
  client = postgres(bouncer.url, { max: 1, prepare: false, onnotice: () => {} });
  await migrate(drizzle(client), { schema });
  store = postgresStore(drizzle(client), { schema, listen: false });
});

afterAll(async () => {
  await client?.end({ timeout: 5 });
  const admin = pgClient({ max: 1 });
  try {
    if (schema !== undefined) await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await admin.end();
  }
  await bouncer?.stop();
});

/** Resolves with `work`, or rejects once `ms` pass without it settling. */
async function within<T>(ms: number, label: string, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('PgBouncer 1.18 in transaction mode, one client connection, prepare off', () => {
  it('the reads a worker polls (now, pauses, counts, schedules) mixed with claims all answer', async () => {
    for (let round = 0; round < 40; round++) {
      await within(
        5000,
        `round ${round}`,
        Promise.all([
          store.now(),
          store.inspect.listPauses(),
          store.now(),
          store.claim({ queue: 'q', limit: 5, workerId: 'w', leaseMs: 30_000, handlers: ['h'] }),
          store.inspect.countByQueue(),
          store.schedules.list(),
          store.inspect.listPauses(),
          store.checkLeases({ workerId: 'w', events: [{ id: '1', attempt: 1 }] }),
        ]),
      );
    }
    expect(await store.now()).toBeInstanceOf(Date);
  });
});
