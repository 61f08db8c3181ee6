import {
  type ArchivedEventRow,
  type ArchiveStatus,
  BusError,
  type ClaimedEvent,
  type ClaimParams,
  type EventRow,
  type ExtendLeasesParams,
  type HeldEvent,
  type InsertParams,
  type ListArchiveParams,
  type ListEventsParams,
  type ListenParams,
  type NewEventRow,
  type PruneParams,
  type QueueCounts,
  type QueueStore,
  type ReleaseParams,
  type RescueParams,
  type SettleParams,
  type SettleResult,
  type StoreCapabilities,
  type Subscription,
} from 'bus-core';
import { type SQL, sql } from 'drizzle-orm';
import { type ListenClient, listenWith, resolveListenClient } from './listen.js';
import { type BusTableNames, resolveTableNames } from './schema.js';
import { type PgTx, rowsOf, storeError } from './sql.js';

/** Options of `postgresStore`. */
export interface PostgresStoreOptions extends BusTableNames {
  /**
   * The NOTIFY channel `insert` signals and `listen` listens on (default `bus_wake`). Buses with
   * their own tables in one database may share it (a wake-up for an unknown queue is ignored) or
   * set their own.
   */
  channel?: string;
  /**
   * The client that LISTENs: a postgres.js `Sql` or a `PGlite` instance. By default it is the
   * Drizzle database's `$client`; `false` turns wake-ups off (workers poll every `sleepInterval`).
   */
  listen?: ListenClient | false;
  /**
   * How often (ms, default 10 000) a postgres.js listener checks that its connection still
   * delivers notifications, by notifying itself; a listener found dead is re-established.
   */
  listenCheckInterval?: number;
}

/** A `QueueStore` on PostgreSQL through Drizzle; its transactions are Drizzle Postgres transactions. */
export interface PostgresStore extends QueueStore<PgTx> {
  /** The hot table's name. */
  readonly eventsTable: string;
  /** The archive table's name. */
  readonly archiveTable: string;
  /** The NOTIFY channel of this store. */
  readonly channel: string;
}

type Identifier = ReturnType<typeof sql.identifier>;

const MS = sql.raw(`interval '1 millisecond'`);
const DIGITS = /^[0-9]{1,18}$/;
const CHANNEL_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

interface ClaimedRaw {
  id: string;
  queue: string;
  event_name: string;
  handler_name: string;
  payload: unknown;
  attempts: number;
  max_retries: number;
  priority: number;
  created_ms: number;
}

interface EventRaw extends ClaimedRaw {
  payload_json: unknown;
  scheduled_ms: number;
  locked_until_ms: number | null;
  locked_by: string | null;
  last_error: string | null;
}

interface ArchiveRaw extends ClaimedRaw {
  payload_json: unknown;
  status: ArchiveStatus;
  last_error: string | null;
  finished_ms: number;
}

// The columns the live and the archive table share, as read back by listEvents/listArchive.
function storedFields(r: ClaimedRaw & { payload_json: unknown }) {
  return {
    id: r.id,
    queue: r.queue,
    eventName: r.event_name,
    handlerName: r.handler_name,
    payload: toBytes(r.payload),
    payloadJson: r.payload_json ?? null,
    attempts: Number(r.attempts),
    maxRetries: Number(r.max_retries),
    priority: Number(r.priority),
  };
}

/** The per-variant columns of an insert (see `insert`). */
interface VariantColumns {
  queues: string[];
  eventNames: string[];
  handlerNames: string[];
  maxRetries: number[];
  priorities: number[];
  delays: number[];
  runAts: (string | null)[];
}

function sameVariant(a: NewEventRow, b: NewEventRow): boolean {
  return (
    a.queue === b.queue &&
    a.eventName === b.eventName &&
    a.handlerName === b.handlerName &&
    a.maxRetries === b.maxRetries &&
    a.priority === b.priority &&
    a.delayMs === b.delayMs &&
    (a.runAt === b.runAt || (a.runAt !== null && b.runAt !== null && a.runAt.getTime() === b.runAt.getTime()))
  );
}

