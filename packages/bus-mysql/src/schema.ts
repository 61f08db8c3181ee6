import { BusError } from 'bus-core';
import { sql } from 'drizzle-orm';
import {
  bigint,
  customType,
  datetime,
  index,
  int,
  json,
  mysqlEnum,
  mysqlTable,
} from 'drizzle-orm/mysql-core';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,63}$/i;

/**
 * Throws `INVALID_IDENTIFIER` unless `name` is a plain SQL identifier (letters, digits and `_`,
 * not starting with a digit, at most 64 characters), so a table name can never inject SQL.
 *
 * @example
 * assertIdentifier('bus_events', 'eventsTable');
 */
export function assertIdentifier(name: unknown, what: string): asserts name is string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name)) {
    throw new BusError(
      'INVALID_IDENTIFIER',
      `${what} must match /^[a-z_][a-z0-9_]{0,63}$/i (got ${JSON.stringify(name)})`,
      { value: name },
    );
  }
}

/** msgpack bytes in a `longblob` (drizzle-orm 0.45 has no blob column). */
export const longblob = customType<{ data: Uint8Array; driverData: Buffer }>({
  dataType() {
    return 'longblob';
  },
  toDriver(value) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  },
  fromDriver(value) {
    return new Uint8Array(value);
  },
});

// Queue, event and handler names are ASCII by bus-core's rules; a binary collation makes `queue = ?`
// exact and case-sensitive, like the JavaScript that wrote them, and keeps the claim index small.
const asciiName = customType<{ data: string; config: { length: number } }>({
  dataType(config) {
    return `varchar(${config?.length ?? 200}) CHARACTER SET ascii COLLATE ascii_bin`;
  },
});

// Worker ids are any string: utf8mb4 with a binary collation, so fencing on them is exact.
const utf8Name = customType<{ data: string; config: { length: number } }>({
  dataType(config) {
    return `varchar(${config?.length ?? 200}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`;
  },
});

// Error text may hold any character, whatever the database's default character set is.
const utf8Text = customType<{ data: string }>({
  dataType() {
    return 'text CHARACTER SET utf8mb4 COLLATE utf8mb4_bin';
  },
});

// All times are UTC, written from the database clock (`UTC_TIMESTAMP(6)`), so they are right
// whatever the server's or the session's time zone; drizzle's `mode: 'date'` reads them as UTC.
const utcNow = sql`(UTC_TIMESTAMP(6))`;

/** Names of the two tables. */
export interface BusTableNames {
  /** The hot table of live rows (default `bus_events`). */
  eventsTable?: string;
  /** Finished rows (default `bus_events_archive`). */
  archiveTable?: string;
}

function eventsTable(name: string) {
  return mysqlTable(
    name,
    {
      id: bigint('id', { mode: 'bigint', unsigned: true }).autoincrement().primaryKey(),
      queue: asciiName('queue', { length: 100 }).notNull(),
      eventName: asciiName('event_name', { length: 200 }).notNull(),
      handlerName: asciiName('handler_name', { length: 200 }).notNull(),
      payload: longblob('payload').notNull(),
      payloadJson: json('payload_json'),
      attempts: int('attempts').notNull().default(0),
      maxRetries: int('max_retries').notNull(),
      priority: int('priority').notNull().default(0),
      scheduledAt: datetime('scheduled_at', { mode: 'date', fsp: 6 }).notNull(),
      lockedUntil: datetime('locked_until', { mode: 'date', fsp: 6 }),
      lockedBy: utf8Name('locked_by', { length: 200 }),
      lastError: utf8Text('last_error'),
      createdAt: datetime('created_at', { mode: 'date', fsp: 6 }).notNull().default(utcNow),
    },
    (t) => [
      // The claim reads `queue = ? AND locked_until IS NULL AND scheduled_at <= now` in
      // (priority, scheduled_at, id) order. With locked_until second, leased rows sit in another
      // part of the index, so the claim walks available rows only (MySQL has no partial index);
      // the rescuer clears expired leases back to NULL.
      index('claim_idx').on(t.queue, t.lockedUntil, t.priority, t.scheduledAt, t.id),
      // The rescuer's `locked_until < now` scan.
      index('locked_until_idx').on(t.lockedUntil),
    ],
  );
}

function archiveTable(name: string) {
  return mysqlTable(
    name,
    {
      id: bigint('id', { mode: 'bigint', unsigned: true }).primaryKey(),
      queue: asciiName('queue', { length: 100 }).notNull(),
      eventName: asciiName('event_name', { length: 200 }).notNull(),
      handlerName: asciiName('handler_name', { length: 200 }).notNull(),
      payload: longblob('payload').notNull(),
      payloadJson: json('payload_json'),
      attempts: int('attempts').notNull(),
      maxRetries: int('max_retries').notNull(),
      priority: int('priority').notNull(),
      status: mysqlEnum('status', ['completed', 'failed']).notNull(),
      lastError: utf8Text('last_error'),
      createdAt: datetime('created_at', { mode: 'date', fsp: 6 }).notNull(),
      finishedAt: datetime('finished_at', { mode: 'date', fsp: 6 }).notNull().default(utcNow),
    },
    (t) => [
      // prune's `finished_at < cutoff` scan.
      index('finished_at_idx').on(t.finishedAt),
      // Per-queue counts and listings.
      index('queue_status_idx').on(t.queue, t.status),
    ],
  );
}

/** The live-events table type. */
export type BusEventsTable = ReturnType<typeof eventsTable>;
/** The archive table type. */
export type BusEventsArchiveTable = ReturnType<typeof archiveTable>;

/** The two tables of a bus. */
export interface BusTables {
  events: BusEventsTable;
  archive: BusEventsArchiveTable;
}

/** Default name of the live-events table. */
export const DEFAULT_EVENTS_TABLE = 'bus_events';
/** Default name of the archive table. */
export const DEFAULT_ARCHIVE_TABLE = 'bus_events_archive';

/**
 * Resolves and validates table names (defaults `bus_events` / `bus_events_archive`); throws
 * `INVALID_IDENTIFIER` on a name that is not a plain SQL identifier.
 *
 * @example
 * resolveTableNames({ eventsTable: 'jobs' }); // { eventsTable: 'jobs', archiveTable: 'bus_events_archive' }
 */
export function resolveTableNames(names: BusTableNames = {}): Required<BusTableNames> {
  // Only `undefined` means "the default": an explicit null or '' is a mistake worth an error.
  const eventsTable = names.eventsTable === undefined ? DEFAULT_EVENTS_TABLE : names.eventsTable;
  const archiveTable = names.archiveTable === undefined ? DEFAULT_ARCHIVE_TABLE : names.archiveTable;
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

/**
 * Builds the Drizzle tables of a bus under custom names, for your own drizzle-kit schema.
 *
 * @example
 * // drizzle/schema.ts of your app
 * export const { events: jobs, archive: jobsArchive } = createBusTables({ eventsTable: 'jobs', archiveTable: 'jobs_archive' });
 */
export function createBusTables(names: BusTableNames = {}): BusTables {
  const resolved = resolveTableNames(names);
  return { events: eventsTable(resolved.eventsTable), archive: archiveTable(resolved.archiveTable) };
}

const defaults = createBusTables();

/** The default live-events table, `bus_events`. */
export const busEvents: BusEventsTable = defaults.events;
/** The default archive table, `bus_events_archive`. */
export const busEventsArchive: BusEventsArchiveTable = defaults.archive;
