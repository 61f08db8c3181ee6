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
import { pgArray, plainTextArray } from './arrays.js';
import { checkSchema } from './check-schema.js';
import { assertUsableClient, guardPostgresJs, postgresJsOf } from './client.js';
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

/**
 * One value of a result row. Every column the store reads is text in SQL (`::text`,
 * `encode(…, 'hex')`), so neither the driver's parsers nor a client's custom types, `bigint`
 * mode or date parsers decide what comes back: postgres.js gives the raw Buffer of the text,
 * other drivers the string.
 */
type Cell = Buffer | Uint8Array | string | null;
type Row = Cell[];

// Epoch milliseconds as an exact integer, in text.
const ms = (column: string) => sql.raw(`floor(extract(epoch FROM ${column}) * 1000)::int8::text`);

// Aliases are single lower-case words, which no column-name transform changes (postgres.js only
// reads rows positionally anyway; PGlite and node-postgres read them by name).
const CLAIM_COLUMNS = [
  'id',
  'queue',
  'event',
  'handler',
  'payload',
  'attempts',
  'retries',
  'priority',
  'created',
];
const EVENT_COLUMNS = [
  'id',
  'queue',
  'event',
  'handler',
  'payload',
  'json',
  'attempts',
  'retries',
  'priority',
  'scheduled',
  'lockeduntil',
  'lockedby',
  'error',
  'created',
];
const ARCHIVE_COLUMNS = [
  'id',
  'queue',
  'event',
  'handler',
  'payload',
  'json',
  'attempts',
  'retries',
  'priority',
  'status',
  'error',
  'created',
  'finished',
];
// The first nine columns of listEvents and listArchive (see storedFields).
const STORED_COLUMNS = sql.raw(
  'id::text AS id, queue::text AS queue, event_name::text AS event, handler_name::text AS handler, ' +
    "encode(payload, 'hex') AS payload, payload_json::text AS json, attempts::text AS attempts, " +
    'max_retries::text AS retries, priority::text AS priority',
);
const COUNT_COLUMNS = ['queue', 'available', 'scheduled', 'running', 'retrying', 'completed', 'failed'];
const ID_COLUMN = ['id'];
const N_COLUMN = ['n'];

function text(cell: Cell): string | null {
  if (cell === null || cell === undefined) return null;
  if (typeof cell === 'string') return cell;
  return Buffer.from(cell.buffer, cell.byteOffset, cell.byteLength).toString('utf8');
}

function textOf(cell: Cell, column: string): string {
  const value = text(cell);
  if (value === null) throw new BusError('STORE_FAILED', `the ${column} column came back NULL`);
  return value;
}

function intOf(cell: Cell, column: string): number {
  const value = Number(textOf(cell, column));
  if (!Number.isFinite(value)) {
    throw new BusError('STORE_FAILED', `the ${column} column came back as ${text(cell)}, not a number`);
  }
  return value;
}

function dateOf(cell: Cell, column: string): Date {
  return new Date(intOf(cell, column));
}

function dateOrNull(cell: Cell, column: string): Date | null {
  return cell === null ? null : dateOf(cell, column);
}

function jsonOf(cell: Cell): unknown {
  const value = text(cell);
  return value === null ? null : JSON.parse(value);
}

function bytesOf(cell: Cell): Uint8Array {
  const hex = cell !== null && typeof cell !== 'string' ? text(cell) : cell;
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-f]*$/.test(hex)) {
    throw new BusError('STORE_FAILED', 'the payload column did not come back as hex text', { value: hex });
  }
  const bytes = Buffer.from(hex, 'hex');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// The columns the live and the archive table share (positions 0-6 of EVENT_/ARCHIVE_COLUMNS).