class PostgresQueueStore implements PostgresStore {
  readonly capabilities: StoreCapabilities;
  readonly eventsTable: string;
  readonly archiveTable: string;
  readonly channel: string;
  readonly #db: PgTx;
  readonly #events: Identifier;
  readonly #archive: Identifier;
  readonly #listenClient: ListenClient | undefined;
  readonly #listenCheckInterval: number;

  constructor(db: PgTx, options: PostgresStoreOptions) {
    if (
      typeof db !== 'object' ||
      db === null ||
      typeof (db as { execute?: unknown }).execute !== 'function'
    ) {
      throw new BusError('INVALID_CONFIG', 'postgresStore needs a Drizzle PostgreSQL database', {
        value: db,
      });
    }
    this.#db = db;
    ({ eventsTable: this.eventsTable, archiveTable: this.archiveTable } = resolveTableNames(options));
    this.channel = options.channel ?? 'bus_wake';
    // Lower case only: PGlite LISTENs on the name unquoted, which PostgreSQL folds to lower case.
    if (typeof this.channel !== 'string' || !CHANNEL_PATTERN.test(this.channel)) {
      throw new BusError(
        'INVALID_IDENTIFIER',
        `channel must be a lower-case SQL identifier matching ${CHANNEL_PATTERN} (got ${JSON.stringify(this.channel)})`,
        { value: this.channel },
      );
    }
    this.#events = sql.identifier(this.eventsTable);
    this.#archive = sql.identifier(this.archiveTable);
    this.#listenClient =
      options.listen === false
        ? undefined
        : resolveListenClient(options.listen ?? (db as { $client?: unknown }).$client);
    if (options.listen !== undefined && options.listen !== false && this.#listenClient === undefined) {
      throw new BusError(
        'INVALID_CONFIG',
        'options.listen must be a postgres.js Sql client, a PGlite instance or false',
        {
          value: options.listen,
        },
      );
    }
    const interval = options.listenCheckInterval ?? 10_000;
    if (!Number.isInteger(interval) || interval < 50 || interval > 3_600_000) {
      throw new BusError(
        'INVALID_CONFIG',
        `listenCheckInterval must be an integer from 50 to 3600000 ms (got ${interval})`,
        {
          value: interval,
        },
      );
    }
    this.#listenCheckInterval = interval;
    this.capabilities = Object.freeze({
      notify: this.#listenClient !== undefined,
      transactionalCompletion: true,
    });
  }

