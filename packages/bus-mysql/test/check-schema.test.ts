import { createBus, isBusError, Registry } from 'bus-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BusTableNames, type MySqlTx, migrate, mysqlStore } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './helpers.js';

// A worker whose migrations were forgotten must fail at init() with the migration to run, not
// start and fail every claim in silence.

const queues = [
  { queueName: 'q', workers: 1, batchSize: 1, sleepInterval: 1000, archivePolicy: 'all' as const },
];

async function initError(db: MySqlTx, names: BusTableNames = {}) {
  const bus = createBus({ store: mysqlStore(db, names), queues, registry: new Registry() });
  const error = await bus.init().then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isBusError(error, 'SCHEMA_MISSING')) throw new Error(`expected SCHEMA_MISSING, got ${String(error)}`);
  return error;
}

describe('init() on MariaDB without the bus tables', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('rejects with SCHEMA_MISSING that names every table and how to migrate', async () => {
    const error = await initError(t.db);
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
    expect(error.message).toContain('migrate(db)');
    expect(error.message).not.toContain('\n');
  });

  it('passes once migrated, and names a dropped index or column', async () => {
    await migrate(t.db);
    const bus = createBus({ store: mysqlStore(t.db), queues, registry: new Registry() });
    await expect(bus.init()).resolves.toBe(bus);

    await t.admin.query('DROP INDEX claim_idx ON bus_events');
    expect((await initError(t.db)).value).toEqual(['index bus_events.claim_idx']);
    await t.admin.query('ALTER TABLE bus_events_archive DROP COLUMN last_error');
    expect((await initError(t.db)).value).toEqual([
      'index bus_events.claim_idx',
      'column bus_events_archive.last_error',
    ]);
  });

  it('names a missing job-control table, column or index (0003_job_control)', async () => {
    const names = { eventsTable: 'jc', archiveTable: 'jc_done' };
    await migrate(t.db, names);
    const store = mysqlStore(t.db, names);
    await store.checkSchema();
    await t.admin.query('ALTER TABLE jc DROP COLUMN snoozes');
    await t.admin.query('DROP INDEX last_seen_at_idx ON jc_workers');
    await t.admin.query('DROP TABLE jc_pauses');
    expect((await initError(t.db, names)).value).toEqual([
      'column jc.snoozes',
      'table jc_pauses',
      'index jc_workers.last_seen_at_idx',
    ]);
  });

  it('names a missing flow-control table, column or index (0005_flow_control)', async () => {
    const names = { eventsTable: 'fc', archiveTable: 'fc_done' };
    await migrate(t.db, names);
    await mysqlStore(t.db, names).checkSchema();
    await t.admin.query('DROP INDEX key_idx ON fc');
    await t.admin.query('ALTER TABLE fc_done DROP COLUMN partition_key');
    await t.admin.query('DROP TABLE fc_limits');
    await t.admin.query('DROP INDEX queue_started_idx ON fc_starts');
    expect((await initError(t.db, names)).value).toEqual([
      'index fc.key_idx',
      'column fc_done.partition_key',
      'table fc_limits',
      'index fc_starts.queue_started_idx',
    ]);
  });

  it('checks custom pauses and workers table names', async () => {
    const names = {
      eventsTable: 'own',
      archiveTable: 'own_done',
      pausesTable: 'own_p',
      workersTable: 'own_w',
    };
    expect((await initError(t.db, names)).value).toEqual([
      'table own',
      'table own_done',
      'table own_p',
      'table own_w',
      'table own_keys',
      'table own_schedules',
      'table own_limits',
      'table own_starts',
    ]);
    await migrate(t.db, names);
    const [tables] = (await t.admin.query(
      "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'own%' ORDER BY 1",
    )) as unknown as [{ name: string }[]];
    expect(tables.map((r) => r.name)).toEqual([
      'own',
      'own_done',
      'own_keys',
      'own_limits',
      'own_p',
      'own_schedules',
      'own_starts',
      'own_w',
    ]);
    await mysqlStore(t.db, names).checkSchema();
  });

  it('checks custom table names, not the defaults', async () => {
    const names = { eventsTable: 'jobs', archiveTable: 'jobs_done' };
    expect((await initError(t.db, names)).value).toEqual([
      'table jobs',
      'table jobs_done',
      'table jobs_pauses',
      'table jobs_workers',
      'table jobs_keys',
      'table jobs_schedules',
      'table jobs_limits',
      'table jobs_starts',
    ]);
    await migrate(t.db, names);
    const bus = createBus({ store: mysqlStore(t.db, names), queues, registry: new Registry() });
    await expect(bus.init()).resolves.toBe(bus);
  });
});
