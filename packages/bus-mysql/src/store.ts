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
  type NewEventRow,
  type PruneParams,
  type QueueCounts,
  QueueCountsTally,
  type QueueStore,
  type ReleaseParams,
  type RescueParams,
  type SettleOutcome,
  type SettleParams,
  type SettleResult,
  type StoreCapabilities,
} from 'bus-core';
import { type SQL, type SQLWrapper, sql } from 'drizzle-orm';
import type { MySqlDatabase, MySqlTransactionConfig } from 'drizzle-orm/mysql-core';
import type { MySql2PreparedQueryHKT, MySql2QueryResultHKT } from 'drizzle-orm/mysql2';
import { checkSchema } from './check-schema.js';
import {
  assertUsablePool,
  ER_NET_PACKET_TOO_LARGE,
  ER_WARN_ALLOWED_PACKET_OVERFLOWED,
  formatBytes,
  formatUtc,
  isConnectionError,
  isRetryable,
  isRowId,
  jitter,
  mysqlErrorInfo,
  parseJson,
  parseUtc,
  parseUtcOrNull,
  selectRows,
  storeError,
  toBytes,
} from './internal.js';
import { type BusTableNames, resolveTableNames } from './schema.js';

/**
 * A Drizzle MySQL database or transaction on mysql2: what `publishTxn`, `ctx.tx` and
 * `store.transaction` use. A Drizzle Postgres database does not fit this type.
 */
export type MySqlTx = MySqlDatabase<MySql2QueryResultHKT, MySql2PreparedQueryHKT, any, any>;

/** Options of `mysqlStore`. */
export interface MySqlStoreOptions extends BusTableNames {
  /**
   * How many times a claim, settle, heartbeat, release, rescue or prune transaction is run again
   * after a deadlock (1213) or lock-wait timeout (1205), with random backoff (default 10).
   */
  deadlockRetries?: number;
}

/** What the store learns about the server once (first insert). */
export interface ServerInfo {
  /** MariaDB has `INSERT … RETURNING`; MySQL 8 does not. */
  mariadb: boolean;
  /** `@@max_allowed_packet`: the largest statement the server accepts. */
  maxAllowedPacket: number;
  /** `@@auto_increment_increment`: the step between ids of one multi-row insert (MySQL path). */
  autoIncrementIncrement: number;
}

type Row = Record<string, unknown>;

const READ_COMMITTED: MySqlTransactionConfig = { isolationLevel: 'read committed' };
const MAX_ROWS_PER_STATEMENT = 1000;
const TARGET_STATEMENT_BYTES = 4 * 1024 * 1024;
const STATEMENT_OVERHEAD = 512;
const PACKET_MARGIN = 1024;
const MAX_ERROR_CHARS = 16_000;
/** Dead pooled connections skipped per call (each failed use removes one from the pool). */
const STALE_CONNECTION_RETRIES = 3;

// Ids are read as text (exact beyond 2^53 whatever mysql2's bigNumber options are) under another
// name: an alias `id` would make `ORDER BY id` sort by the text, with a filesort.
const CLAIM_COLUMNS = sql.raw(
  'CAST(id AS CHAR) AS row_id, queue, event_name, handler_name, payload, attempts, max_retries, priority, created_at',
);
const EVENT_COLUMNS = sql.raw(
  'CAST(id AS CHAR) AS row_id, queue, event_name, handler_name, payload, CAST(payload_json AS CHAR) AS payload_json, ' +
    'attempts, max_retries, priority, scheduled_at, locked_until, locked_by, last_error, created_at',
);
const ARCHIVE_COLUMNS = sql.raw(
  'CAST(id AS CHAR) AS row_id, queue, event_name, handler_name, payload, CAST(payload_json AS CHAR) AS payload_json, ' +
    'attempts, max_retries, priority, status, last_error, created_at, finished_at',
);

async function select<T = Row>(db: MySqlTx, query: SQL): Promise<T[]> {
  return (await selectRows(db, query)) as T[];
}

async function write(db: MySqlTx, query: SQL): Promise<{ affectedRows: number; insertId: number | string }> {
  const [header] = (await db.execute(query)) as unknown as [
    { affectedRows: number; insertId: number | string },
  ];
  return header;
}

function idList(ids: Iterable<string>): SQL {
  // Ids are checked by isRowId (decimal digits only) before they get here, so they are inlined as
  // integer literals: exact for 64-bit values and readable in the query log.
  return sql.raw([...ids].join(', '));
}

