import { type BusTableNames, resolveTableNames } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  customType,
  datetime,
  index,
  int,
  json,
  mysqlEnum,
  mysqlTable,
  primaryKey,
} from 'drizzle-orm/mysql-core';

// The helpers users import from here today, now shared by both drivers (bus-core/driver).
export {
  assertIdentifier,
  type BusTableNames,
  DEFAULT_ARCHIVE_TABLE,
  DEFAULT_EVENTS_TABLE,
  resolveTableNames,
} from 'bus-core/driver';

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

// Queue names are compared by the store (claims, listings, counts), so they are bytes: a binary
// string compares exactly, case, leading and trailing spaces included (the PAD SPACE collations of
// MySQL and MariaDB ignore trailing spaces, the _ci ones case), and holds any text. 600 bytes is
// the UTF-8 of the longest name the core passes (CONTRACT_LIMITS.maxNameLength UTF-16 units).
const binaryName = customType<{ data: string; driverData: Buffer | string; config: { length: number } }>({
  dataType(config) {
    return `varbinary(${config?.length ?? 600})`;
  },
  fromDriver(value) {
    return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  },
});

// Event, handler and worker names are any text: utf8mb4 with a binary collation, whatever the
// database's default character set; the fence compares worker ids exactly in JavaScript too.
const utf8Name = customType<{ data: string; config: { length: number } }>({
  dataType(config) {
    return `varchar(${config?.length ?? 200}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`;
  },
});

// Error text and trace contexts may hold any character, whatever the database's default
// character set is (a trace context of 1000 UTF-16 units is at most 3000 bytes: text holds 65535).
const utf8Text = customType<{ data: string }>({
  dataType() {
    return 'text CHARACTER SET utf8mb4 COLLATE utf8mb4_bin';
  },
});

// All times are UTC, written from the database clock (`UTC_TIMESTAMP(6)`), so they are right
// whatever the server's or the session's time zone; drizzle's `mode: 'date'` reads them as UTC.
const utcNow = sql`(UTC_TIMESTAMP(6))`;

function eventsTable(name: string) {
  return mysqlTable(
    name,
    {
      id: bigint('id', { mode: 'bigint', unsigned: true }).autoincrement().primaryKey(),
      queue: binaryName('queue', { length: 600 }).notNull(),
      eventName: utf8Name('event_name', { length: 200 }).notNull(),
      handlerName: utf8Name('handler_name', { length: 200 }).notNull(),
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
      // The publisher's OpenTelemetry context, as the core wrote it (last: ALTER TABLE appends it).
      traceContext: utf8Text('trace_context'),
      // Times the handler put the row off (`snooze`) since it was published or redriven: counted
      // apart from attempts, so the core can bound snoozing without using the row's retries.
      snoozes: int('snoozes').notNull().default(0),
      // The row's flow-control key (docs/flow-control.md), or NULL. Bytes, like the queue: the
      // limited claim compares, groups and orders keys, and utf8mb4_bin is PAD SPACE (`a` and
      // `a ` would be one key). 765 bytes hold the UTF-8 of CONTRACT_LIMITS.maxPartitionKeyChars.
      partitionKey: binaryName('partition_key', { length: 765 }),
    },
    (t) => [
      // The claim reads `queue = ? AND locked_until IS NULL AND scheduled_at <= now` in
      // (priority, scheduled_at, id) order. With locked_until second, leased rows sit in another
      // part of the index, so the claim walks available rows only (MySQL has no partial index);
      // a retry (from settle or rescue) or a release sets locked_until back to NULL.
      index('claim_idx').on(t.queue, t.lockedUntil, t.priority, t.scheduledAt, t.id),
      // listExpired's `locked_until < now` scan, oldest lease end first.
      index('locked_until_idx').on(t.lockedUntil),
      // The limited claim's key reads: one queue's keys in order with their unleased rows first
      // (locked_until NULL sorts first), then each key's rows in (due time, id) order. Rows
      // without a key are in it too (MySQL has no partial index): one entry per row, kept at the
      // NULL end of their queue, which the key reads never walk.
      index('key_idx').on(t.queue, t.partitionKey, t.lockedUntil, t.scheduledAt, t.id),
    ],
  );
}

