import { BusError } from '../errors.js';

/** A migration bundled with a driver: drizzle-kit's SQL split into statements. */
export interface BundledMigration {
  tag: string;
  hash: string;
  statements: string[];
}

/** What `planMigrations` decided. */
export type MigrationPlan =
  /** Record every migration as applied without running it: complete tables another tool made. */
  | { kind: 'adopt'; migrations: BundledMigration[] }
  /** Run these, in order (possibly none). */
  | { kind: 'apply'; migrations: BundledMigration[] };

/**
 * The one rule of `migrate()` in every driver. With journal entries, run the migrations not yet
 * recorded. With none, the tables are new (run everything), or were made by drizzle-kit or by hand
 * from the driver's schema: complete ones are adopted, partial ones refused with
 * `MIGRATION_FAILED`, since running CREATE TABLE over them can only fail half way.
 *
 * @example
 * const plan = planMigrations({ migrations, recorded: new Set(), schema: { missing: [], exists: false }, driver: 'bus-postgres' });
 */
export function planMigrations(params: {
  migrations: readonly BundledMigration[];
  /** Tags the journal holds for these tables. */
  recorded: ReadonlySet<string>;
  /** What the schema check found (only read when `recorded` is empty). */
  schema: { missing: readonly string[]; exists: boolean };
  driver: string;
}): MigrationPlan {
  const { migrations, recorded, schema, driver } = params;
  if (recorded.size === 0 && schema.exists) {
    if (schema.missing.length === 0) return { kind: 'adopt', migrations: [...migrations] };
    throw new BusError(
      'MIGRATION_FAILED',
      `the bus tables exist but were not created by migrate() and lack ${schema.missing.join(', ')}: keep migrating them the way they were made (drizzle-kit generate and migrate with ${driver}/schema), or drop them and run migrate() again`,
      { value: [...schema.missing] },
    );
  }
  return { kind: 'apply', migrations: migrations.filter((m) => !recorded.has(m.tag)) };
}

/**
 * A bundled statement with the default table names (and the index names derived from them)
 * replaced by the configured ones. `quote` is the dialect's identifier quote (`"` or backquote).
 *
 * @example
 * renameTables('CREATE TABLE "bus_events" (…)', { eventsTable: 'jobs', archiveTable: 'jobs_archive' }, '"');
 */
export function renameTables(
  statement: string,
  names: {
    eventsTable: string;
    archiveTable: string;
    pausesTable?: string;
    workersTable?: string;
    keysTable?: string;
    schedulesTable?: string;
    limitsTable?: string;
    startsTable?: string;
  },
  quote: '"' | '`',
  maxIdentifierLength = 63,
): string {
  // The pauses and workers tables have names of their own (default: the events table's + suffix).
  const bases: Record<string, string> = {
    bus_events_archive: names.archiveTable,
    bus_events_pauses: names.pausesTable ?? `${names.eventsTable}_pauses`,
    bus_events_workers: names.workersTable ?? `${names.eventsTable}_workers`,
    bus_events_keys: names.keysTable ?? `${names.eventsTable}_keys`,
    bus_events_schedules: names.schedulesTable ?? `${names.eventsTable}_schedules`,
    bus_events_limits: names.limitsTable ?? `${names.eventsTable}_limits`,
    bus_events_starts: names.startsTable ?? `${names.eventsTable}_starts`,
    bus_events: names.eventsTable,
  };
  const pattern = new RegExp(
    `${quote}(bus_events_archive|bus_events_pauses|bus_events_workers|bus_events_keys|bus_events_schedules|bus_events_limits|bus_events_starts|bus_events)([a-z0-9_]*)${quote}`,
    'g',
  );
  return statement.replace(pattern, (_match, base: string, suffix: string) => {
    const name = bases[base] + suffix;
    if (name.length > maxIdentifierLength) {
      throw new BusError(
        'INVALID_IDENTIFIER',
        `table name too long: the derived name ${name} exceeds ${maxIdentifierLength} characters; choose a shorter table name`,
        { value: name },
      );
    }
    return `${quote}${name}${quote}`;
  });
}