function positiveInt(value: unknown, name: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new BusError('INVALID_ARGUMENT', `${name} must be a number >= ${min} (got ${String(value)})`, {
      value,
    });
  }
  return Math.floor(value);
}

function micros(ms: number, name: string): number {
  return Math.round(positiveInt(ms, name) * 1000);
}

const MAX_RETRY_DELAY_MS = 100 * 365 * 86_400_000;

/** A retry delay that can never fail the settle: not a number or negative is 0, capped at 100 years. */
function retryMicros(ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) return 0;
  return Math.round(Math.min(ms, MAX_RETRY_DELAY_MS) * 1000);
}

function truncateError(text: unknown): string {
  const s = typeof text === 'string' ? text : String(text);
  return s.length > MAX_ERROR_CHARS ? `${s.slice(0, MAX_ERROR_CHARS)}…` : s;
}

/** Keeps the first entry per id, and only ids that can exist. */
function uniqueById<T extends { id: string }>(items: readonly T[]): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const item of items) {
    if (!isRowId(item.id) || seen.has(item.id)) continue;
    seen.add(item.id);
    out.push(item);
  }
  return out;
}

interface PreparedRow {
  /** The row's `(…)` of the VALUES list as SQL text, every value a literal. */
  values: string;
  bytes: number;
  eventName: string;
}

/**
 * The QueueStore on MySQL 8.0+ / MariaDB 10.6+ through Drizzle and mysql2. Every write goes by
 * primary key; claim, settle and the other lease changes run in short READ COMMITTED
 * transactions that are retried on deadlock.
 */
export class MySqlQueueStore implements QueueStore<MySqlTx> {
  /** No LISTEN/NOTIFY on MySQL: other processes find new rows by polling (`sleepInterval`). */
  readonly capabilities: StoreCapabilities = Object.freeze({ notify: false, transactionalCompletion: true });
  /** The table names in use. */
  readonly tables: Readonly<Required<BusTableNames>>;
  readonly #db: MySqlTx;
  readonly #events: SQLWrapper;
  readonly #archive: SQLWrapper;
  readonly #retries: number;
  #info: Promise<ServerInfo> | undefined;

  constructor(db: MySqlTx, options: MySqlStoreOptions = {}, serverInfo?: ServerInfo) {
    if (
      typeof db !== 'object' ||
      db === null ||
      typeof (db as { execute?: unknown }).execute !== 'function'
    ) {
      throw new BusError('INVALID_CONFIG', 'mysqlStore needs a Drizzle MySQL database (drizzle-orm/mysql2)', {
        value: db,
      });
    }
    assertUsablePool(db);
    this.#db = db;
    this.tables = Object.freeze(resolveTableNames(options));
    this.#events = sql.identifier(this.tables.eventsTable);
    this.#archive = sql.identifier(this.tables.archiveTable);
    const retries = options.deadlockRetries ?? 10;
    if (!Number.isInteger(retries) || retries < 0 || retries > 1000) {
      throw new BusError(
        'INVALID_CONFIG',
        `deadlockRetries must be an integer from 0 to 1000 (got ${retries})`,
        {
          value: retries,
        },
      );
    }
    this.#retries = retries;
    if (serverInfo) this.#info = Promise.resolve(serverInfo);
  }

  async insert(params: InsertParams<MySqlTx>): Promise<string[]> {
    try {
      return await this.#insertRows(params);
    } catch (error) {
      throw await this.#explainOversize(error, params.rows);
    }
  }