  async #run<T>(operation: string, query: SQL, tx?: PgTx): Promise<T[]> {
    const db = tx ?? this.#db;
    let result: unknown;
    try {
      // Drizzle runs `execute` through postgres.js `unsafe(text, params)`, which does not prepare,
      // so postgres.js describes every parameterized statement first: two round trips per query.
      // On postgres.js, send the same text prepared: one round trip once it is cached.
      const client = postgresJsClientOf(db);
      if (client !== undefined) {
        const { sql: text, params } = (db as unknown as { dialect: DialectLike }).dialect.sqlToQuery(query);
        result = await client.unsafe(text, params, { prepare: true });
      } else {
        result = await db.execute(query);
      }
    } catch (error) {
      throw storeError(operation, error);
    }
    return rowsOf<T>(result);
  }

  async insert(params: InsertParams<PgTx>): Promise<string[]> {
    const rows = params.rows;
    if (!Array.isArray(rows))
      throw new BusError('INVALID_ARGUMENT', 'insert needs an array of rows', { value: rows });
    if (rows.length === 0) return [];
    const n = rows.length;
    // Rows of one publish share queue, names, retries, priority and due time (fan-out gives one
    // such variant per handler), so those travel once per variant and each row carries only its
    // variant number and payload: far fewer array elements for postgres.js to serialize.
    const variantOf = new Map<string, number>();
    const queues: string[] = [];
    const eventNames: string[] = [];
    const handlerNames: string[] = [];
    const maxRetries: number[] = [];
    const priorities: number[] = [];
    const delays: number[] = [];
    const runAts: (string | null)[] = [];
    const variants = new Array<number>(n);
    const payloads = new Array<string>(n);
    const jsons = new Array<string | null>(n);
    // Without the JSON column (the default) a NULL array stands for n NULLs: unnest pads it.
    let anyJson = false;
    // The core fans one event out to several handlers with the same bytes: encode those once.
    const hex = new Map<Uint8Array, string>();
    let last: NewEventRow | undefined;
    let lastVariant = 0;
    for (let i = 0; i < n; i++) {
      const row = rows[i]!;
      if (last !== undefined && sameVariant(row, last)) {
        variants[i] = lastVariant;
      } else {
        variants[i] = lastVariant = this.#variant(row, variantOf, {
          queues,
          eventNames,
          handlerNames,
          maxRetries,
          priorities,
          delays,
          runAts,
        });
        last = row;
      }
      let text = hex.get(row.payload);
      if (text === undefined) {
        text = Buffer.from(row.payload.buffer, row.payload.byteOffset, row.payload.byteLength).toString(
          'hex',
        );
        hex.set(row.payload, text);
      }
      payloads[i] = text;
      jsons[i] = row.payloadJson;
      if (row.payloadJson !== null) anyJson = true;
    }
    // One statement: the multi-row insert, then one NOTIFY per queue with rows due now. NOTIFY in
    // a transaction is delivered at commit, so listeners never wake before the rows are visible.
    // Identity values follow the insert order, so ORDER BY id gives the ids in input order.
    const query = sql`WITH variant AS (
  SELECT * FROM unnest(${sql.param(queues)}::text[], ${sql.param(eventNames)}::text[], ${sql.param(handlerNames)}::text[],
    ${sql.param(maxRetries)}::int4[], ${sql.param(priorities)}::int4[], ${sql.param(delays)}::float8[],
    ${sql.param(runAts)}::text[])
    WITH ORDINALITY AS v(queue, event_name, handler_name, max_retries, priority, delay_ms, run_at, k)
), input AS (
  SELECT * FROM unnest(${sql.param(variants)}::int8[], ${sql.param(payloads)}::text[], ${sql.param(anyJson ? jsons : null)}::text[])
    WITH ORDINALITY AS i(k, payload, payload_json, ord)
), ins AS (
  INSERT INTO ${this.#events} (queue, event_name, handler_name, payload, payload_json, max_retries, priority, scheduled_at)
  SELECT v.queue, v.event_name, v.handler_name, decode(i.payload, 'hex'), i.payload_json::jsonb, v.max_retries,
    v.priority, coalesce(v.run_at::timestamptz, now() + v.delay_ms * ${MS})
  FROM input i JOIN variant v ON v.k = i.k ORDER BY i.ord
  RETURNING id, queue, scheduled_at
), woken AS (
  SELECT count(pg_notify(${this.channel}::text, d.queue)) AS n
  FROM (SELECT DISTINCT queue FROM ins WHERE scheduled_at <= now()) d
)
SELECT ins.id::text AS id FROM ins, woken ORDER BY ins.id`;
    const result = await this.#run<{ id: string }>('insert', query, params.tx);
    if (result.length !== n) {
      throw new BusError('STORE_FAILED', `postgres insert returned ${result.length} ids for ${n} rows`, {
        value: n,
      });
    }
    return result.map((r) => r.id);
  }

  #variant(row: NewEventRow, variantOf: Map<string, number>, columns: VariantColumns): number {
    const runAt = row.runAt === null ? null : row.runAt.toISOString();
    const key = `${row.queue}\u0000${row.eventName}\u0000${row.handlerName}\u0000${row.maxRetries}\u0000${row.priority}\u0000${row.delayMs}\u0000${runAt}`;
    let variant = variantOf.get(key);
    if (variant === undefined) {
      variant = columns.queues.length + 1;
      variantOf.set(key, variant);
      columns.queues.push(row.queue);
      columns.eventNames.push(row.eventName);
      columns.handlerNames.push(row.handlerName);
      columns.maxRetries.push(row.maxRetries);
      columns.priorities.push(row.priority);
      columns.delays.push(row.delayMs);
      columns.runAts.push(runAt);
    }
    return variant;
  }

  async claim(params: ClaimParams): Promise<ClaimedEvent[]> {
    const { queue, limit, workerId, leaseMs } = params;
    if (!Number.isInteger(limit) || limit <= 0) return [];
    // One statement: pick due, unleased rows through the partial claim index, skipping rows
    // other claimers hold, lease them, and hand them back in claim order.
    // The picked ids reach the UPDATE as an array (`id = ANY(ARRAY(…))`), so it probes the primary
    // key once per row; `UPDATE … FROM picked` gets a hash join over a sequential scan of the
    // whole table once it holds some 40k rows.
    const query = sql`WITH claimed AS (
  UPDATE ${this.#events} e
  SET attempts = e.attempts + 1, locked_by = ${workerId}::text, locked_until = now() + ${leaseMs}::float8 * ${MS}
  WHERE e.id = ANY(ARRAY(
    SELECT id FROM ${this.#events}
    WHERE queue = ${queue}::text AND locked_until IS NULL AND scheduled_at <= now()
    ORDER BY priority, scheduled_at, id
    LIMIT ${limit}::int4
    FOR UPDATE SKIP LOCKED))
  RETURNING e.id, e.queue, e.event_name, e.handler_name, e.payload, e.attempts, e.max_retries, e.priority,
    e.scheduled_at, e.created_at
)
SELECT id::text AS id, queue, event_name, handler_name, payload, attempts, max_retries, priority,
  (extract(epoch FROM created_at) * 1000)::float8 AS created_ms
FROM claimed ORDER BY priority, scheduled_at, claimed.id`;
    const rows = await this.#run<ClaimedRaw>('claim', query);
    return rows.map((r) => ({
      id: r.id,
      queue: r.queue,
      eventName: r.event_name,
      handlerName: r.handler_name,
      payload: toBytes(r.payload),
      attempts: Number(r.attempts),
      maxRetries: Number(r.max_retries),
      priority: Number(r.priority),
      createdAt: toDate(r.created_ms),
    }));
  }

  async settle(params: SettleParams<PgTx>): Promise<SettleResult> {
    // The last outcome of an id wins, like applying them one by one.
    const byId = new Map<string, SettleParams<PgTx>['outcomes'][number]>();
    for (const outcome of params.outcomes) if (DIGITS.test(outcome.id)) byId.set(outcome.id, outcome);
    if (byId.size === 0) return { settled: [] };
    const ids: string[] = [];
    const attempts: number[] = [];
    const kinds: string[] = [];
    const archive: number[] = [];
    const delays: number[] = [];
    const errors: (string | null)[] = [];
    for (const o of byId.values()) {
      ids.push(o.id);
      attempts.push(o.attempt);
      kinds.push(o.kind);
      archive.push(o.kind !== 'retry' && o.archive ? 1 : 0);
      delays.push(o.kind === 'retry' ? o.delayMs : 0);
      errors.push(o.kind === 'completed' ? null : o.error);
    }
    // One statement for the whole batch: lock the rows whose fence holds (in id order, so two
    // statements of one worker never deadlock), delete the finished ones and archive those that
    // the policy keeps in the same statement, and reschedule the retries.
    const query = sql`WITH o AS (
  SELECT * FROM unnest(${sql.param(ids)}::int8[], ${sql.param(attempts)}::int4[], ${sql.param(kinds)}::text[],
    ${sql.param(archive)}::int4[], ${sql.param(delays)}::float8[], ${sql.param(errors)}::text[])
    AS o(id, attempt, kind, archive, delay_ms, error)
), held AS (
  -- One primary-key probe per outcome, in id order. LATERAL keeps the outcomes on the outer side:
  -- joined the other way, the misestimated locked_by filter gets a nested loop that re-runs the
  -- unnest for every row (n² work, ~150 ms for 500 rows).
  SELECT e.id, o.kind, o.archive, o.delay_ms, o.error
  FROM (SELECT * FROM o ORDER BY o.id) o
  CROSS JOIN LATERAL (
    SELECT e.id FROM ${this.#events} e
    WHERE e.id = o.id AND e.locked_by = ${params.workerId}::text AND e.attempts = o.attempt
    FOR UPDATE
  ) e
), done AS (
  DELETE FROM ${this.#events} e USING held h
  WHERE e.id = h.id AND h.kind <> 'retry'
  RETURNING e.id, e.queue, e.event_name, e.handler_name, e.payload, e.payload_json, e.attempts, e.max_retries,
    e.priority, e.created_at, e.last_error, h.kind, h.archive, h.error
), archived AS (
  INSERT INTO ${this.#archive} (id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries,
    priority, status, last_error, created_at, finished_at)
  SELECT id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries, priority, kind,
    CASE WHEN kind = 'failed' THEN error ELSE last_error END, created_at, now()
  FROM done WHERE archive = 1
  ON CONFLICT (id) DO NOTHING
), retried AS (
  UPDATE ${this.#events} e
  SET scheduled_at = now() + h.delay_ms * ${MS}, locked_until = NULL, locked_by = NULL, last_error = h.error
  FROM held h
  WHERE e.id = h.id AND h.kind = 'retry'
  RETURNING e.id
)
SELECT id::text AS id FROM done UNION ALL SELECT id::text AS id FROM retried`;
    const rows = await this.#run<{ id: string }>('settle', query, params.tx);
    return { settled: rows.map((r) => r.id) };
  }

  async extendLeases(params: ExtendLeasesParams): Promise<string[]> {
    const held = heldArrays(params.events);
    if (held === undefined) return [];
    const query = sql`WITH h AS (
  SELECT * FROM unnest(${sql.param(held.ids)}::int8[], ${sql.param(held.attempts)}::int4[]) AS h(id, attempt)
), held AS (
  SELECT e.id FROM ${this.#events} e JOIN h ON h.id = e.id
  WHERE e.id = ANY(${sql.param(held.ids)}::int8[]) AND e.locked_by = ${params.workerId}::text AND e.attempts = h.attempt
  ORDER BY e.id
  FOR UPDATE OF e
)
UPDATE ${this.#events} e SET locked_until = now() + ${params.leaseMs}::float8 * ${MS}
FROM held WHERE e.id = held.id
RETURNING e.id::text AS id`;
    return (await this.#run<{ id: string }>('extendLeases', query)).map((r) => r.id);
  }

  async release(params: ReleaseParams): Promise<string[]> {
    const held = heldArrays(params.events);
    if (held === undefined) return [];
    const query = sql`WITH h AS (
  SELECT * FROM unnest(${sql.param(held.ids)}::int8[], ${sql.param(held.attempts)}::int4[]) AS h(id, attempt)
), held AS (
  SELECT e.id FROM ${this.#events} e JOIN h ON h.id = e.id
  WHERE e.id = ANY(${sql.param(held.ids)}::int8[]) AND e.locked_by = ${params.workerId}::text AND e.attempts = h.attempt
  ORDER BY e.id
  FOR UPDATE OF e
)
UPDATE ${this.#events} e SET locked_until = NULL, locked_by = NULL, attempts = e.attempts - 1
FROM held WHERE e.id = held.id
RETURNING e.id::text AS id`;
    return (await this.#run<{ id: string }>('release', query)).map((r) => r.id);
  }

  async rescue(params: RescueParams): Promise<number> {
    if (!Number.isInteger(params.limit) || params.limit <= 0) return 0;
    const query = sql`WITH expired AS (
  SELECT id FROM ${this.#events}
  WHERE locked_until < now()
  ORDER BY locked_until
  LIMIT ${params.limit}::int4
  FOR UPDATE SKIP LOCKED
), rescued AS (
  UPDATE ${this.#events} e SET locked_until = NULL, locked_by = NULL, last_error = ${params.error}::text
  FROM expired WHERE e.id = expired.id
  RETURNING 1
)
SELECT count(*)::int4 AS n FROM rescued`;
    const [row] = await this.#run<{ n: number }>('rescue', query);
    return Number(row?.n ?? 0);
  }

  async prune(params: PruneParams): Promise<number> {
    if (!Number.isInteger(params.limit) || params.limit <= 0) return 0;
    const query = sql`WITH old AS (
  SELECT id FROM ${this.#archive}
  WHERE finished_at < now() - ${params.olderThanMs}::float8 * ${MS}
  ORDER BY finished_at
  LIMIT ${params.limit}::int4
  FOR UPDATE SKIP LOCKED
), pruned AS (
  DELETE FROM ${this.#archive} a USING old WHERE a.id = old.id
  RETURNING 1
)
SELECT count(*)::int4 AS n FROM pruned`;
    const [row] = await this.#run<{ n: number }>('prune', query);
    return Number(row?.n ?? 0);
  }

  async now(): Promise<Date> {
    const [row] = await this.#run<{ ms: number }>(
      'now',
      sql`SELECT (extract(epoch FROM now()) * 1000)::float8 AS ms`,
    );
    return toDate(row!.ms);
  }

  transaction<T>(fn: (tx: PgTx) => Promise<T>): Promise<T> {
    return this.#db.transaction((tx) => fn(tx));
  }

  async listEvents(params: ListEventsParams = {}): Promise<EventRow[]> {
    const filter = listFilter(params);
    if (filter === undefined) return [];
    const query = sql`SELECT e.id::text AS id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries,
  priority, (extract(epoch FROM scheduled_at) * 1000)::float8 AS scheduled_ms,
  (extract(epoch FROM locked_until) * 1000)::float8 AS locked_until_ms, locked_by, last_error,
  (extract(epoch FROM created_at) * 1000)::float8 AS created_ms
FROM ${this.#events} e
WHERE (${filter.queue}::text IS NULL OR queue = ${filter.queue}::text)
  AND (${filter.ids}::int8[] IS NULL OR e.id = ANY(${filter.ids}::int8[]))
ORDER BY e.id
LIMIT ${filter.limit}::int8`;
    const rows = await this.#run<EventRaw>('listEvents', query);
    return rows.map((r) => ({
      ...storedFields(r),
      scheduledAt: toDate(r.scheduled_ms),
      lockedUntil: r.locked_until_ms === null ? null : toDate(r.locked_until_ms),
      lockedBy: r.locked_by,
      lastError: r.last_error,
      createdAt: toDate(r.created_ms),
    }));
  }

  async listArchive(params: ListArchiveParams = {}): Promise<ArchivedEventRow[]> {
    const filter = listFilter(params);
    if (filter === undefined) return [];
    const status = params.status ?? null;
    const query = sql`SELECT a.id::text AS id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries,
  priority, status, last_error, (extract(epoch FROM created_at) * 1000)::float8 AS created_ms,
  (extract(epoch FROM finished_at) * 1000)::float8 AS finished_ms
FROM ${this.#archive} a
WHERE (${filter.queue}::text IS NULL OR queue = ${filter.queue}::text)
  AND (${filter.ids}::int8[] IS NULL OR a.id = ANY(${filter.ids}::int8[]))
  AND (${status}::text IS NULL OR status = ${status}::text)
ORDER BY a.id
LIMIT ${filter.limit}::int8`;
    const rows = await this.#run<ArchiveRaw>('listArchive', query);
    return rows.map((r) => ({
      ...storedFields(r),
      status: r.status,
      lastError: r.last_error,
      createdAt: toDate(r.created_ms),
      finishedAt: toDate(r.finished_ms),
    }));
  }

  async countByQueue(): Promise<QueueCounts[]> {
    const query = sql`SELECT queue, sum(available)::int8::text AS available, sum(scheduled)::int8::text AS scheduled,
  sum(running)::int8::text AS running, sum(retrying)::int8::text AS retrying,
  sum(archived_completed)::int8::text AS archived_completed, sum(archived_failed)::int8::text AS archived_failed
FROM (
  SELECT queue,
    count(*) FILTER (WHERE locked_until IS NULL AND scheduled_at <= now()) AS available,
    count(*) FILTER (WHERE locked_until IS NULL AND scheduled_at > now()) AS scheduled,
    count(*) FILTER (WHERE locked_until IS NOT NULL) AS running,
    count(*) FILTER (WHERE last_error IS NOT NULL) AS retrying,
    0::int8 AS archived_completed, 0::int8 AS archived_failed
  FROM ${this.#events} GROUP BY queue
  UNION ALL
  SELECT queue, 0, 0, 0, 0, count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed')
  FROM ${this.#archive} GROUP BY queue
) c
GROUP BY queue ORDER BY queue`;
    const rows = await this.#run<Record<string, string>>('countByQueue', query);
    return rows.map((r) => ({
      queue: r.queue!,
      available: Number(r.available),
      scheduled: Number(r.scheduled),
      running: Number(r.running),
      retrying: Number(r.retrying),
      archivedCompleted: Number(r.archived_completed),
      archivedFailed: Number(r.archived_failed),
    }));
  }

  async listen(params: ListenParams): Promise<Subscription> {
    const client = this.#listenClient;
    if (client === undefined) {
      throw new BusError(
        'UNSUPPORTED',
        'this postgres store has no LISTEN client (options.listen is false or unknown)',
      );
    }
    return listenWith(client, {
      channel: this.channel,
      params,
      checkInterval: this.#listenCheckInterval,
      ping: async (payload) => {
        await this.#run('notify', sql`SELECT pg_notify(${this.channel}::text, ${payload}::text)`);
      },
    });
  }
}

