import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePayload, isBusError } from 'bus-core';
import { generateMySQLDrizzleJson, generateMySQLMigration } from 'drizzle-kit/api';
import { getTableConfig } from 'drizzle-orm/mysql-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  busEvents,
  busEventsArchive,
  busEventsKeys,
  busEventsLimits,
  busEventsPauses,
  busEventsSchedules,
  busEventsStarts,
  busEventsWorkers,
  createBusTables,
  migrate,
  mysqlStore,
} from '../src/index.js';
import { bundledMigrations } from '../src/migrate.js';
import { BUNDLED_MIGRATIONS } from '../src/migrations.generated.js';
import { archived, createTestDatabase, row, type TestDatabase } from './helpers.js';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const folder = join(pkg, 'drizzle');
const TAGS = journal_tags();
function journal_tags(): string[] {
  return (
    JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8')) as { entries: { tag: string }[] }
  ).entries.map((e) => e.tag);
}
const journal = JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8')) as {
  entries: { idx: number; tag: string }[];
};
const snapshot = (idx: number) =>
  JSON.parse(readFileSync(join(folder, 'meta', `${String(idx).padStart(4, '0')}_snapshot.json`), 'utf8'));
const split = (text: string) =>
  text
    .split('--> statement-breakpoint')
    .map((s) => s.trim())
    .filter(Boolean);

const FIX =
  'run `pnpm --filter bus-mysql generate` after `pnpm build` and commit ./drizzle and src/migrations.generated.ts';

describe('committed migrations (offline)', () => {
  it('src/schema.ts matches the latest snapshot: nothing left to generate', async () => {
    const last = journal.entries.at(-1)!;
    const current = await generateMySQLDrizzleJson({
      busEvents,
      busEventsArchive,
      busEventsPauses,
      busEventsWorkers,
      busEventsKeys,
      busEventsSchedules,
      busEventsLimits,
      busEventsStarts,
    });
    expect(await generateMySQLMigration(snapshot(last.idx), current), FIX).toEqual([]);
  });

  it('each SQL file is what drizzle-kit generates from its snapshots (no hand edits)', async () => {
    let previous = await generateMySQLDrizzleJson({});
    for (const entry of journal.entries) {
      const next = snapshot(entry.idx);
      const expected = (await generateMySQLMigration(previous, next)).map((s) => s.trim());
      const actual = split(readFileSync(join(folder, `${entry.tag}.sql`), 'utf8'));
      expect(actual, `${entry.tag}.sql: ${FIX}`).toEqual(expected);
      previous = next;
    }
  });

  it('the migrations embedded for migrate() are those in drizzle/', () => {
    const result = spawnSync(
      process.execPath,
      [join(pkg, '..', '..', 'scripts', 'embed-migrations.mjs'), '--check'],
      {
        cwd: pkg,
        encoding: 'utf8',
      },
    );
    expect(result.status, result.stderr).toBe(0);
    expect(BUNDLED_MIGRATIONS.map((m) => m.tag)).toEqual(TAGS);
  });

  it('renames only the table names for custom tables', () => {
    const [init] = bundledMigrations({ eventsTable: 'jobs', archiveTable: 'jobs_done' });
    const text = init!.statements.join('\n');
    expect(text).not.toContain('`bus_events`');
    expect(text).not.toContain('`bus_events_archive`');
    expect(text).toContain('CREATE TABLE `jobs` (');
    expect(text).toContain('CREATE TABLE `jobs_done` (');
    expect(text).toContain('ON `jobs` (`queue`,`locked_until`,`priority`,`scheduled_at`,`id`)');
  });

  it('names the pauses and workers tables as configured, derived or given', () => {
    const jobControl = (names: Parameters<typeof bundledMigrations>[0]) =>
      bundledMigrations(names)
        .find((m) => m.tag === '0003_job_control')!
        .statements.join('\n');
    const derived = jobControl({
      eventsTable: 'jobs',
      archiveTable: 'jobs_done',
      pausesTable: 'jobs_pauses',
      workersTable: 'jobs_workers',
    });
    expect(derived).toContain('CREATE TABLE `jobs_pauses` (');
    expect(derived).toContain('ON `jobs_workers` (`last_seen_at`)');
    expect(derived).toContain('ALTER TABLE `jobs` ADD `snoozes`');
    const own = jobControl({
      eventsTable: 'jobs',
      archiveTable: 'jobs_done',
      pausesTable: 'p',
      workersTable: 'w',
    });
    expect(own).toContain('CREATE TABLE `p` (');
    expect(own).toContain('CREATE TABLE `w` (');
    expect(own).toContain('ON `w` (`last_seen_at`)');
    expect(own).not.toContain('bus_events');
    expect(own).not.toContain('jobs_pauses');
  });
});