  // A statement over max_allowed_packet can also end in a reset connection instead of error 1153
  // (the server hangs up while the client is still sending): check the fresh limit before
  // reporting a bare connection error.
  async #explainOversize(error: unknown, rows: NewEventRow[]): Promise<unknown> {
    if (!isConnectionError(error) || !Array.isArray(rows)) return error;
    this.#info = undefined;
    let packet: number;
    try {
      packet = (await this.serverInfo()).maxAllowedPacket - PACKET_MARGIN;
    } catch {
      return error;
    }
    const largest = rows.reduce((max, row) => {
      try {
        return Math.max(max, prepareRow(row).bytes + STATEMENT_OVERHEAD);
      } catch {
        return max;
      }
    }, 0);
    if (largest <= packet) return error;
    return new BusError(
      'PUBLISH_FAILED',
      `the server closed the connection on an insert of about ${formatBytes(largest)}, larger than its ` +
        `max_allowed_packet of ${formatBytes(packet + PACKET_MARGIN)}; raise max_allowed_packet on the server or publish smaller payloads`,
      { cause: error, value: largest },
    );
  }

  async #insertRows(params: InsertParams<MySqlTx>): Promise<string[]> {
    const rows = params.rows;
    if (!Array.isArray(rows)) {
      throw new BusError('INVALID_ARGUMENT', 'insert needs an array of rows', { value: rows });
    }
    if (rows.length === 0) return [];
    const tx = params.tx;
    // Inside the caller's transaction ask through it: its connection may be the last one free.
    const info = await this.serverInfo(tx);
    const chunks = this.#chunk(rows.map(prepareRow), info);
    const run = async (db: MySqlTx): Promise<string[]> => {
      const ids: string[] = [];
      for (const chunk of chunks) ids.push(...(await this.#insertChunk(db, chunk, info)));
      return ids;
    };
    const mapError = (error: unknown): BusError => {
      const mapped = insertError(error);
      // The server's max_allowed_packet was lowered since it was read: read it again next time.
      if (mapped.message.includes('max_allowed_packet')) this.#info = undefined;
      return mapped;
    };
    if (tx !== undefined) {
      try {
        return await run(tx);
      } catch (error) {
        throw mapError(error);
      }
    }
    if (chunks.length === 1) return this.#retry(() => run(this.#db), mapError);
    return this.#transact('insert', run, mapError);
  }

  async claim(params: ClaimParams): Promise<ClaimedEvent[]> {
    const limit = positiveInt(params.limit, 'limit');
    if (limit === 0) return [];
    const lease = micros(params.leaseMs, 'leaseMs');
    const workerId = String(params.workerId);
    return this.#transact('claim', async (tx) => {
      // The locking read must walk claim_idx in order and stop at LIMIT: a plan that sorts reads,
      // and FOR UPDATE locks, every available row of the queue, and concurrent claimers then skip
      // them all. claim_idx is (queue, locked_until, priority, scheduled_at, id): for one queue's
      // unleased rows it is already in claim order, and FORCE INDEX keeps the optimizer off
      // locked_until_idx whatever the statistics say (a test checks the plan). The read returns
      // the rows themselves, so the update by primary key is the only other statement.
      const rows = await select(
        tx,
        sql`SELECT ${CLAIM_COLUMNS} FROM ${this.#events} FORCE INDEX (claim_idx)
            WHERE queue = ${params.queue} AND locked_until IS NULL AND scheduled_at <= UTC_TIMESTAMP(6)
            ORDER BY priority, scheduled_at, id
            LIMIT ${sql.raw(String(limit))}
            FOR UPDATE SKIP LOCKED`,
      );
      if (rows.length === 0) return [];
      const ids = rows.map((r) => String(r.row_id));
      await tx.execute(
        sql`UPDATE ${this.#events}
            SET attempts = attempts + 1, locked_by = ${workerId},
                locked_until = UTC_TIMESTAMP(6) + INTERVAL ${lease} MICROSECOND
            WHERE id IN (${idList(ids)})`,
      );
      return rows.map((r, i) => ({
        id: ids[i]!,
        queue: String(r.queue),
        eventName: String(r.event_name),
        handlerName: String(r.handler_name),
        payload: toBytes(r.payload),
        // Read before the update, which counted this claim.
        attempts: Number(r.attempts) + 1,
        maxRetries: Number(r.max_retries),
        priority: Number(r.priority),
        createdAt: parseUtc(r.created_at),
      }));
    });
  }

  async settle(params: SettleParams<MySqlTx>): Promise<SettleResult> {
    const outcomes = uniqueById(params.outcomes ?? []);
    if (outcomes.length === 0) return { settled: [] };
    const workerId = String(params.workerId);
    const tx = params.tx;
    if (tx !== undefined) {
      // Transactional completion: the caller's transaction, no inner one and no retry (a deadlock
      // rolled the caller's work back too).
      try {
        return { settled: await this.#settleIn(tx, workerId, outcomes) };
      } catch (error) {
        throw storeError('settle', error);
      }
    }
    if (outcomes.every((o) => o.kind === 'completed' && !o.archive)) {
      const info = await this.serverInfo();
      if (info.mariadb) {
        // The common case in one autocommit statement (one round trip instead of five): delete the
        // rows whose fence holds, in id order, and learn which they were from RETURNING.
        const pairs = sql.raw(outcomes.map((o) => `(${o.id}, ${Math.trunc(o.attempt)})`).join(', '));
        return {
          settled: await this.#retry(
            async () => {
              const rows = await select(
                this.#db,
                sql`DELETE FROM ${this.#events}
                  WHERE id IN (${idList(outcomes.map((o) => o.id))}) AND (id, attempts) IN (${pairs})
                    AND BINARY locked_by = ${workerId} AND locked_until IS NOT NULL
                  RETURNING CAST(id AS CHAR) AS row_id`,
              );
              return rows.map((r) => String(r.row_id));
            },
            (error) => storeError('settle', error),
          ),
        };
      }
    }
    return { settled: await this.#transact('settle', (t) => this.#settleIn(t, workerId, outcomes)) };
  }

  async extendLeases(params: ExtendLeasesParams): Promise<string[]> {
    const events = uniqueById(params.events ?? []);
    if (events.length === 0) return [];
    const lease = micros(params.leaseMs, 'leaseMs');
    return this.#transact('extendLeases', async (tx) => {
      const held = await this.#lockHeld(tx, String(params.workerId), events);
      if (held.size === 0) return [];
      await tx.execute(
        sql`UPDATE ${this.#events} SET locked_until = UTC_TIMESTAMP(6) + INTERVAL ${lease} MICROSECOND
            WHERE id IN (${idList(held)})`,
      );
      return events.filter((e) => held.has(e.id)).map((e) => e.id);
    });
  }

  async release(params: ReleaseParams): Promise<string[]> {
    const events = uniqueById(params.events ?? []);
    if (events.length === 0) return [];
    return this.#transact('release', async (tx) => {
      const held = await this.#lockHeld(tx, String(params.workerId), events);
      if (held.size === 0) return [];
      await tx.execute(
        sql`UPDATE ${this.#events}
            SET locked_until = NULL, locked_by = NULL, attempts = GREATEST(attempts - 1, 0)
            WHERE id IN (${idList(held)})`,
      );
      return events.filter((e) => held.has(e.id)).map((e) => e.id);
    });
  }

  async rescue(params: RescueParams): Promise<number> {
    const limit = positiveInt(params.limit, 'limit');
    if (limit === 0) return 0;
    const error = truncateError(params.error);
    return this.#transact('rescue', async (tx) => {
      const rows = await select(
        tx,
        sql`SELECT CAST(id AS CHAR) AS row_id FROM ${this.#events} FORCE INDEX (locked_until_idx)
            WHERE locked_until < UTC_TIMESTAMP(6)
            ORDER BY locked_until
            LIMIT ${sql.raw(String(limit))}
            FOR UPDATE SKIP LOCKED`,
      );
      if (rows.length === 0) return 0;
      await tx.execute(
        sql`UPDATE ${this.#events} SET locked_until = NULL, locked_by = NULL, last_error = ${error}
            WHERE id IN (${idList(rows.map((r) => String(r.row_id)))})`,
      );
      return rows.length;
    });
  }

  async prune(params: PruneParams): Promise<number> {
    const limit = positiveInt(params.limit, 'limit');
    if (limit === 0) return 0;
    const age = micros(params.olderThanMs, 'olderThanMs');
    return this.#transact('prune', async (tx) => {
      const result = await write(
        tx,
        sql`DELETE FROM ${this.#archive}
            WHERE finished_at < UTC_TIMESTAMP(6) - INTERVAL ${age} MICROSECOND
            ORDER BY finished_at
            LIMIT ${sql.raw(String(limit))}`,
      );
      return result.affectedRows;
    });
  }

  async now(): Promise<Date> {
    const [row] = await this.#read('now', () => select(this.#db, sql`SELECT UTC_TIMESTAMP(6) AS now`));
    return parseUtc(row?.now);
  }

  checkSchema(): Promise<void> {
    return checkSchema(
      (query) => this.#read('checkSchema', () => select<{ kind: string; name: string }>(this.#db, query)),
      this.tables,
    );
  }

  transaction<T>(fn: (tx: MySqlTx) => Promise<T>): Promise<T> {
    return this.#db.transaction((tx) => fn(tx));
  }

  async listEvents(params: ListEventsParams = {}): Promise<EventRow[]> {
    const where = this.#filters(params);
    if (where === null) return [];
    const query = sql`SELECT ${EVENT_COLUMNS} FROM ${this.#events} ${where} ORDER BY id ${limitClause(params.limit)}`;
    const rows = await this.#read('listEvents', () => select(this.#db, query));
    return rows.map((r) => ({
      ...storedFields(r),
      scheduledAt: parseUtc(r.scheduled_at),
      lockedUntil: parseUtcOrNull(r.locked_until),
      lockedBy: r.locked_by === null ? null : String(r.locked_by),
      lastError: r.last_error === null ? null : String(r.last_error),
      createdAt: parseUtc(r.created_at),
    }));
  }

  async listArchive(params: ListArchiveParams = {}): Promise<ArchivedEventRow[]> {
    const where = this.#filters(params, params.status);
    if (where === null) return [];
    const query = sql`SELECT ${ARCHIVE_COLUMNS} FROM ${this.#archive} ${where} ORDER BY id ${limitClause(params.limit)}`;
    const rows = await this.#read('listArchive', () => select(this.#db, query));
    return rows.map((r) => ({
      ...storedFields(r),
      status: String(r.status) as ArchiveStatus,
      lastError: r.last_error === null ? null : String(r.last_error),
      createdAt: parseUtc(r.created_at),
      finishedAt: parseUtc(r.finished_at),
    }));
  }

  async countByQueue(): Promise<QueueCounts[]> {
    const [live, archived] = await this.#read('countByQueue', async () => [
      await select(
        this.#db,
        sql`SELECT queue,
                   SUM(locked_until IS NULL AND scheduled_at <= UTC_TIMESTAMP(6)) AS available,
                   SUM(locked_until IS NULL AND scheduled_at > UTC_TIMESTAMP(6)) AS scheduled,
                   SUM(locked_until IS NOT NULL) AS running,
                   SUM(last_error IS NOT NULL) AS retrying
            FROM ${this.#events} GROUP BY queue`,
      ),
      await select(
        this.#db,
        sql`SELECT queue, status, COUNT(*) AS n FROM ${this.#archive} GROUP BY queue, status`,
      ),
    ]);
    const tally = new QueueCountsTally();
    for (const r of live) {
      const c = tally.of(String(r.queue));
      c.available = Number(r.available);
      c.scheduled = Number(r.scheduled);
      c.running = Number(r.running);
      c.retrying = Number(r.retrying);
    }
    for (const r of archived) {
      const c = tally.of(String(r.queue));
      if (r.status === 'completed') c.archivedCompleted = Number(r.n);
      else c.archivedFailed = Number(r.n);
    }
    return tally.list();
  }

  /**
   * The server's flavour, `max_allowed_packet` and id step, read once through `db` (or the store's
   * database) and cached.
   */
  serverInfo(db?: MySqlTx): Promise<ServerInfo> {
    if (this.#info === undefined) {
      const query = sql`SELECT VERSION() AS version, @@max_allowed_packet AS max_allowed_packet,
                               @@auto_increment_increment AS increment`;
      const loading = this.#read('reading the server settings', () => select(db ?? this.#db, query)).then(
        ([row]) => ({
          mariadb: /mariadb/i.test(String(row?.version)),
          maxAllowedPacket: Number(row?.max_allowed_packet) || 4 * 1024 * 1024,
          autoIncrementIncrement: Number(row?.increment) || 1,
        }),
        (error: unknown) => {
          this.#info = undefined;
          throw error;
        },
      );
      this.#info = loading;
    }
    return this.#info;
  }

  // ---------------------------------------------------------------------------------------------

  async #insertChunk(db: MySqlTx, chunk: PreparedRow[], info: ServerInfo): Promise<string[]> {
    // One text chunk, not a Drizzle fragment per value: building 9 000 fragments for a 1 000-row
    // insert cost more CPU than the database spent on it.
    const values = new Array<string>(chunk.length);
    for (let i = 0; i < chunk.length; i++) values[i] = chunk[i]!.values;
    const statement = sql.raw(
      `INSERT INTO \`${this.tables.eventsTable}\` (queue, event_name, handler_name, payload, payload_json, max_retries, priority, scheduled_at, created_at) VALUES ${values.join(', ')}`,
    );
    if (info.mariadb) {
      // RETURNING gives the ids in VALUES order whatever innodb_autoinc_lock_mode is.
      const rows = await select<{ row_id: unknown }>(
        db,
        sql`${statement} RETURNING CAST(id AS CHAR) AS row_id`,
      );
      if (rows.length !== chunk.length) {
        throw new BusError('STORE_FAILED', `insert returned ${rows.length} ids for ${chunk.length} rows`);
      }
      return rows.map((r) => String(r.row_id));
    }
    // MySQL has no INSERT … RETURNING. A multi-row INSERT … VALUES is a "simple insert": InnoDB
    // reserves its ids in one block in every innodb_autoinc_lock_mode (gaps only occur in bulk
    // inserts such as INSERT … SELECT), so they are insertId, insertId + step, …
    const result = await write(db, statement);
    if (result.affectedRows !== chunk.length) {
      throw new BusError('STORE_FAILED', `insert wrote ${result.affectedRows} rows for ${chunk.length}`);
    }
    const first = BigInt(result.insertId);
    const step = BigInt(info.autoIncrementIncrement);
    return chunk.map((_, i) => String(first + BigInt(i) * step));
  }

  #chunk(rows: PreparedRow[], info: ServerInfo): PreparedRow[][] {
    const packet = info.maxAllowedPacket - PACKET_MARGIN;
    const target = Math.min(TARGET_STATEMENT_BYTES, packet);
    const chunks: PreparedRow[][] = [];
    let current: PreparedRow[] = [];
    let bytes = STATEMENT_OVERHEAD;
    for (const row of rows) {
      if (row.bytes + STATEMENT_OVERHEAD > packet) {
        throw new BusError(
          'PUBLISH_FAILED',
          `a row of event ${row.eventName} needs a statement of about ${formatBytes(row.bytes + STATEMENT_OVERHEAD)} ` +
            `(payloads above 64 KiB are sent base64-encoded), larger than the server's max_allowed_packet of ` +
            `${formatBytes(info.maxAllowedPacket)}; raise max_allowed_packet on the server or publish a smaller payload`,
          { value: row.bytes },
        );
      }
      if (current.length > 0 && (bytes + row.bytes > target || current.length >= MAX_ROWS_PER_STATEMENT)) {
        chunks.push(current);
        current = [];
        bytes = STATEMENT_OVERHEAD;
      }
      current.push(row);
      bytes += row.bytes;
    }
    if (current.length > 0) chunks.push(current);
    return chunks;
  }

  async #settleIn(tx: MySqlTx, workerId: string, outcomes: SettleOutcome[]): Promise<string[]> {
    const held = await this.#lockHeld(tx, workerId, outcomes);
    const mine = outcomes.filter((o) => held.has(o.id));
    if (mine.length === 0) return [];
    const terminal = mine.filter((o) => o.kind !== 'retry');
    const archived = terminal.filter((o) => o.archive);
    const retries = mine.filter((o) => o.kind === 'retry');
    if (archived.length > 0) {
      const failed = archived.filter((o) => o.kind === 'failed');
      const status =
        failed.length > 0
          ? sql`CASE WHEN id IN (${idList(failed.map((o) => o.id))}) THEN 'failed' ELSE 'completed' END`
          : sql`'completed'`;
      const lastError =
        failed.length > 0
          ? sql`CASE id ${sql.join(
              failed.map((o) => sql`WHEN ${sql.raw(o.id)} THEN ${truncateError(o.error)}`),
              sql` `,
            )} ELSE last_error END`
          : sql`last_error`;
      await tx.execute(
        sql`INSERT INTO ${this.#archive}
              (id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries, priority,
               status, last_error, created_at, finished_at)
            SELECT id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries, priority,
                   ${status}, ${lastError}, created_at, UTC_TIMESTAMP(6)
            FROM ${this.#events} WHERE id IN (${idList(archived.map((o) => o.id))})`,
      );
    }
    if (terminal.length > 0) {
      await tx.execute(sql`DELETE FROM ${this.#events} WHERE id IN (${idList(terminal.map((o) => o.id))})`);
    }
    if (retries.length > 0) {
      const delay = sql.join(
        retries.map((o) => sql`WHEN ${sql.raw(o.id)} THEN ${retryMicros(o.delayMs)}`),
        sql` `,
      );
      const error = sql.join(
        retries.map((o) => sql`WHEN ${sql.raw(o.id)} THEN ${truncateError(o.error)}`),
        sql` `,
      );
      await tx.execute(
        sql`UPDATE ${this.#events}
            SET scheduled_at = UTC_TIMESTAMP(6) + INTERVAL (CASE id ${delay} END) MICROSECOND,
                locked_until = NULL, locked_by = NULL, last_error = CASE id ${error} END
            WHERE id IN (${idList(retries.map((o) => o.id))})`,
      );
    }
    return mine.map((o) => o.id);
  }

  /**
   * Locks the rows this worker holds for the given attempts (`FOR UPDATE`, in id order) and
   * returns their ids: the fence. Only this transaction can change them until it ends.
   */
  async #lockHeld(
    tx: MySqlTx,
    workerId: string,
    events: readonly (HeldEvent | SettleOutcome)[],
  ): Promise<Set<string>> {
    const want = new Map<string, number>();
    for (const e of events) if (isRowId(e.id) && !want.has(e.id)) want.set(e.id, e.attempt);
    if (want.size === 0) return new Set();
    const rows = await select(
      tx,
      sql`SELECT CAST(id AS CHAR) AS row_id, attempts, locked_by FROM ${this.#events}
          WHERE id IN (${idList(want.keys())}) AND locked_by = ${workerId} AND locked_until IS NOT NULL
          ORDER BY id FOR UPDATE`,
    );
    // Compare in JavaScript too: the column's PAD SPACE collation ignores trailing spaces.
    return new Set(
      rows
        .filter((r) => r.locked_by === workerId && Number(r.attempts) === want.get(String(r.row_id)))
        .map((r) => String(r.row_id)),
    );
  }

  #filters(params: { queue?: string; ids?: string[] }, status?: ArchiveStatus): SQL | null {
    const conditions: SQL[] = [];
    if (params.queue !== undefined) conditions.push(sql`queue = ${params.queue}`);
    if (params.ids !== undefined) {
      const ids = [...new Set(params.ids.filter(isRowId))];
      if (ids.length === 0) return null;
      conditions.push(sql`id IN (${idList(ids)})`);
    }
    if (status !== undefined) conditions.push(sql`status = ${status}`);
    return conditions.length === 0 ? sql`` : sql`WHERE ${sql.join(conditions, sql` AND `)}`;
  }

  /**
   * Runs `fn` in a READ COMMITTED transaction, again after a deadlock or lock-wait timeout (InnoDB
   * rolled it back), and again when the pool handed out a connection that was already dead (the
   * server killed it while idle): the failure came before `fn` ran, so nothing was done.
   */
  async #transact<T>(
    operation: string,
    fn: (tx: MySqlTx) => Promise<T>,
    mapError: (error: unknown) => BusError = (error) => storeError(operation, error),
  ): Promise<T> {
    let deadConnections = 0;
    for (let attempt = 1; ; attempt++) {
      let entered = false;
      try {
        return await this.#db.transaction((tx) => {
          entered = true;
          return fn(tx);
        }, READ_COMMITTED);
      } catch (error) {
        if (attempt <= this.#retries && isRetryable(error)) {
          await jitter(attempt);
          continue;
        }
        if (!entered && deadConnections < STALE_CONNECTION_RETRIES && isConnectionError(error)) {
          deadConnections++;
          continue;
        }
        throw mapError(error);
      }
    }
  }

  /** A statement outside a transaction: again after a deadlock or lock-wait timeout. */
  async #retry<T>(fn: () => Promise<T>, mapError: (error: unknown) => BusError): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (attempt <= this.#retries && isRetryable(error)) {
          await jitter(attempt);
          continue;
        }
        throw mapError(error);
      }
    }
  }

  /** A read: again when the connection was dead (reading twice is harmless). */
  async #read<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (attempt < STALE_CONNECTION_RETRIES && isConnectionError(error)) continue;
        throw storeError(operation, error);
      }
    }
  }
}