interface DialectLike {
  sqlToQuery(query: SQL): { sql: string; params: unknown[] };
}

interface PostgresJsLike {
  unsafe(text: string, params: unknown[], options: { prepare: boolean }): Promise<unknown>;
}

/** The postgres.js client (or transaction) under a Drizzle postgres-js database; else undefined. */
function postgresJsClientOf(db: PgTx): PostgresJsLike | undefined {
  const client = (db as unknown as { session?: { client?: { unsafe?: unknown } } }).session?.client;
  const dialect = (db as unknown as { dialect?: { sqlToQuery?: unknown } }).dialect;
  if (typeof client?.unsafe !== 'function' || typeof dialect?.sqlToQuery !== 'function') return undefined;
  return client as unknown as PostgresJsLike;
}

/**
 * Creates the PostgreSQL `QueueStore` on a Drizzle database of any Postgres driver (postgres.js,
 * PGlite, …). The tables must exist: run `migrate(db)` or drizzle-kit first. The Drizzle `$client`
 * (postgres.js `Sql` or `PGlite`) also serves LISTEN/NOTIFY wake-ups.
 *
 * @example
 * import postgres from 'postgres';
 * import { drizzle } from 'drizzle-orm/postgres-js';
 * import { createBus } from 'bus-core';
 * import { migrate, postgresStore } from 'bus-postgres';
 *
 * const db = drizzle(postgres(process.env.DATABASE_URL!));
 * await migrate(db);
 * const bus = createBus({ store: postgresStore(db), queues: [{ queueName: 'email', workers: 5, batchSize: 5, sleepInterval: 60_000, archivePolicy: 'failed' }] });
 * await bus.init();
 */