function storedFields(r: Row) {
  return {
    id: textOf(r[0]!, 'id'),
    queue: textOf(r[1]!, 'queue'),
    eventName: textOf(r[2]!, 'event_name'),
    handlerName: textOf(r[3]!, 'handler_name'),
    payload: bytesOf(r[4]!),
    payloadJson: jsonOf(r[5]!),
    attempts: intOf(r[6]!, 'attempts'),
    maxRetries: intOf(r[7]!, 'max_retries'),
    priority: intOf(r[8]!, 'priority'),
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
  #guard: Promise<void> | undefined;

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
    assertUsableClient(db);
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

  /**
   * Runs `query` and returns its rows as arrays of cells in the order of `columns` (the query's
   * aliases). On postgres.js the rows come raw (`raw()`): no parser, custom type or value/column
   * transform of the client touches them.
   */
  async #run(operation: string, query: SQL, columns: readonly string[], tx?: PgTx): Promise<Row[]> {
    const db = tx ?? this.#db;
    try {
      const postgresJs = postgresJsOf(db);
      if (postgresJs !== undefined) {
        await this.#guarded();
        // Drizzle runs `execute` through postgres.js `unsafe(text, params)`, which does not
        // prepare, so postgres.js describes every parameterized statement first: two round trips
        // per query. Sent prepared (unless the client has `prepare: false`), it is one once cached.
        const { sql: text, params } = postgresJs.dialect.sqlToQuery(query);
        const rows = await postgresJs.client.unsafe(text, params, { prepare: true }).raw();
        return Array.isArray(rows) ? (rows as Row[]) : [];
      }
      return rowsOf<Record<string, Cell>>(await db.execute(query)).map((r) =>
        columns.map((c) => r[c] ?? null),
      );
    } catch (error) {
      throw storeError(operation, error);
    }
  }

  // Once per store; a failure (database unreachable) is tried again on the next statement.
  #guarded(): Promise<void> {
    if (this.#guard === undefined) {
      this.#guard = guardPostgresJs(this.#db).catch((error: unknown) => {
        this.#guard = undefined;
        throw error;
      });
    }
    return this.#guard;
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
  SELECT * FROM unnest(${pgArray(queues)}::text[], ${pgArray(eventNames)}::text[], ${pgArray(handlerNames)}::text[],
    ${pgArray(maxRetries)}::int4[], ${pgArray(priorities)}::int4[], ${pgArray(delays)}::float8[],
    ${pgArray(runAts)}::text[])
    WITH ORDINALITY AS v(queue, event_name, handler_name, max_retries, priority, delay_ms, run_at, k)
), input AS (
  SELECT * FROM unnest(${pgArray(variants)}::int8[], ${plainTextArray(payloads)}::text[], ${anyJson ? pgArray(jsons) : null}::text[])
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
    const result = await this.#run('insert', query, ID_COLUMN, params.tx);
    if (result.length !== n) {
      throw new BusError('STORE_FAILED', `postgres insert returned ${result.length} ids for ${n} rows`, {
        value: n,
      });
    }
    return result.map((r) => textOf(r[0]!, 'id'));
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
SELECT id::text AS id, queue::text AS queue, event_name::text AS event, handler_name::text AS handler,
  encode(payload, 'hex') AS payload, attempts::text AS attempts, max_retries::text AS retries,
  priority::text AS priority, ${ms('created_at')} AS created
FROM claimed ORDER BY claimed.priority, claimed.scheduled_at, claimed.id`;
    const rows = await this.#run('claim', query, CLAIM_COLUMNS);
    return rows.map((r) => ({
      id: textOf(r[0]!, 'id'),
      queue: textOf(r[1]!, 'queue'),
      eventName: textOf(r[2]!, 'event_name'),
      handlerName: textOf(r[3]!, 'handler_name'),
      payload: bytesOf(r[4]!),
      attempts: intOf(r[5]!, 'attempts'),
      maxRetries: intOf(r[6]!, 'max_retries'),
      priority: intOf(r[7]!, 'priority'),
      createdAt: dateOf(r[8]!, 'created_at'),
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
  SELECT * FROM unnest(${plainTextArray(ids)}::int8[], ${pgArray(attempts)}::int4[], ${plainTextArray(kinds)}::text[],
    ${pgArray(archive)}::int4[], ${pgArray(delays)}::float8[], ${pgArray(errors)}::text[])
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
    const rows = await this.#run('settle', query, ID_COLUMN, params.tx);
    return { settled: rows.map((r) => textOf(r[0]!, 'id')) };
  }

  async extendLeases(params: ExtendLeasesParams): Promise<string[]> {
    const held = heldArrays(params.events);
    if (held === undefined) return [];
    const query = sql`WITH h AS (
  SELECT * FROM unnest(${held.ids}::int8[], ${held.attempts}::int4[]) AS h(id, attempt)
), held AS (
  SELECT e.id FROM ${this.#events} e JOIN h ON h.id = e.id
  WHERE e.id = ANY(${held.ids}::int8[]) AND e.locked_by = ${params.workerId}::text AND e.attempts = h.attempt
  ORDER BY e.id
  FOR UPDATE OF e
)
UPDATE ${this.#events} e SET locked_until = now() + ${params.leaseMs}::float8 * ${MS}
FROM held WHERE e.id = held.id
RETURNING e.id::text AS id`;
    return (await this.#run('extendLeases', query, ID_COLUMN)).map((r) => textOf(r[0]!, 'id'));
  }

  async release(params: ReleaseParams): Promise<string[]> {
    const held = heldArrays(params.events);
    if (held === undefined) return [];
    const query = sql`WITH h AS (
  SELECT * FROM unnest(${held.ids}::int8[], ${held.attempts}::int4[]) AS h(id, attempt)
), held AS (
  SELECT e.id FROM ${this.#events} e JOIN h ON h.id = e.id
  WHERE e.id = ANY(${held.ids}::int8[]) AND e.locked_by = ${params.workerId}::text AND e.attempts = h.attempt
  ORDER BY e.id
  FOR UPDATE OF e
)
UPDATE ${this.#events} e SET locked_until = NULL, locked_by = NULL, attempts = e.attempts - 1
FROM held WHERE e.id = held.id
RETURNING e.id::text AS id`;
    return (await this.#run('release', query, ID_COLUMN)).map((r) => textOf(r[0]!, 'id'));
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
SELECT count(*)::text AS n FROM rescued`;
    const [row] = await this.#run('rescue', query, N_COLUMN);
    return row === undefined ? 0 : intOf(row[0]!, 'count');
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
SELECT count(*)::text AS n FROM pruned`;
    const [row] = await this.#run('prune', query, N_COLUMN);
    return row === undefined ? 0 : intOf(row[0]!, 'count');
  }

  async now(): Promise<Date> {
    const [row] = await this.#run('now', sql`SELECT ${ms('now()')} AS now`, ['now']);
    return dateOf(row?.[0] ?? null, 'now()');
  }

  checkSchema(): Promise<void> {
    const columns = ['kind', 'name'];
    const run = async (operation: string, query: SQL) =>
      (await this.#run(operation, query, columns)).map((r) => ({
        kind: textOf(r[0]!, 'kind'),
        name: textOf(r[1]!, 'name'),
      }));
    return checkSchema(run, {
      eventsTable: this.eventsTable,
      archiveTable: this.archiveTable,
    });
  }

  transaction<T>(fn: (tx: PgTx) => Promise<T>): Promise<T> {
    return this.#db.transaction((tx) => fn(tx));
  }

  async listEvents(params: ListEventsParams = {}): Promise<EventRow[]> {
    const filter = listFilter(params);
    if (filter === undefined) return [];
    const query = sql`SELECT ${STORED_COLUMNS}, ${ms('scheduled_at')} AS scheduled, ${ms('locked_until')} AS lockeduntil,
  locked_by::text AS lockedby, last_error::text AS error, ${ms('created_at')} AS created
FROM ${this.#events} e
WHERE (${filter.queue}::text IS NULL OR queue = ${filter.queue}::text)
  AND (${filter.ids}::int8[] IS NULL OR e.id = ANY(${filter.ids}::int8[]))
ORDER BY e.id
LIMIT ${filter.limit}::int8`;
    const rows = await this.#run('listEvents', query, EVENT_COLUMNS);
    return rows.map((r) => ({
      ...storedFields(r),
      scheduledAt: dateOf(r[9]!, 'scheduled_at'),
      lockedUntil: dateOrNull(r[10]!, 'locked_until'),
      lockedBy: text(r[11]!),
      lastError: text(r[12]!),
      createdAt: dateOf(r[13]!, 'created_at'),
    }));
  }

  async listArchive(params: ListArchiveParams = {}): Promise<ArchivedEventRow[]> {
    const filter = listFilter(params);
    if (filter === undefined) return [];
    const status = params.status ?? null;
    const query = sql`SELECT ${STORED_COLUMNS}, status::text AS status, last_error::text AS error,
  ${ms('created_at')} AS created, ${ms('finished_at')} AS finished
FROM ${this.#archive} a
WHERE (${filter.queue}::text IS NULL OR queue = ${filter.queue}::text)
  AND (${filter.ids}::int8[] IS NULL OR a.id = ANY(${filter.ids}::int8[]))
  AND (${status}::text IS NULL OR status = ${status}::text)
ORDER BY a.id
LIMIT ${filter.limit}::int8`;
    const rows = await this.#run('listArchive', query, ARCHIVE_COLUMNS);
    return rows.map((r) => ({
      ...storedFields(r),
      status: textOf(r[9]!, 'status') as ArchiveStatus,
      lastError: text(r[10]!),
      createdAt: dateOf(r[11]!, 'created_at'),
      finishedAt: dateOf(r[12]!, 'finished_at'),
    }));
  }

  async countByQueue(): Promise<QueueCounts[]> {
    const query = sql`SELECT queue::text AS queue, sum(available)::int8::text AS available, sum(scheduled)::int8::text AS scheduled,
  sum(running)::int8::text AS running, sum(retrying)::int8::text AS retrying,
  sum(archived_completed)::int8::text AS completed, sum(archived_failed)::int8::text AS failed
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
    const rows = await this.#run('countByQueue', query, COUNT_COLUMNS);
    return rows.map((r) => ({
      queue: textOf(r[0]!, 'queue'),
      available: intOf(r[1]!, 'available'),
      scheduled: intOf(r[2]!, 'scheduled'),
      running: intOf(r[3]!, 'running'),
      retrying: intOf(r[4]!, 'retrying'),
      archivedCompleted: intOf(r[5]!, 'completed'),
      archivedFailed: intOf(r[6]!, 'failed'),
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
        await this.#run(
          'notify',
          sql`SELECT pg_notify(${this.channel}::text, ${payload}::text)::text AS n`,
          N_COLUMN,
        );
      },
    });
  }
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

function heldArrays(events: HeldEvent[]): { ids: string; attempts: string } | undefined {
  const ids: string[] = [];
  const attempts: number[] = [];
  for (const e of events) {
    if (!DIGITS.test(e.id) || !Number.isInteger(e.attempt)) continue;
    ids.push(e.id);
    attempts.push(e.attempt);
  }
  return ids.length === 0 ? undefined : { ids: plainTextArray(ids), attempts: pgArray(attempts) };
}

function listFilter(params: {
  queue?: string;
  ids?: string[];
  limit?: number;
}): { queue: string | null; ids: string | null; limit: number | null } | undefined {
  let ids: string | null = null;
  if (params.ids !== undefined) {
    const valid = params.ids.filter((id) => typeof id === 'string' && DIGITS.test(id));
    if (valid.length === 0) return undefined;
    ids = plainTextArray(valid);
  }
  const limit = params.limit === undefined ? null : Math.max(0, Math.floor(params.limit));
  if (limit !== null && !Number.isFinite(limit)) return { queue: params.queue ?? null, ids, limit: null };
  return { queue: params.queue ?? null, ids, limit };
}