function limitClause(limit: number | undefined): SQL {
  if (limit === undefined) return sql``;
  return sql`LIMIT ${sql.raw(String(positiveInt(limit, 'limit')))}`;
}

function prepareRow(row: NewEventRow): PreparedRow {
  if (typeof row !== 'object' || row === null || !(row.payload instanceof Uint8Array)) {
    throw new BusError('INVALID_ARGUMENT', 'each row needs a Uint8Array payload', { value: row });
  }
  for (const field of ['maxRetries', 'priority'] as const) {
    if (!Number.isInteger(row[field])) {
      throw new BusError('INVALID_ARGUMENT', `row.${field} must be an integer (got ${String(row[field])})`, {
        value: row[field],
      });
    }
  }
  const payload = bytesLiteral(
    Buffer.from(row.payload.buffer, row.payload.byteOffset, row.payload.byteLength),
  );
  let due: string;
  let dueBytes = 20;
  if (row.runAt !== null && row.runAt !== undefined) {
    due = quote(formatUtc(row.runAt));
    dueBytes = 30;
  } else if (row.delayMs > 0) {
    due = `UTC_TIMESTAMP(6) + INTERVAL ${micros(row.delayMs, 'delayMs')} MICROSECOND`;
    dueBytes = 60;
  } else {
    due = 'UTC_TIMESTAMP(6)';
  }
  const json = row.payloadJson ?? null;
  const values = `(${quote(String(row.queue))}, ${quote(String(row.eventName))}, ${quote(String(row.handlerName))}, ${payload}, ${
    json === null ? 'NULL' : quote(json)
  }, ${row.maxRetries}, ${row.priority}, ${due}, UTC_TIMESTAMP(6))`;
  const bytes =
    120 +
    dueBytes +
    payload.length +
    quotedBytes(String(row.queue)) +
    quotedBytes(String(row.eventName)) +
    quotedBytes(String(row.handlerName)) +
    (json === null ? 4 : quotedBytes(json));
  return { values, bytes, eventName: String(row.eventName) };
}