export function postgresStore(db: PgTx, options: PostgresStoreOptions = {}): PostgresStore {
  return new PostgresQueueStore(db, options);
}

function heldArrays(events: HeldEvent[]): { ids: string[]; attempts: number[] } | undefined {
  const ids: string[] = [];
  const attempts: number[] = [];
  for (const e of events) {
    if (!DIGITS.test(e.id) || !Number.isInteger(e.attempt)) continue;
    ids.push(e.id);
    attempts.push(e.attempt);
  }
  return ids.length === 0 ? undefined : { ids, attempts };
}

function listFilter(params: {
  queue?: string;
  ids?: string[];
  limit?: number;
}): { queue: string | null; ids: SQL | null; limit: number | null } | undefined {
  let ids: SQL | null = null;
  if (params.ids !== undefined) {
    const valid = params.ids.filter((id) => typeof id === 'string' && DIGITS.test(id));
    if (valid.length === 0) return undefined;
    ids = sql`${sql.param(valid)}`;
  }
  const limit = params.limit === undefined ? null : Math.max(0, Math.floor(params.limit));
  if (limit !== null && !Number.isFinite(limit)) return { queue: params.queue ?? null, ids, limit: null };
  return { queue: params.queue ?? null, ids, limit };
}

function toDate(ms: unknown): Date {
  return new Date(Number(ms));
}

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) {
    // postgres.js and node-postgres give Buffers: hand out plain Uint8Array views.
    return value.constructor === Uint8Array
      ? value
      : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (typeof value === 'string' && value.startsWith('\\x'))
    return new Uint8Array(Buffer.from(value.slice(2), 'hex'));
  throw new BusError('STORE_FAILED', `the payload column came back as ${typeof value}, not bytes`, { value });
}
