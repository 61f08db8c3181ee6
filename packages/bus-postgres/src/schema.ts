import { type BusTableNames, resolveTableNames } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

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
      // Times snoozed since published or redriven (the core bounds it with maxSnoozes).
      snoozes: integer('snoozes').notNull().default(0),
      // A unique publish's key (bucket folded in); NULL for every other row (docs/unique.md).
      uniqueKey: text('unique_key'),
      // The row's flow-control partition key; NULL when it has none (docs/flow-control.md).
      partitionKey: text('partition_key'),
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
      // One live row per handler and key; partial, so rows without a key never touch it.
      uniqueIndex(`${name}_unique_idx`)
        .on(t.handlerName, t.uniqueKey)
        .where(sql`unique_key IS NOT NULL`),
      // The limited claim's key scan (the next key after a key, one index probe each) and its
      // per-key read (a key's unleased rows in due order); rows without a key stay out of it.
      index(`${name}_key_idx`)
        .on(t.queue, t.partitionKey, t.scheduledAt, t.id)
        .where(sql`locked_until IS NULL AND partition_key IS NOT NULL`),
      // The limited claim counts a queue's leased rows per key here, reading leased rows only.
      index(`${name}_running_idx`)
        .on(t.queue, t.partitionKey)
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
      status: text('status', { enum: ['completed', 'failed', 'cancelled'] }).notNull(),
      lastError: text('last_error'),
      createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
      finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
      traceContext: text('trace_context'),
      // Copied from the live row; redrive puts it back.
      partitionKey: text('partition_key'),
    },
    (t) => [
      // Pruning deletes by age.
      index(`${name}_finished_idx`).on(t.finishedAt),
      // Redrive and the failure lists walk failed and cancelled rows in id order, of every queue
      // or of one; completed rows, most of the archive and its hot path, stay out of both.
      index(`${name}_failed_idx`)
        .on(t.id)
        .where(sql`status <> 'completed'`),
      index(`${name}_failed_queue_idx`).on(t.queue, t.id).where(sql`status <> 'completed'`),
    ],
  );
}