// Literals that no `sql_mode` can misread (backslash escaping, as mysql2 does, breaks under
// NO_BACKSLASH_ESCAPES): a string without backslashes or NULs only needs its quotes doubled;
// anything else travels as its UTF-8 bytes in base64.
const PLAIN_TEXT = /^[^\\\0]*$/;

/** A string as an SQL literal. */
function quote(value: string): string {
  if (PLAIN_TEXT.test(value)) return `'${value.replaceAll("'", "''")}'`;
  return `CONVERT(FROM_BASE64('${Buffer.from(value, 'utf8').toString('base64')}') USING utf8mb4)`;
}

/** Bytes `quote(value)` takes in the statement, at most. */
function quotedBytes(value: string): number {
  return 2 * Buffer.byteLength(value, 'utf8') + 40;
}

const HEX_LIMIT = 64 * 1024;

/**
 * Bytes as an SQL literal: hex for small payloads (no function call on the server), base64 for
 * large ones (4/3 of the size where hex doubles it, so a 10 MB payload fits MariaDB's default
 * 16 MiB max_allowed_packet).
 */
function bytesLiteral(bytes: Buffer): string {
  if (bytes.byteLength <= HEX_LIMIT) return `X'${bytes.toString('hex')}'`;
  return `FROM_BASE64('${bytes.toString('base64')}')`;
}

