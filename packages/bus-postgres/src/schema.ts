import { type BusTableNames, resolveTableNames } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import { bigint, customType, index, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** The identifier check, table-name defaults and rules every driver shares (from `bus-core/driver`). */
export {
  assertIdentifier,
  type BusTableNames,
  DEFAULT_ARCHIVE_TABLE,
  DEFAULT_EVENTS_TABLE,
  resolveTableNames,
} from 'bus-core/driver';

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
      // The publisher's OpenTelemetry context, as the core wrote it (last: ALTER TABLE appends it).
      traceContext: text('trace_context'),
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
      traceContext: text('trace_context'),
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