function archiveTable(name: string) {
  return mysqlTable(
    name,
    {
      id: bigint('id', { mode: 'bigint', unsigned: true }).primaryKey(),
      queue: binaryName('queue', { length: 600 }).notNull(),
      eventName: utf8Name('event_name', { length: 200 }).notNull(),
      handlerName: utf8Name('handler_name', { length: 200 }).notNull(),
      payload: longblob('payload').notNull(),
      payloadJson: json('payload_json'),
      attempts: int('attempts').notNull(),
      maxRetries: int('max_retries').notNull(),
      priority: int('priority').notNull(),
      // New values go last: MySQL and MariaDB append an enum value in place, without a table rebuild.
      status: mysqlEnum('status', ['completed', 'failed', 'cancelled']).notNull(),
      lastError: utf8Text('last_error'),
      createdAt: datetime('created_at', { mode: 'date', fsp: 6 }).notNull(),
      finishedAt: datetime('finished_at', { mode: 'date', fsp: 6 }).notNull().default(utcNow),
      traceContext: utf8Text('trace_context'),
      // Copied from the live row, and back by redrive.
      partitionKey: binaryName('partition_key', { length: 765 }),
    },
    (t) => [
      // prune's `finished_at < cutoff` scan.
      index('finished_at_idx').on(t.finishedAt),
      // Per-queue counts and listings.
      index('queue_status_idx').on(t.queue, t.status),
      // Redrive and the failure lists over every queue (`status IN (…) ORDER BY id`): InnoDB
      // appends the primary key, so each status is in id order. MySQL has no partial index, so
      // archived completed rows are in it too (appended at the end of their range: cheap).
      index('status_idx').on(t.status),
    ],
  );
}

// Pause and worker keys are bytes (varbinary), not the hot table's utf8mb4_bin: that collation is
// PAD SPACE, so as primary keys `h` and `h ` would be one pause and `w` and `w ` one worker. 600
// bytes hold the UTF-8 of the longest name or worker id the core passes (200 UTF-16 units).

function pausesTable(name: string) {
  return mysqlTable(
    name,
    {
      queue: binaryName('queue', { length: 600 }).notNull(),
      // '' pauses the whole queue (a primary key column cannot be NULL); the store reads it back as null.
      handlerName: binaryName('handler_name', { length: 600 }).notNull().default(''),
      pausedAt: datetime('paused_at', { mode: 'date', fsp: 6 }).notNull().default(utcNow),
    },
    // Named without the table's name, so custom table names of any length fit MySQL's 64 characters.
    (t) => [primaryKey({ name: 'pauses_pk', columns: [t.queue, t.handlerName] })],
  );
}

function workersTable(name: string) {
  return mysqlTable(
    name,
    {
      workerId: binaryName('worker_id', { length: 600 }).notNull(),
      // The queues the process works, as a JSON array of names.
      queues: utf8Text('queues').notNull(),
      info: utf8Text('info').notNull(),
      startedAt: datetime('started_at', { mode: 'date', fsp: 6 }).notNull().default(utcNow),
      lastSeenAt: datetime('last_seen_at', { mode: 'date', fsp: 6 }).notNull().default(utcNow),
    },
    (t) => [
      primaryKey({ name: 'workers_pk', columns: [t.workerId] }),
      // listWorkers' `last_seen_at >= now - window` scan.
      index('last_seen_at_idx').on(t.lastSeenAt),
    ],
  );
}

function keysTable(name: string) {
  return mysqlTable(
    name,
    {
      handlerName: binaryName('handler_name', { length: 600 }).notNull(),
      // The key with its bucket folded in, as bytes (exact: no PAD SPACE); 800 bytes hold
      // CONTRACT_LIMITS.maxUniqueKeyChars in UTF-8 plus a bucket suffix.
      uniqueKey: binaryName('unique_key', { length: 800 }).notNull(),
      // The latest row that took the key: it holds it while it is in the hot table. MySQL has no
      // partial index, so live keys live here rather than in an index of the hot table, where
      // every row without a key would pay for a NULL entry.
      liveId: bigint('live_id', { mode: 'bigint', unsigned: true }).notNull(),
      // The row that holds it past its life (scope 'archive'), until expires_at; else NULL.
      heldId: bigint('held_id', { mode: 'bigint', unsigned: true }),
      expiresAt: datetime('expires_at', { mode: 'date', fsp: 6 }),
    },
    (t) => [
      primaryKey({ name: 'keys_pk', columns: [t.handlerName, t.uniqueKey] }),
      // Pruning deletes expired keys.
      index('expires_at_idx').on(t.expiresAt),
    ],
  );
}

function schedulesTable(name: string) {
  return mysqlTable(
    name,
    {
      name: binaryName('name', { length: 600 }).notNull(),
      signature: utf8Text('signature').notNull(),
      paused: boolean('paused').notNull().default(false),
      anchorAt: datetime('anchor_at', { mode: 'date', fsp: 6 }).notNull().default(utcNow),
      lastTickAt: datetime('last_tick_at', { mode: 'date', fsp: 6 }),
      nextTickAt: datetime('next_tick_at', { mode: 'date', fsp: 6 }),
    },
    (t) => [primaryKey({ name: 'schedules_pk', columns: [t.name] })],
  );
}

function limitsTable(name: string) {
  return mysqlTable(
    name,
    {
      queue: binaryName('queue', { length: 600 }).notNull(),
      // NULL: no such limit (StoredLimits); the core validates every number first.
      concurrency: int('concurrency'),
      keyConcurrency: int('key_concurrency'),
      rateLimit: int('rate_limit'),
      ratePeriodMs: int('rate_period_ms'),
      keyRateLimit: int('key_rate_limit'),
      keyRatePeriodMs: int('key_rate_period_ms'),
      fair: boolean('fair').notNull().default(false),
      // The key the next limited claim's round robin starts after (bytes, as partition_key).
      keyCursor: binaryName('key_cursor', { length: 765 }),
      // The queue configuration the limits came from (NULL: set by an operator, or never), as
      // bytes: compared exactly, with no PAD SPACE.
      signature: binaryName('signature', { length: 600 }),
      updatedAt: datetime('updated_at', { mode: 'date', fsp: 6 }).notNull().default(utcNow),
    },
    (t) => [primaryKey({ name: 'limits_pk', columns: [t.queue] })],
  );
}