function insertError(error: unknown): BusError {
  const { errno, message } = mysqlErrorInfo(error);
  if (errno === ER_NET_PACKET_TOO_LARGE || errno === ER_WARN_ALLOWED_PACKET_OVERFLOWED) {
    return new BusError(
      'PUBLISH_FAILED',
      `the server refused the insert as larger than its max_allowed_packet (${message}); ` +
        'raise max_allowed_packet on the server or publish smaller payloads',
      { cause: mysqlErrorInfo(error).error, value: errno },
    );
  }
  return storeError('insert', error);
}

// The columns the live and the archive table share, as read back by listEvents/listArchive.
function storedFields(r: Record<string, unknown>) {
  return {
    id: String(r.row_id),
    queue: String(r.queue),
    eventName: String(r.event_name),
    handlerName: String(r.handler_name),
    payload: toBytes(r.payload),
    payloadJson: parseJson(r.payload_json),
    attempts: Number(r.attempts),
    maxRetries: Number(r.max_retries),
    priority: Number(r.priority),
  };
}

/**
 * Creates the MySQL/MariaDB `QueueStore` on a Drizzle database (drizzle-orm/mysql2, on a pool).
 * Tables default to `bus_events` and `bus_events_archive`; create them with `migrate(db)` or with
 * your own drizzle-kit migrations from `bus-mysql/schema`.
 *
 * @example
 * import mysql from 'mysql2/promise';
 * import { drizzle } from 'drizzle-orm/mysql2';
 * import { createBus } from 'bus-core';
 * import { migrate, mysqlStore } from 'bus-mysql';
 *
 * const db = drizzle(mysql.createPool(process.env.DATABASE_URL!));
 * await migrate(db);
 * const bus = createBus({ store: mysqlStore(db), queues: [{ queueName: 'email', workers: 5, batchSize: 5, sleepInterval: 1000, archivePolicy: 'failed' }] });
 */
export function mysqlStore(db: MySqlTx, options?: MySqlStoreOptions): MySqlQueueStore {
  return new MySqlQueueStore(db, options);
}
