import { PGlite } from '@electric-sql/pglite';
import { createBus, isBusError, Registry } from 'bus-core';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, type PgTx, postgresStore } from '../src/index.js';
import { pgClient, uniqueName } from './helpers.js';

// A worker whose migrations were forgotten must fail at init() with the migration to run, not
// start and fail every claim in silence.

const queues = [
  { queueName: 'q', workers: 1, batchSize: 1, sleepInterval: 1000, archivePolicy: 'all' as const },
];

async function initError(db: PgTx, names: { eventsTable?: string; archiveTable?: string } = {}) {
  const bus = createBus({
    store: postgresStore(db, { ...names, listen: false }),
    queues,
    registry: new Registry(),
  });
  const error = await bus.init().then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isBusError(error, 'SCHEMA_MISSING')) throw new Error(`expected SCHEMA_MISSING, got ${String(error)}`);
  return error;
}

describe('init() on PostgreSQL without the bus tables', () => {
  const schema = uniqueName('bt_schema');
  const client = pgClient({ schema, max: 2 });
  const db = drizzle(client);

  beforeAll(async () => {
    await client.unsafe(`CREATE SCHEMA "${schema}"`);
  });
  afterAll(async () => {
    await client.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end({ timeout: 5 });
  });

  it('rejects with SCHEMA_MISSING that names the four tables and how to migrate', async () => {
    const error = await initError(db);
    expect(error.value).toEqual([
      'table bus_events',
      'table bus_events_archive',
      'table bus_events_pauses',
      'table bus_events_workers',
      'table bus_events_keys',
      'table bus_events_schedules',
      'table bus_events_limits',
      'table bus_events_starts',
    ]);
    expect(error.message).toContain('table bus_events,');
    expect(error.message).toContain('table bus_events_archive');
    expect(error.message).toContain('migrate(db)');
    expect(error.message).not.toContain('\n');
  });

  it('passes once migrated, and names a dropped index or column', async () => {
    await migrate(db);
    const bus = createBus({ store: postgresStore(db, { listen: false }), queues, registry: new Registry() });
    await expect(bus.init()).resolves.toBe(bus);

    await db.execute(sql`DROP INDEX bus_events_claim_idx`);
    expect((await initError(db)).value).toEqual(['index bus_events.bus_events_claim_idx']);
    await db.execute(sql`ALTER TABLE bus_events_archive DROP COLUMN finished_at`);
    expect((await initError(db)).value).toEqual([
      'index bus_events.bus_events_claim_idx',
      'column bus_events_archive.finished_at',
      'index bus_events_archive.bus_events_archive_finished_idx',
    ]);
  });

  it('names the job-control tables, column, keys and indexes when they are missing', async () => {
    const fresh = uniqueName('bt_schema_jc');
    await client.unsafe(`CREATE SCHEMA "${fresh}"`);
    const other = pgClient({ schema: fresh, max: 1 });
    try {
      const odb = drizzle(other);
      await migrate(odb);
      await odb.execute(sql`ALTER TABLE bus_events DROP COLUMN snoozes`);
      await odb.execute(sql`ALTER TABLE bus_events_pauses DROP CONSTRAINT bus_events_pauses_pkey`);
      await odb.execute(sql`DROP INDEX bus_events_workers_last_seen_idx`);
      await odb.execute(sql`DROP INDEX bus_events_archive_failed_idx`);
      expect((await initError(odb)).value).toEqual([
        'column bus_events.snoozes',
        'index bus_events_archive.bus_events_archive_failed_idx',
        'index bus_events_pauses.bus_events_pauses_pkey',
        'index bus_events_workers.bus_events_workers_last_seen_idx',
      ]);
      await odb.execute(sql`DROP TABLE bus_events_pauses, bus_events_workers`);
      expect((await initError(odb)).value).toEqual([
        'column bus_events.snoozes',
        'index bus_events_archive.bus_events_archive_failed_idx',
        'table bus_events_pauses',
        'table bus_events_workers',
      ]);
    } finally {
      await other.end();
      await client.unsafe(`DROP SCHEMA IF EXISTS "${fresh}" CASCADE`);
    }
  });

  it('names the flow-control tables, columns and indexes when they are missing', async () => {
    const fresh = uniqueName('bt_schema_flow');
    await client.unsafe(`CREATE SCHEMA "${fresh}"`);
    const other = pgClient({ schema: fresh, max: 1 });
    try {
      const odb = drizzle(other);
      await migrate(odb);
      await odb.execute(sql`DROP INDEX bus_events_key_idx`);
      await odb.execute(sql`DROP INDEX bus_events_running_idx`);
      await odb.execute(sql`ALTER TABLE bus_events_archive DROP COLUMN partition_key`);
      await odb.execute(sql`DROP INDEX bus_events_starts_queue_idx`);
      expect((await initError(odb)).value).toEqual([
        'index bus_events.bus_events_key_idx',
        'index bus_events.bus_events_running_idx',
        'column bus_events_archive.partition_key',
        'index bus_events_starts.bus_events_starts_queue_idx',
      ]);
      await odb.execute(sql`ALTER TABLE bus_events DROP COLUMN partition_key`);
      await odb.execute(sql`DROP TABLE bus_events_limits, bus_events_starts`);
      expect((await initError(odb)).value).toEqual([
        'column bus_events.partition_key',
        'index bus_events.bus_events_key_idx',
        'index bus_events.bus_events_running_idx',
        'column bus_events_archive.partition_key',
        'table bus_events_limits',
        'table bus_events_starts',
      ]);
    } finally {
      await other.end();
      await client.unsafe(`DROP SCHEMA IF EXISTS "${fresh}" CASCADE`);
    }
  });

  it('checks custom table names, not the defaults', async () => {
    const names = { eventsTable: 'Jobs', archiveTable: 'jobs_done' };
    expect((await initError(db, names)).value).toEqual([
      'table Jobs',
      'table jobs_done',
      'table Jobs_pauses',
      'table Jobs_workers',
      'table Jobs_keys',
      'table Jobs_schedules',
      'table Jobs_limits',
      'table Jobs_starts',
    ]);
    await migrate(db, names);
    const bus = createBus({
      store: postgresStore(db, { ...names, listen: false }),
      queues,
      registry: new Registry(),
    });
    await expect(bus.init()).resolves.toBe(bus);
  });
});

describe('init() on PGlite without the bus tables', () => {
  it('rejects with SCHEMA_MISSING, then passes after migrate', async () => {
    const pglite = new PGlite();
    try {
      const db = drizzlePglite(pglite);
      expect((await initError(db)).value).toEqual([
        'table bus_events',
        'table bus_events_archive',
        'table bus_events_pauses',
        'table bus_events_workers',
        'table bus_events_keys',
        'table bus_events_schedules',
        'table bus_events_limits',
        'table bus_events_starts',
      ]);
      await migrate(db);
      const bus = createBus({ store: postgresStore(db), queues, registry: new Registry() });
      await expect(bus.init()).resolves.toBe(bus);
    } finally {
      await pglite.close();
    }
  });
});