function startsTable(name: string) {
  return mysqlTable(
    name,
    {
      // InnoDB wants a primary key; nothing reads by it.
      id: bigint('id', { mode: 'bigint', unsigned: true }).autoincrement().primaryKey(),
      queue: binaryName('queue', { length: 600 }).notNull(),
      partitionKey: binaryName('partition_key', { length: 765 }),
      startedAt: datetime('started_at', { mode: 'date', fsp: 6 }).notNull().default(utcNow),
      // Rows of this key that one limited claim started.
      n: int('n').notNull(),
    },
    // The rate window's `queue = ? AND started_at > now - window` read and the clean-up of
    // older starts.
    (t) => [index('queue_started_idx').on(t.queue, t.startedAt)],
  );
}

/** The live-events table type. */
export type BusEventsTable = ReturnType<typeof eventsTable>;
/** The archive table type. */
export type BusEventsArchiveTable = ReturnType<typeof archiveTable>;
/** The paused queues and handlers table type. */
export type BusEventsPausesTable = ReturnType<typeof pausesTable>;
/** The worker heartbeats table type. */
export type BusEventsWorkersTable = ReturnType<typeof workersTable>;
/** The unique keys table type. */
export type BusEventsKeysTable = ReturnType<typeof keysTable>;
/** The schedules table type. */
export type BusEventsSchedulesTable = ReturnType<typeof schedulesTable>;
/** The flow-control limits table type. */
export type BusEventsLimitsTable = ReturnType<typeof limitsTable>;
/** The recent starts table type. */
export type BusEventsStartsTable = ReturnType<typeof startsTable>;

/** The tables of a bus. */
export interface BusTables {
  events: BusEventsTable;
  archive: BusEventsArchiveTable;
  /** Paused queues and handlers (`bus.admin.pause`), read by every worker process. */
  pauses: BusEventsPausesTable;
  /** Worker process heartbeats, for the admin API's list of live workers. */
  workers: BusEventsWorkersTable;
  /** Unique keys held past their row's life (`publishUnique` with scope `archive`, schedule ticks). */
  keys: BusEventsKeysTable;
  /** Recurring schedules' state (paused, last and next tick). */
  schedules: BusEventsSchedulesTable;
  /** Flow-control limits per queue (`QueueConfig.limits`, `bus.admin.setLimits`), read by the limited claim. */
  limits: BusEventsLimitsTable;
  /** Starts the limited claim recorded, for its rate windows. */
  starts: BusEventsStartsTable;
}

/**
 * Builds the Drizzle tables of a bus under custom names, for your own drizzle-kit schema (export
 * all of them: the store needs each one).
 *
 * @example
 * // drizzle/schema.ts of your app
 * export const { events: jobs, archive: jobsArchive, pauses: jobsPauses, workers: jobsWorkers } =
 *   createBusTables({ eventsTable: 'jobs', archiveTable: 'jobs_archive' });
 */
export function createBusTables(names: BusTableNames | null = {}): BusTables {
  const resolved = resolveTableNames(names);
  return {
    events: eventsTable(resolved.eventsTable),
    archive: archiveTable(resolved.archiveTable),
    pauses: pausesTable(resolved.pausesTable),
    workers: workersTable(resolved.workersTable),
    keys: keysTable(resolved.keysTable),
    schedules: schedulesTable(resolved.schedulesTable),
    limits: limitsTable(resolved.limitsTable),
    starts: startsTable(resolved.startsTable),
  };
}

const defaults = createBusTables();

/** The default live-events table, `bus_events`. */
export const busEvents: BusEventsTable = defaults.events;
/** The default archive table, `bus_events_archive`. */
export const busEventsArchive: BusEventsArchiveTable = defaults.archive;
/** The default pauses table, `bus_events_pauses`. */
export const busEventsPauses: BusEventsPausesTable = defaults.pauses;
/** The default worker heartbeats table, `bus_events_workers`. */
export const busEventsWorkers: BusEventsWorkersTable = defaults.workers;
/** The default unique keys table, `bus_events_keys`. */
export const busEventsKeys: BusEventsKeysTable = defaults.keys;
/** The default schedules table, `bus_events_schedules`. */
export const busEventsSchedules: BusEventsSchedulesTable = defaults.schedules;
/** The default flow-control limits table, `bus_events_limits`. */
export const busEventsLimits: BusEventsLimitsTable = defaults.limits;
/** The default recent starts table, `bus_events_starts`. */
export const busEventsStarts: BusEventsStartsTable = defaults.starts;
