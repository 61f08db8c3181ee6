import { BusError } from '../errors.js';

/** The table names a bus store works on; both drivers take these options. */
export interface BusTableNames {
  /** The hot table (default `bus_events`). */
  eventsTable?: string;
  /** The archive table (default `bus_events_archive`). */
  archiveTable?: string;
  /** Paused queues and handlers (default: the events table's name + `_pauses`, so `bus_events_pauses`). */
  pausesTable?: string;
  /** Worker process heartbeats (default: the events table's name + `_workers`, so `bus_events_workers`). */
  workersTable?: string;
  /** Unique keys held past their row (default: the events table's name + `_keys`). */
  keysTable?: string;
  /** Recurring schedules' state (default: the events table's name + `_schedules`). */
  schedulesTable?: string;
  /** Flow-control limits per queue (default: the events table's name + `_limits`). */
  limitsTable?: string;
  /** Recent starts of rate-limited queues (default: the events table's name + `_starts`). */
  startsTable?: string;
}

/** The hot table's default name, the same in every driver. */
export const DEFAULT_EVENTS_TABLE = 'bus_events';
/** The archive table's default name, the same in every driver. */
export const DEFAULT_ARCHIVE_TABLE = 'bus_events_archive';
/** The migration journal's default name, the same in every driver. */
export const DEFAULT_MIGRATIONS_TABLE = 'bus_migrations';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/i;

/**
 * Throws `INVALID_IDENTIFIER` unless `name` is a plain SQL identifier (a letter or `_`, then
 * letters, digits and `_`, at most 63 characters: PostgreSQL's limit, below MySQL's 64), so a
 * name can be quoted the same way in every database and never needs escaping.
 *
 * @example
 * assertIdentifier('bus_events', 'eventsTable');
 */
export function assertIdentifier(name: unknown, what: string): asserts name is string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name)) {
    throw new BusError(
      'INVALID_IDENTIFIER',
      `${what} must be a plain SQL identifier matching ${IDENTIFIER} (got ${JSON.stringify(name) ?? String(name)})`,
      { value: name },
    );
  }
}

/**
 * The table names with defaults applied and validated: identifiers, and two different tables.
 * `undefined` and `null` (for the options object or a name) mean the default.
 *
 * @example
 * resolveTableNames({ eventsTable: 'jobs' }); // { eventsTable: 'jobs', archiveTable: 'bus_events_archive' }
 */
export function resolveTableNames(names?: BusTableNames | null): Required<BusTableNames> {
  if (names !== undefined && names !== null && typeof names !== 'object') {
    throw new BusError('INVALID_CONFIG', `table names must be an object (got ${String(names)})`, {
      value: names,
    });
  }
  const eventsTable = names?.eventsTable ?? DEFAULT_EVENTS_TABLE;
  const archiveTable = names?.archiveTable ?? DEFAULT_ARCHIVE_TABLE;
  assertIdentifier(eventsTable, 'eventsTable');
  assertIdentifier(archiveTable, 'archiveTable');
  if (eventsTable.toLowerCase() === archiveTable.toLowerCase()) {
    throw new BusError(
      'INVALID_IDENTIFIER',
      `eventsTable and archiveTable must differ (both ${eventsTable})`,
      {
        value: archiveTable,
      },
    );
  }
  // The other tables are named after the events table unless set.
  const derived = (option: keyof BusTableNames, suffix: string): string => {
    const name = names?.[option] ?? `${eventsTable}_${suffix}`;
    assertIdentifier(name, `${option} (set it when eventsTable is too long to derive it)`);
    return name;
  };
  const resolved: Required<BusTableNames> = {
    eventsTable,
    archiveTable,
    pausesTable: derived('pausesTable', 'pauses'),
    workersTable: derived('workersTable', 'workers'),
    keysTable: derived('keysTable', 'keys'),
    schedulesTable: derived('schedulesTable', 'schedules'),
    limitsTable: derived('limitsTable', 'limits'),
    startsTable: derived('startsTable', 'starts'),
  };
  const all = Object.values(resolved).map((n) => n.toLowerCase());
  if (new Set(all).size !== all.length) {
    throw new BusError('INVALID_IDENTIFIER', `the bus table names must all differ (got ${all.join(', ')})`, {
      value: names,
    });
  }
  return resolved;
}