describe('migrate(db)', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => {
    await t?.drop();
  });

  async function describeTable(table: string) {
    const [columns] = (await t.admin.query(
      `SELECT COLUMN_NAME AS name, IS_NULLABLE AS nullable FROM information_schema.COLUMNS
       WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [t.name, table],
    )) as unknown as [{ name: string; nullable: string }[]];
    const [indexes] = (await t.admin.query(
      `SELECT INDEX_NAME AS name, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS columns
       FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? GROUP BY INDEX_NAME`,
      [t.name, table],
    )) as unknown as [{ name: string; columns: string }[]];
    return {
      columns: columns.map((c) => `${c.name}${c.nullable === 'YES' ? '?' : ''}`),
      indexes: Object.fromEntries(indexes.map((i) => [i.name, i.columns])),
    };
  }

  function expectedTable(
    table:
      | typeof busEvents
      | typeof busEventsArchive
      | typeof busEventsPauses
      | typeof busEventsWorkers
      | typeof busEventsLimits
      | typeof busEventsStarts,
  ) {
    const config = getTableConfig(table);
    const primary =
      config.primaryKeys[0]?.columns.map((c) => c.name).join(',') ??
      config.columns.find((c) => c.primary)!.name;
    return {
      columns: config.columns.map((c) => `${c.name}${c.notNull ? '' : '?'}`),
      indexes: Object.fromEntries([
        ['PRIMARY', primary],
        ...config.indexes.map((i) => [
          i.config.name,
          i.config.columns.map((c) => (c as { name: string }).name).join(','),
        ]),
      ]),
    };
  }

  it('concurrent calls are serialised: one applies, the others find it done; the tables match schema.ts', async () => {
    const pools = Array.from({ length: 4 }, () => t.open({ connectionLimit: 2 }).db);
    const results = await Promise.all(pools.map((db) => migrate(db)));
    expect(results.map((r) => r.applied).sort()).toEqual([[], [], [], TAGS]);
    expect(await describeTable('bus_events')).toEqual(expectedTable(busEvents));
    expect(await describeTable('bus_events_archive')).toEqual(expectedTable(busEventsArchive));
    expect(await describeTable('bus_events_pauses')).toEqual(expectedTable(busEventsPauses));
    expect(await describeTable('bus_events_workers')).toEqual(expectedTable(busEventsWorkers));
    expect((await migrate(t.db)).applied).toEqual([]);
    const [journalRows] = (await t.admin.query(
      'SELECT scope, tag, statements_applied, statements_total, applied_at FROM bus_migrations',
    )) as unknown as [
      { scope: string; statements_applied: number; statements_total: number; applied_at: unknown }[],
    ];
    expect(journalRows).toHaveLength(TAGS.length);
    for (const entry of journalRows) {
      expect(entry).toMatchObject({ scope: 'bus_events/bus_events_archive' });
      expect(entry.statements_applied).toBe(entry.statements_total);
      expect(entry.applied_at).not.toBeNull();
    }
  });

  it('custom table names: migrated and usable by a store with the same names', async () => {
    const names = { eventsTable: 'jobs', archiveTable: 'jobs_done' };
    expect((await migrate(t.db, names)).applied).toEqual(TAGS);
    expect((await migrate(t.db, names)).applied).toEqual([]);
    const tables = createBusTables(names);
    expect(await describeTable('jobs')).toEqual(expectedTable(tables.events));
    expect(await describeTable('jobs_done')).toEqual(expectedTable(tables.archive));
    expect(await describeTable('jobs_pauses')).toEqual(expectedTable(tables.pauses));
    expect(await describeTable('jobs_workers')).toEqual(expectedTable(tables.workers));

    const store = mysqlStore(t.db, { ...names, jsonPayload: true });
    const [id] = await store.insert({ rows: [row({ payload: encodePayload({ n: 1 }) })] });
    const [claimed] = await store.claim({
      queue: 'q',
      limit: 1,
      workerId: 'w',
      leaseMs: 1000,
      handlers: ['test.handler'],
    });
    expect(claimed!.id).toBe(id);
    await store.settle({
      workerId: 'w',
      outcomes: [{ kind: 'completed', id: id!, attempt: 1, archive: true }],
    });
    expect((await archived(store)).map((a) => [a.id, a.payloadJson])).toEqual([[id, { n: 1 }]]);
    expect(await archived(mysqlStore(t.db))).toEqual([]);
  });

  it('resumes a migration that stopped half-way, from the journal', async () => {
    const names = { eventsTable: 'half', archiveTable: 'half_done' };
    const [init] = bundledMigrations(names);
    // As if a process died after the first statement: table created, journal says 1 of n.
    await t.admin.query(init!.statements[0]!);
    await t.admin.query(
      'INSERT INTO bus_migrations (scope, tag, hash, statements_applied, statements_total) VALUES (?, ?, ?, 1, ?)',
      ['half/half_done', init!.tag, init!.hash, init!.statements.length],
    );
    expect((await migrate(t.db, names)).applied).toEqual(TAGS);
    expect(Object.keys((await describeTable('half')).indexes).sort()).toEqual([
      'PRIMARY',
      'claim_idx',
      'key_idx',
      'locked_until_idx',
    ]);
  });

  async function migrateError(names: { eventsTable: string; archiveTable: string }) {
    const error = await migrate(t.db, names).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!isBusError(error, 'MIGRATION_FAILED'))
      throw new Error(`expected MIGRATION_FAILED, got ${String(error)}`);
    expect(error.message).not.toContain('Failed query');
    expect(error.message).not.toContain('\n');
    return error;
  }

  it('adopts complete tables that drizzle-kit created, and records them in its journal', async () => {
    const names = { eventsTable: 'kit', archiveTable: 'kit_done' };
    // What drizzle-kit migrate runs for a schema with these tables: the committed SQL.
    for (const migration of bundledMigrations(names)) {
      for (const statement of migration.statements) await t.admin.query(statement);
    }
    expect(await migrate(t.db, names)).toEqual({ applied: [], adopted: TAGS });
    expect(await migrate(t.db, names)).toEqual({ applied: [], adopted: [] });
  });

  it('refuses tables that exist only in part, naming what is missing', async () => {
    const names = { eventsTable: 'part', archiveTable: 'part_done' };
    await t.admin.query('CREATE TABLE part (id bigint PRIMARY KEY)');
    const error = await migrateError(names);
    expect(error.message).toContain('column part.queue');
    expect(error.message).toContain('table part_done');
    expect(error.message).toContain('drizzle-kit');
  });

  it("a statement that fails is a BusError with the server's own reason", async () => {
    const names = { eventsTable: 'clash', archiveTable: 'clash_done' };
    // A view holds the archive's name: the hot table is created, then the archive's CREATE fails.
    await t.admin.query('CREATE VIEW clash_done AS SELECT 1 AS x');
    const error = await migrateError(names);
    expect(error.message).toMatch(/migration 0000_init \(statement \d+ of \d+\) failed: .*clash_done/);
  });

  it('upgrades tables made by an earlier version from where its journal stopped (0000_init only)', async () => {
    const names = { eventsTable: 'old', archiveTable: 'old_done' };
    const [init] = bundledMigrations(names);
    for (const statement of init!.statements) await t.admin.query(statement);
    await t.admin.query(
      'INSERT INTO bus_migrations (scope, tag, hash, statements_applied, statements_total, applied_at) VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6))',
      ['old/old_done', init!.tag, init!.hash, init!.statements.length, init!.statements.length],
    );
    // A queue name of the contract's full length fails on the old 100-character column.
    const long = 'q'.repeat(200);
    const before = await mysqlStore(t.db, names)
      .insert({ rows: [row({ queue: long })] })
      .catch((e: unknown) => e);
    expect(isBusError(before, 'STORE_FAILED'), String(before)).toBe(true);
    expect((await migrate(t.db, names)).applied).toEqual(TAGS.slice(1));
    const tables = createBusTables(names);
    expect(await describeTable('old')).toEqual(expectedTable(tables.events));
    const [id] = await mysqlStore(t.db, names).insert({ rows: [row({ queue: long })] });
    expect(id).toMatch(/^\d+$/);
  });

  it('upgrades tables of the previous release (0000_init and 0001_exact_names): adds trace_context, rows kept', async () => {
    const names = { eventsTable: 'prev', archiveTable: 'prev_done' };
    const previous = bundledMigrations(names).slice(0, 2);
    expect(previous.map((m) => m.tag)).toEqual(['0000_init', '0001_exact_names']);
    for (const migration of previous) {
      for (const statement of migration.statements) await t.admin.query(statement);
      await t.admin.query(
        'INSERT INTO bus_migrations (scope, tag, hash, statements_applied, statements_total, applied_at) VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6))',
        [
          'prev/prev_done',
          migration.tag,
          migration.hash,
          migration.statements.length,
          migration.statements.length,
        ],
      );
    }
    // A row the previous version published, before the column existed.
    await t.admin.query(
      "INSERT INTO prev (queue, event_name, handler_name, payload, max_retries, scheduled_at) VALUES ('q', 'old.event', 'old.handler', X'90', 0, UTC_TIMESTAMP(6))",
    );
    const store = mysqlStore(t.db, names);
    // A worker of this version refuses to start on the old tables, naming the new column.
    const missing = await store.checkSchema().catch((e: unknown) => e);
    if (!isBusError(missing, 'SCHEMA_MISSING'))
      throw new Error(`expected SCHEMA_MISSING, got ${String(missing)}`);
    expect(missing.value).toEqual([
      'column prev.trace_context',
      'column prev.snoozes',
      'column prev.partition_key',
      'index prev.key_idx',
      'column prev_done.trace_context',
      'column prev_done.partition_key',
      'index prev_done.status_idx',
      'table prev_pauses',
      'table prev_workers',
      'table prev_keys',
      'table prev_schedules',
      'table prev_limits',
      'table prev_starts',
    ]);

    expect(await migrate(t.db, names)).toEqual({
      applied: ['0002_trace_context', '0003_job_control', '0004_unique_schedules', '0005_flow_control'],
      adopted: [],
    });
    await store.checkSchema();
    const tables = createBusTables(names);
    expect(await describeTable('prev')).toEqual(expectedTable(tables.events));
    expect(await describeTable('prev_done')).toEqual(expectedTable(tables.archive));
    // The old row has no trace context; a new one keeps its own through the archive.
    const [newId] = await store.insert({ rows: [row({ traceContext: '{"traceparent":"00-x"}' })] });
    const claimed = await store.claim({
      queue: 'q',
      limit: 10,
      workerId: 'w',
      leaseMs: 60_000,
      handlers: ['old.handler', 'test.handler'],
    });
    expect(claimed.map((r) => [r.eventName, r.traceContext])).toEqual([
      ['old.event', null],
      ['test.event', '{"traceparent":"00-x"}'],
    ]);
    await store.settle({
      workerId: 'w',
      outcomes: claimed.map((r) => ({ kind: 'completed' as const, id: r.id, attempt: 1, archive: true })),
    });
    expect((await archived(store)).map((r) => [r.id === newId, r.traceContext])).toEqual([
      [false, null],
      [true, '{"traceparent":"00-x"}'],
    ]);
  });

  it('upgrades tables of the previous release (0000 to 0002): job-control tables and columns, rows kept', async () => {
    const names = { eventsTable: 'rel', archiveTable: 'rel_done' };
    for (const migration of bundledMigrations(names).slice(0, 3)) {
      for (const statement of migration.statements) await t.admin.query(statement);
      await t.admin.query(
        'INSERT INTO bus_migrations (scope, tag, hash, statements_applied, statements_total, applied_at) VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6))',
        [
          'rel/rel_done',
          migration.tag,
          migration.hash,
          migration.statements.length,
          migration.statements.length,
        ],
      );
    }
    // A live row and a failed archive row of the previous version.
    await t.admin.query(
      "INSERT INTO rel (queue, event_name, handler_name, payload, max_retries, scheduled_at) VALUES ('q', 'old.event', 'old.handler', X'90', 0, UTC_TIMESTAMP(6))",
    );
    await t.admin.query(
      "INSERT INTO rel_done (id, queue, event_name, handler_name, payload, attempts, max_retries, priority, status, last_error, created_at) VALUES (99, 'q', 'old.event', 'old.handler', X'90', 1, 0, 0, 'failed', 'boom', UTC_TIMESTAMP(6))",
    );
    const store = mysqlStore(t.db, names);
    const missing = await store.checkSchema().catch((e: unknown) => e);
    if (!isBusError(missing, 'SCHEMA_MISSING'))
      throw new Error(`expected SCHEMA_MISSING, got ${String(missing)}`);
    expect(missing.value).toEqual([
      'column rel.snoozes',
      'column rel.partition_key',
      'index rel.key_idx',
      'column rel_done.partition_key',
      'index rel_done.status_idx',
      'table rel_pauses',
      'table rel_workers',
      'table rel_keys',
      'table rel_schedules',
      'table rel_limits',
      'table rel_starts',
    ]);

    expect(await migrate(t.db, names)).toEqual({
      applied: ['0003_job_control', '0004_unique_schedules', '0005_flow_control'],
      adopted: [],
    });
    await store.checkSchema();
    const tables = createBusTables(names);
    expect(await describeTable('rel')).toEqual(expectedTable(tables.events));
    expect(await describeTable('rel_pauses')).toEqual(expectedTable(tables.pauses));
    expect((await store.inspect.listEvents({ limit: 10 })).map((r) => [r.eventName, r.snoozes])).toEqual([
      ['old.event', 0],
    ]);
    // The old failed row can be redriven, and a row can now be archived as cancelled.
    expect(await store.admin.redrive({ ids: ['99'], statuses: ['failed'], limit: 10 })).toEqual(['99']);
    const cancelled = await store.admin.cancel({ ids: ['99'], limit: 10, archive: true, reason: 'no' });
    expect(cancelled).toEqual(['99']);
    expect((await archived(store)).map((r) => [r.id, r.status, r.lastError])).toEqual([
      ['99', 'cancelled', 'no'],
    ]);
  });

  it('upgrades tables of the previous release (0000 to 0004): flow-control tables and columns, rows kept', async () => {
    const names = { eventsTable: 'uq', archiveTable: 'uq_done' };
    const previous = bundledMigrations(names).slice(0, 5);
    expect(previous.at(-1)!.tag).toBe('0004_unique_schedules');
    for (const migration of previous) {
      for (const statement of migration.statements) await t.admin.query(statement);
      await t.admin.query(
        'INSERT INTO bus_migrations (scope, tag, hash, statements_applied, statements_total, applied_at) VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6))',
        [
          'uq/uq_done',
          migration.tag,
          migration.hash,
          migration.statements.length,
          migration.statements.length,
        ],
      );
    }
    // A live row and an archived row of the previous version.
    await t.admin.query(
      "INSERT INTO uq (queue, event_name, handler_name, payload, max_retries, scheduled_at) VALUES ('q', 'old.event', 'old.handler', X'90', 0, UTC_TIMESTAMP(6))",
    );
    await t.admin.query(
      "INSERT INTO uq_done (id, queue, event_name, handler_name, payload, attempts, max_retries, priority, status, last_error, created_at) VALUES (99, 'q', 'old.event', 'old.handler', X'90', 1, 0, 0, 'failed', 'boom', UTC_TIMESTAMP(6))",
    );
    const store = mysqlStore(t.db, names);
    const missing = await store.checkSchema().catch((e: unknown) => e);
    if (!isBusError(missing, 'SCHEMA_MISSING'))
      throw new Error(`expected SCHEMA_MISSING, got ${String(missing)}`);
    expect(missing.value).toEqual([
      'column uq.partition_key',
      'index uq.key_idx',
      'column uq_done.partition_key',
      'table uq_limits',
      'table uq_starts',
    ]);
    expect(await migrate(t.db, names)).toEqual({ applied: ['0005_flow_control'], adopted: [] });
    await store.checkSchema();
    const tables = createBusTables(names);
    expect(await describeTable('uq')).toEqual(expectedTable(tables.events));
    expect(await describeTable('uq_done')).toEqual(expectedTable(tables.archive));
    expect(await describeTable('uq_limits')).toEqual(expectedTable(tables.limits));
    expect(await describeTable('uq_starts')).toEqual(expectedTable(tables.starts));
    // The old rows have no partition key, and the redriven one comes back without one.
    expect((await store.inspect.listEvents({ limit: 10 })).map((r) => r.partitionKey)).toEqual([null]);
    expect(await store.admin.redrive({ ids: ['99'], statuses: ['failed'], limit: 10 })).toEqual(['99']);
    expect((await store.inspect.listEvents({ limit: 10 })).map((r) => [r.id, r.partitionKey])).toEqual([
      [expect.any(String), null],
      ['99', null],
    ]);
    expect(
      await store.admin.setLimits({
        queue: 'q',
        limits: {
          concurrency: 1,
          keyConcurrency: null,
          rateLimit: null,
          ratePeriodMs: null,
          keyRateLimit: null,
          keyRatePeriodMs: null,
          fair: false,
        },
      }),
    ).toBe(true);
    const claimed = await store.claim({
      queue: 'q',
      limit: 10,
      workerId: 'w',
      leaseMs: 60_000,
      handlers: ['old.handler'],
      limited: true,
    });
    expect(claimed).toHaveLength(1);
  });

  it("refuses drizzle-kit's tables of the previous release (no trace_context), naming the columns", async () => {
    const names = { eventsTable: 'kit_old', archiveTable: 'kit_old_done' };
    // A drizzle-kit user who has not generated the new migration yet: adopting would hide it.
    for (const migration of bundledMigrations(names).slice(0, 2)) {
      for (const statement of migration.statements) await t.admin.query(statement);
    }
    const error = await migrateError(names);
    expect(error.value).toEqual([
      'column kit_old.trace_context',
      'column kit_old.snoozes',
      'column kit_old.partition_key',
      'index kit_old.key_idx',
      'column kit_old_done.trace_context',
      'column kit_old_done.partition_key',
      'index kit_old_done.status_idx',
      'table kit_old_pauses',
      'table kit_old_workers',
      'table kit_old_keys',
      'table kit_old_schedules',
      'table kit_old_limits',
      'table kit_old_starts',
    ]);
    expect(error.message).toContain('drizzle-kit generate');
  });

  it('refuses options it no longer takes, naming why', async () => {
    const error = await migrate(t.db, { migrationsFolder: '/x' } as never).catch((e: unknown) => e);
    expect(isBusError(error, 'INVALID_CONFIG'), String(error)).toBe(true);
    expect(String(error)).toContain('bundled');
  });

  it('needs a connection with a default database', async () => {
    const { db } = t.open({ uri: t.url.replace(`/${t.name}`, '') });
    const error = await migrate(db).catch((e: unknown) => e);
    expect(String(error)).toContain('default database');
  });
});
