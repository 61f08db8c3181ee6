import { describe, expect, it } from 'vitest';
import {
  missingFromSchema,
  planMigrations,
  renameTables,
  resolveTableNames,
  schemaMissingError,
  storeFailure,
} from '../src/driver.js';
import { BusError, isBusError } from '../src/errors.js';

const migrations = [
  { tag: '0000_a', hash: 'h0', statements: ['CREATE TABLE "bus_events" (…)'] },
  { tag: '0001_b', hash: 'h1', statements: ['CREATE INDEX "bus_events_claim_idx" ON "bus_events" (…)'] },
];

describe('helpers both drivers share (bus-core/driver)', () => {
  it('resolves table names the same way for every driver: null and undefined mean the defaults', () => {
    const defaults = {
      eventsTable: 'bus_events',
      archiveTable: 'bus_events_archive',
      pausesTable: 'bus_events_pauses',
      workersTable: 'bus_events_workers',
      keysTable: 'bus_events_keys',
      schedulesTable: 'bus_events_schedules',
      limitsTable: 'bus_events_limits',
      startsTable: 'bus_events_starts',
    };
    expect(resolveTableNames()).toEqual(defaults);
    expect(resolveTableNames(null)).toEqual(defaults);
    expect(resolveTableNames({ eventsTable: null as never })).toEqual(defaults);
    expect(resolveTableNames({ eventsTable: 'jobs' })).toEqual({
      eventsTable: 'jobs',
      archiveTable: 'bus_events_archive',
      pausesTable: 'jobs_pauses',
      workersTable: 'jobs_workers',
      keysTable: 'jobs_keys',
      schedulesTable: 'jobs_schedules',
      limitsTable: 'jobs_limits',
      startsTable: 'jobs_starts',
    });
    expect(resolveTableNames({ pausesTable: 'held', workersTable: 'procs' })).toMatchObject({
      pausesTable: 'held',
      workersTable: 'procs',
    });
    for (const bad of [
      { eventsTable: 'a-b' },
      { archiveTable: 'x; drop' },
      { eventsTable: 'T', archiveTable: 't' },
      { pausesTable: 'bus_events' },
      { workersTable: 'p', pausesTable: 'P' },
      { pausesTable: 'x y' },
    ]) {
      expect(() => resolveTableNames(bad), JSON.stringify(bad)).toThrow(/INVALID_IDENTIFIER/);
    }
    expect(() => resolveTableNames('bus' as never)).toThrow(/INVALID_CONFIG/);
  });

  it('plans migrations: run what is not recorded, adopt complete foreign tables, refuse partial ones', () => {
    const none = { missing: [], exists: false };
    expect(planMigrations({ migrations, recorded: new Set(), schema: none, driver: 'd' })).toEqual({
      kind: 'apply',
      migrations,
    });
    expect(planMigrations({ migrations, recorded: new Set(['0000_a']), schema: none, driver: 'd' })).toEqual({
      kind: 'apply',
      migrations: [migrations[1]],
    });
    expect(
      planMigrations({ migrations, recorded: new Set(), schema: { missing: [], exists: true }, driver: 'd' })
        .kind,
    ).toBe('adopt');
    expect(() =>
      planMigrations({
        migrations,
        recorded: new Set(),
        schema: { missing: ['index bus_events.claim_idx'], exists: true },
        driver: 'bus-x',
      }),
    ).toThrow(/MIGRATION_FAILED.*claim_idx.*bus-x\/schema/);
  });

  it('renames the default tables and their derived index names, refusing names over the limit', () => {
    const names = { eventsTable: 'jobs', archiveTable: 'jobs_done' };
    expect(renameTables(migrations[1]!.statements[0]!, names, '"')).toBe(
      'CREATE INDEX "jobs_claim_idx" ON "jobs" (…)',
    );
    expect(renameTables('INSERT INTO `bus_events_archive`', names, '`')).toBe('INSERT INTO `jobs_done`');
    expect(() =>
      renameTables('"bus_events_claim_idx"', { ...names, eventsTable: 'j'.repeat(60) }, '"'),
    ).toThrow(/INVALID_IDENTIFIER/);
  });

  it('diffs a schema without case and names what is missing', () => {
    const expected = [{ table: 'bus_events', columns: ['id', 'queue'], indexes: ['claim_idx'] }];
    expect(missingFromSchema(expected, [])).toEqual({ missing: ['table bus_events'], exists: false });
    expect(
      missingFromSchema(expected, [
        { kind: 'table', name: 'BUS_EVENTS' },
        { kind: 'column', name: 'bus_events.ID' },
      ]),
    ).toEqual({ missing: ['column bus_events.queue', 'index bus_events.claim_idx'], exists: true });
    const error = schemaMissingError(['table bus_events'], 'bus-postgres', 'docs/postgres.md');
    expect(isBusError(error, 'SCHEMA_MISSING')).toBe(true);
    expect(error.message).toMatch(/migrate\(db\)` from bus-postgres/);
  });

  it('wraps driver errors in one line, conflicts as STORE_CONFLICT, BusErrors unchanged', () => {
    const drizzle = Object.assign(new Error('Failed query: INSERT …\nparams: [huge]'), {
      query: 'INSERT …',
      params: [],
      cause: Object.assign(new Error('deadlock detected\nDETAIL: …'), { code: '40P01' }),
    });
    const conflict = storeFailure('settle', drizzle, { driver: 'postgres', code: '40P01', conflict: true });
    expect(conflict.code).toBe('STORE_CONFLICT');
    expect(conflict.message).toBe('[STORE_CONFLICT] postgres settle failed: deadlock detected (40P01)');
    expect(conflict.cause).toBe(drizzle.cause);
    expect(storeFailure('claim', new Error('boom'), { driver: 'mysql', conflict: false }).code).toBe(
      'STORE_FAILED',
    );
    const own = new BusError('PUBLISH_FAILED', 'too big');
    expect(storeFailure('insert', own, { driver: 'mysql', conflict: false })).toBe(own);
  });
});