function pausesTableOf(name: string) {
  return pgTable(
    name,
    {
      queue: text('queue').notNull(),
      // '' pauses the whole queue (a primary key column cannot be NULL); the store returns it as null.
      handlerName: text('handler_name').notNull(),
      pausedAt: timestamp('paused_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    },
    // Named like PostgreSQL's own default, so custom table names rename it with the table.
    (t) => [primaryKey({ name: `${name}_pkey`, columns: [t.queue, t.handlerName] })],
  );
}

function workersTableOf(name: string) {
  return pgTable(
    name,
    {
      workerId: text('worker_id').primaryKey(),
      // A JSON array of queue names, as text: read back by the store, never queried into.
      queues: text('queues').notNull(),
      info: text('info').notNull(),
      startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
      lastSeenAt: timestamp('last_seen_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    },
    // listWorkers reads the recently seen ones.
    (t) => [index(`${name}_last_seen_idx`).on(t.lastSeenAt)],
  );
}

function keysTableOf(name: string) {
  return pgTable(
    name,
    {
      handlerName: text('handler_name').notNull(),
      uniqueKey: text('unique_key').notNull(),
      // The row that took the key (it may be archived or pruned since).
      eventId: bigint('event_id', { mode: 'bigint' }).notNull(),
      expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    },
    (t) => [
      primaryKey({ name: `${name}_pkey`, columns: [t.handlerName, t.uniqueKey] }),
      // Pruning deletes expired keys.
      index(`${name}_expires_idx`).on(t.expiresAt),
    ],
  );
}

function schedulesTableOf(name: string) {
  return pgTable(name, {
    name: text('name').primaryKey(),
    signature: text('signature').notNull(),
    paused: boolean('paused').notNull().default(false),
    anchorAt: timestamp('anchor_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    lastTickAt: timestamp('last_tick_at', { withTimezone: true, mode: 'date' }),
    nextTickAt: timestamp('next_tick_at', { withTimezone: true, mode: 'date' }),
  });
}

function limitsTableOf(name: string) {
  return pgTable(name, {
    queue: text('queue').primaryKey(),
    // NULL: no such limit (StoredLimits in bus-core).
    concurrency: integer('concurrency'),
    keyConcurrency: integer('key_concurrency'),
    rateLimit: integer('rate_limit'),
    ratePeriodMs: integer('rate_period_ms'),
    keyRateLimit: integer('key_rate_limit'),
    keyRatePeriodMs: integer('key_rate_period_ms'),
    fair: boolean('fair').notNull().default(false),
    // The key the next limited claim's round-robin starts after.
    keyCursor: text('key_cursor'),
    // The queue configuration the limits came from; NULL when set at run time.
    signature: text('signature'),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  });
}

function startsTableOf(name: string) {
  return pgTable(
    name,
    {
      queue: text('queue').notNull(),
      // NULL: starts of rows without a key.
      partitionKey: text('partition_key'),
      startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
      // Rows started at once (one row per key per claim).
      n: integer('n').notNull(),
    },
    // The limited claim reads a queue's recent starts and deletes its old ones.
    (t) => [index(`${name}_queue_idx`).on(t.queue, t.startedAt)],
  );
}

/** The hot table's Drizzle type. */
export type BusEventsTable = ReturnType<typeof eventsTableOf>;
/** The archive table's Drizzle type. */
export type BusEventsArchiveTable = ReturnType<typeof archiveTableOf>;

/** The pauses table's Drizzle type. */
export type BusEventsPausesTable = ReturnType<typeof pausesTableOf>;
/** The worker heartbeats table's Drizzle type. */
export type BusEventsWorkersTable = ReturnType<typeof workersTableOf>;
/** The unique keys table's Drizzle type. */
export type BusEventsKeysTable = ReturnType<typeof keysTableOf>;
/** The schedules table's Drizzle type. */
export type BusEventsSchedulesTable = ReturnType<typeof schedulesTableOf>;
/** The flow-control limits table's Drizzle type. */
export type BusEventsLimitsTable = ReturnType<typeof limitsTableOf>;
/** The recorded starts table's Drizzle type. */
export type BusEventsStartsTable = ReturnType<typeof startsTableOf>;

/** The tables of one bus. */
export interface BusTables {
  events: BusEventsTable;
  archive: BusEventsArchiveTable;
  pauses: BusEventsPausesTable;
  workers: BusEventsWorkersTable;
  keys: BusEventsKeysTable;
  schedules: BusEventsSchedulesTable;
  limits: BusEventsLimitsTable;
  starts: BusEventsStartsTable;
  eventsTable: string;
  archiveTable: string;
  pausesTable: string;
  workersTable: string;
  keysTable: string;
  schedulesTable: string;
  limitsTable: string;
  startsTable: string;
}

/**
 * Builds the bus tables under custom names (validated as SQL identifiers), for a schema file that
 * drizzle-kit reads. Pass the same names to `postgresStore`.
 *
 * @example
 * // db/schema.ts
 * const { events, archive, pauses, workers } = createBusTables({ eventsTable: 'jobs', archiveTable: 'jobs_archive' });
 * export { events as jobs, archive as jobsArchive, pauses as jobsPauses, workers as jobsWorkers };
 */
export function createBusTables(names: BusTableNames = {}): BusTables {
  const {
    eventsTable,
    archiveTable,
    pausesTable,
    workersTable,
    keysTable,
    schedulesTable,
    limitsTable,
    startsTable,
  } = resolveTableNames(names);
  return {
    keys: keysTableOf(keysTable),
    schedules: schedulesTableOf(schedulesTable),
    limits: limitsTableOf(limitsTable),
    starts: startsTableOf(startsTable),
    keysTable,
    schedulesTable,
    limitsTable,
    startsTable,
    events: eventsTableOf(eventsTable),
    archive: archiveTableOf(archiveTable),
    pauses: pausesTableOf(pausesTable),
    workers: workersTableOf(workersTable),
    eventsTable,
    archiveTable,
    pausesTable,
    workersTable,
  };
}

const defaults = createBusTables();

/**
 * The hot table `bus_events`; re-export it from your Drizzle schema so drizzle-kit creates it.
 *
 * @example
 * export { busEvents, busEventsArchive, busEventsPauses, busEventsWorkers } from 'bus-postgres/schema';
 */
export const busEvents: BusEventsTable = defaults.events;

/**
 * The archive table `bus_events_archive`; re-export it from your Drizzle schema with `busEvents`.
 *
 * @example
 * export { busEvents, busEventsArchive, busEventsPauses, busEventsWorkers } from 'bus-postgres/schema';
 */
export const busEventsArchive: BusEventsArchiveTable = defaults.archive;

/**
 * The pauses table `bus_events_pauses` (paused queues and handlers); re-export it with `busEvents`.
 *
 * @example
 * export { busEvents, busEventsArchive, busEventsPauses, busEventsWorkers } from 'bus-postgres/schema';
 */
export const busEventsPauses: BusEventsPausesTable = defaults.pauses;

/**
 * The worker heartbeats table `bus_events_workers`; re-export it with `busEvents`.
 *
 * @example
 * export { busEvents, busEventsArchive, busEventsPauses, busEventsWorkers } from 'bus-postgres/schema';
 */
export const busEventsWorkers: BusEventsWorkersTable = defaults.workers;

/**
 * The unique keys table `bus_events_keys`; re-export it with `busEvents`.
 *
 * @example
 * export { busEvents, busEventsArchive, busEventsPauses, busEventsWorkers, busEventsKeys, busEventsSchedules } from 'bus-postgres/schema';
 */
export const busEventsKeys: BusEventsKeysTable = defaults.keys;

/**
 * The schedules table `bus_events_schedules`; re-export it with `busEvents`.
 *
 * @example
 * export { busEvents, busEventsArchive, busEventsPauses, busEventsWorkers, busEventsKeys, busEventsSchedules } from 'bus-postgres/schema';
 */
export const busEventsSchedules: BusEventsSchedulesTable = defaults.schedules;

/**
 * The flow-control limits table `bus_events_limits` (one row per limited queue); re-export it with `busEvents`.
 *
 * @example
 * export { busEvents, busEventsArchive, busEventsPauses, busEventsWorkers, busEventsKeys, busEventsSchedules, busEventsLimits, busEventsStarts } from 'bus-postgres/schema';
 */
export const busEventsLimits: BusEventsLimitsTable = defaults.limits;

/**
 * The recorded starts table `bus_events_starts` (rate limits' sliding windows); re-export it with `busEvents`.
 *
 * @example
 * export { busEvents, busEventsArchive, busEventsPauses, busEventsWorkers, busEventsKeys, busEventsSchedules, busEventsLimits, busEventsStarts } from 'bus-postgres/schema';
 */
export const busEventsStarts: BusEventsStartsTable = defaults.starts;
