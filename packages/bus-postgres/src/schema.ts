import { BusError } from 'bus-core';
import { sql } from 'drizzle-orm';
import { bigint, customType, index, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** The pattern every table (and channel) name must match: a plain, unquoted SQL identifier. */
export const IDENTIFIER_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/i;

/**
 * Throws `INVALID_IDENTIFIER` unless `value` is a plain SQL identifier (letters, digits and `_`,
 * not starting with a digit, at most 63 characters), so it can be spliced into SQL safely.
 *
 * @example
 * assertIdentifier('bus_events', 'eventsTable'); // ok
 * assertIdentifier('x; drop table y', 'eventsTable'); // throws BusError INVALID_IDENTIFIER
 */
export function assertIdentifier(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || !IDENTIFIER_PATTERN.test(value)) {
    throw new BusError(
      'INVALID_IDENTIFIER',
      `${what} must be an SQL identifier matching ${IDENTIFIER_PATTERN} (got ${JSON.stringify(value)})`,
      { value },
    );
  }
}

/** `bytea` as a Drizzle column (drizzle-orm 0.45 has no built-in one); values are `Uint8Array`. */
export const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType() {
    return 'bytea';
  },
  fromDriver(value) {
    return value instanceof Uint8Array && value.constructor !== Uint8Array
      ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
      : value;
  },
});

/** Table names of one bus; both default to the names of the design (`bus_events`, `bus_events_archive`). */
export interface BusTableNames {
  /** The hot table of live rows (default `bus_events`). */
  eventsTable?: string;
  /** The archive of finished rows (default `bus_events_archive`). */
  archiveTable?: string;
}

/** Default name of the hot table. */
export const DEFAULT_EVENTS_TABLE = 'bus_events';
/** Default name of the archive table. */
export const DEFAULT_ARCHIVE_TABLE = 'bus_events_archive';

function eventsTableOf(name: string) {
  return pgTable(
    name,
    {
      id: bigint('id', { mode: 'bigint' }).primaryKey().generatedAlwaysAsIdentity(),
      queue: text('queue').notNull(),
      eventName: text('event_name').notNull(),
      handlerName: text('handler_name').notNull(),
      payload: bytea('payload').notNull(),
      payloadJson: jsonb('payload_json'),
      attempts: integer('attempts').notNull().default(0),
      maxRetries: integer('max_retries').notNull(),
      priority: integer('priority').notNull().default(0),
      scheduledAt: timestamp('scheduled_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
      lockedUntil: timestamp('locked_until', { withTimezone: true, mode: 'date' }),
      lockedBy: text('locked_by'),
      lastError: text('last_error'),
      createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    },
    (t) => [
      // The claim reads only available rows: leased rows are not in this index at all.
      index(`${name}_claim_idx`)
        .on(t.queue, t.priority, t.scheduledAt, t.id)
        .where(sql`locked_until IS NULL`),
      // The rescuer finds expired leases here.
      index(`${name}_lease_idx`)
        .on(t.lockedUntil)
        .where(sql`locked_until IS NOT NULL`),
    ],
  );
}

function archiveTableOf(name: string) {
  return pgTable(
    name,
    {
      id: bigint('id', { mode: 'bigint' }).primaryKey(),
      queue: text('queue').notNull(),
      eventName: text('event_name').notNull(),
      handlerName: text('handler_name').notNull(),
      payload: bytea('payload').notNull(),
      payloadJson: jsonb('payload_json'),
      attempts: integer('attempts').notNull(),
      maxRetries: integer('max_retries').notNull(),
      priority: integer('priority').notNull(),
      status: text('status', { enum: ['completed', 'failed'] }).notNull(),
      lastError: text('last_error'),
      createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
      finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    },
    // Pruning deletes by age.
    (t) => [index(`${name}_finished_idx`).on(t.finishedAt)],
  );
}

/** The hot table's Drizzle type. */
export type BusEventsTable = ReturnType<typeof eventsTableOf>;
/** The archive table's Drizzle type. */
export type BusEventsArchiveTable = ReturnType<typeof archiveTableOf>;

/** The two tables of one bus. */
export interface BusTables {
  events: BusEventsTable;
  archive: BusEventsArchiveTable;
  eventsTable: string;
  archiveTable: string;
}

/**
 * Builds the bus tables under custom names (validated as SQL identifiers), for a schema file that
 * drizzle-kit reads. Pass the same names to `postgresStore`.
 *
 * @example
 * // db/schema.ts
 * const { events, archive } = createBusTables({ eventsTable: 'jobs', archiveTable: 'jobs_archive' });
 * export { events as jobs, archive as jobsArchive };
 */
export function createBusTables(names: BusTableNames = {}): BusTables {
  const { eventsTable, archiveTable } = resolveTableNames(names);
  return {
    events: eventsTableOf(eventsTable),
    archive: archiveTableOf(archiveTable),
    eventsTable,
    archiveTable,
  };
}

/**
 * The table names with defaults applied and validated (identifiers, two different tables); throws
 * `INVALID_IDENTIFIER` otherwise.
 *
 * @example
 * resolveTableNames({ eventsTable: 'jobs' }); // { eventsTable: 'jobs', archiveTable: 'bus_events_archive' }
 */
export function resolveTableNames(names: BusTableNames = {}): Required<BusTableNames> {
  const eventsTable = names.eventsTable ?? DEFAULT_EVENTS_TABLE;
  const archiveTable = names.archiveTable ?? DEFAULT_ARCHIVE_TABLE;
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
  return { eventsTable, archiveTable };
}

const defaults = createBusTables();

/**
 * The hot table `bus_events`; re-export it from your Drizzle schema so drizzle-kit creates it.
 *
 * @example
 * export { busEvents, busEventsArchive } from 'bus-postgres/schema';
 */
export const busEvents: BusEventsTable = defaults.events;

/**
 * The archive table `bus_events_archive`; re-export it from your Drizzle schema with `busEvents`.
 *
 * @example
 * export { busEvents, busEventsArchive } from 'bus-postgres/schema';
 */
export const busEventsArchive: BusEventsArchiveTable = defaults.archive;
