import {
  type ClaimCandidate,
  type ClaimedEvent,
  type ClaimParams,
  claimWithLimits,
  type LeasedCandidate,
  type LimitedClaimSteps,
  type RecentStarts,
  type RunningCount,
} from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import type { MySqlTx } from '../client.js';
import { idList, intLiteral, micros, quote, quotedBytes, text } from '../encode.js';
import { CLAIM_COLUMNS, claimedEvent, textOrNull } from '../rows.js';
import { type Row, type StoreContext, select, transact, write } from '../run.js';
import { claimIn, handlersFilter, leaseRows, readyRowsQuery } from './claim.js';
import { LIMITS_COLUMNS, limitsOf, storedLimits } from './limits.js';

/** Bytes of one statement of `keysAndRows` rows at most (well under any max_allowed_packet); more keys take more statements. */
const KEYED_STATEMENT_BYTES = 1024 * 1024;

const CANDIDATE_COLUMNS = sql.raw('CAST(id AS CHAR) AS row_id, partition_key');

// The claimer's rows whose handlers ended (ClaimParams.finished): not running any more.
function notFinished(params: ClaimParams): SQL {
  const ids = params.finished ?? [];
  if (ids.length === 0) return sql``;
  return sql` AND NOT (CAST(locked_by AS BINARY) = ${text(params.workerId)} AND id IN (${idList(ids)}))`;
}

// The running counts lockLimits read as JSON ({"n": groups, "g": [[key, count], …]}; MySQL 8 and
// MariaDB both give it as text here, the store reading every cell raw), or `undefined` when it is
// not whole: MariaDB cuts JSON_ARRAYAGG at group_concat_max_len (1 MB by default), and a cut list
// would undercount, so then countRunning reads the counts with a statement of their own.
function runningCounts(json: string | Buffer | null): RunningCount[] | undefined {
  if (json === null) return undefined;
  try {
    const { n, g } = JSON.parse(String(json)) as {
      n: number | string;
      g: [string | null, number | string][] | null;
    };
    const groups = g ?? [];
    if (groups.length !== Number(n)) return undefined;
    return groups.map(([key, count]) => ({ key, count: Number(count) }));
  } catch {
    return undefined;
  }
}

function candidate(r: Row): ClaimCandidate {
  return { id: String(r.row_id), partitionKey: textOrNull(r.partition_key) };
}

/**
 * `QueueStore.claim` with `ClaimParams.limited`: `claimWithLimits` over the steps below in one
 * READ COMMITTED transaction (the store's own kind), and the plain claim's statements in the
 * same transaction when the queue has no limits row. The plain claim never comes here.
 */
export async function claimLimited(ctx: StoreContext, params: ClaimParams): Promise<ClaimedEvent[]> {
  return transact(
    ctx,
    'claim',
    async (tx) =>
      (await claimWithLimits(limitedSteps(tx, ctx, params), params.limit)) ?? claimIn(tx, ctx, params),
  );
}

/**
 * The statements of one limited claim (`LimitedClaimSteps`) in `tx`, bound to the claim's queue,
 * handlers, holder and lease. Every time is the database's (`UTC_TIMESTAMP(6)`).
 */
export function limitedSteps(tx: MySqlTx, ctx: StoreContext, params: ClaimParams): LimitedClaimSteps {
  const queue = text(params.queue);
  const starts = sql.identifier(ctx.tables.startsTable);
  // The leased rows per key, as countRunning reads them; also read by lockLimits' statement.
  const runningQuery = sql`SELECT partition_key, COUNT(*) AS n FROM ${ctx.events} FORCE INDEX (claim_idx)
            WHERE queue = ${queue} AND locked_until IS NOT NULL${notFinished(params)}
            GROUP BY partition_key ORDER BY NULL`;
  // The count lockLimits read with the lock, for the countRunning called after it.
  let countedWithLock: Promise<RunningCount[] | undefined> | undefined;
  return {
    lockLimits() {
      // FOR UPDATE: the limited claims of the queue run one after the other from here, so the
      // counts below cannot change under this one (a plain claim never takes this lock). The
      // leased rows are counted in the same statement (a round trip saved), in a subquery of the
      // locked row: it runs once that row is read, so after the lock is held, and InnoDB's READ
      // COMMITTED reads it with a view taken then (test/flow.test.ts holds a claim at the lock
      // while another transaction leases and commits, and checks the claim counted those rows).
      const locking = select(
        tx,
        sql`SELECT ${LIMITS_COLUMNS},
              (SELECT JSON_OBJECT('n', COUNT(*), 'g', JSON_ARRAYAGG(JSON_ARRAY(CONVERT(g.partition_key USING utf8mb4), g.n)))
               FROM (${runningQuery}) g WHERE l.queue IS NOT NULL) AS running
            FROM ${limitsOf(ctx)} l WHERE queue = ${queue} FOR UPDATE`,
      ).then(([row]) => (row === undefined ? null : row));
      countedWithLock = locking.then((row) => (row === null ? [] : runningCounts(row.running ?? null)));
      countedWithLock.catch(() => {});
      return locking.then((row) =>
        row === null ? null : { limits: storedLimits(row), keyCursor: textOrNull(row.key_cursor) },
      );
    },

    async countRunning(): Promise<RunningCount[]> {
      // Read by lockLimits when it ran before (claimWithLimits calls the two together). The leased
      // rows sit together in claim_idx (queue, locked_until NOT NULL): the read is as long as the
      // queue's leases, which the limits keep short, never its backlog. ORDER BY NULL: MariaDB
      // would sort the groups, which nothing here needs.
      const counted = await countedWithLock;
      if (counted !== undefined) return counted;
      const rows = await select(tx, runningQuery);
      return rows.map((r) => ({ key: textOrNull(r.partition_key), count: Number(r.n) }));
    },

    async recentStarts(windowMs: number): Promise<RecentStarts[]> {
      // Ages in whole ms rounded down (never over-stated), and never below 0 (a start recorded
      // by a statement that began a moment after this one). FORCE INDEX: the window is one
      // range of the queue's starts, whatever the table's statistics say while it is small.
      const rows = await select(
        tx,
        sql`SELECT partition_key, GREATEST(0, TIMESTAMPDIFF(MICROSECOND, started_at, UTC_TIMESTAMP(6))) DIV 1000 AS age_ms,
                   SUM(n) AS n
            FROM ${starts} FORCE INDEX (queue_started_idx)
            WHERE queue = ${queue} AND started_at > UTC_TIMESTAMP(6) - INTERVAL ${intLiteral(micros(windowMs))} MICROSECOND
            GROUP BY partition_key, age_ms ORDER BY NULL`,
      );
      return rows.map((r) => ({
        key: textOrNull(r.partition_key),
        ageMs: Number(r.age_ms),
        count: Number(r.n),
      }));
    },

    async leaseReady({ limit }): Promise<LeasedCandidate[]> {
      // The plain claim's two statements (claim_idx in claim order, FOR UPDATE SKIP LOCKED, then
      // the update by primary key), the keys read with the rows.
      const rows = await select(tx, readyRowsQuery(ctx, params, limit, sql``, CLAIM_COLUMNS));
      if (rows.length === 0) return [];
      await leaseRows(tx, ctx, params, rows);
      return rows.map((r) => {
        const event = claimedEvent(r);
        return { event, partitionKey: event.partitionKey ?? null };
      });
    },

    async unkeyedRows({ limit, within }): Promise<ClaimCandidate[]> {
      // The rows without a key among the first `within` in claim order (the contract's bounded
      // read, the same on every store): claim_idx walked in order and stopped at `within`, so
      // neither a long run of keyed rows nor many unkeyed ones make it a scan of the queue. A
      // plain read: a locking one would lock the whole window; `lease` locks and re-checks the
      // ones taken.
      const rows = await select(
        tx,
        sql`SELECT row_id, partition_key FROM (
              SELECT CAST(id AS CHAR) AS row_id, id, partition_key, priority, scheduled_at
              FROM ${ctx.events} FORCE INDEX (claim_idx)
              WHERE queue = ${queue} AND locked_until IS NULL
                AND scheduled_at <= UTC_TIMESTAMP(6) AND ${handlersFilter(params)}
              ORDER BY priority, scheduled_at, id
              LIMIT ${intLiteral(within)}
            ) w
            WHERE partition_key IS NULL
            ORDER BY priority, scheduled_at, id
            LIMIT ${intLiteral(limit)}`,
      );
      return rows.map(candidate);
    },

    async keysAndRows({ after, max, skip, perKey }) {
      // One row a key (keyConcurrency 1, serial per key): the keys and each key's first row in one
      // statement, a round trip fewer.
      if (perKey === 1) {
        const rows = await select(tx, keysWithFirstRowQuery(ctx, params, queue, after, max, skip));
        return {
          keys: rows.map((r) => String(r.partition_key)),
          rows: rows.filter((r) => r.row_id !== null).map(candidate),
        };
      }
      const keys = await readyKeys(tx, ctx, queue, after, max);
      const skipped = new Set(skip);
      const wanted = keys.filter((k) => !skipped.has(k));
      const rows: Row[] = [];
      if (wanted.length > 0) {
        for (const statement of keyedStatements(ctx, params, wanted, perKey))
          rows.push(...(await select(tx, statement)));
      }
      // A UNION ALL promises no order: each key's rows are put in (due time, id) order here
      // (DATETIME(6) text sorts as the times do; ids as integers).
      rows.sort((a, b) => {
        const [p, q] = [String(a.scheduled_at), String(b.scheduled_at)];
        if (p !== q) return p < q ? -1 : 1;
        const x = BigInt(String(a.row_id));
        const y = BigInt(String(b.row_id));
        return x < y ? -1 : x > y ? 1 : 0;
      });
      return { keys, rows: rows.map(candidate) };
    },

    async lease(ids: string[]): Promise<ClaimedEvent[]> {
      // No UPDATE … RETURNING on either server: lock and read the rows still unleased (skipping
      // those a plain claimer holds), then lease exactly those by primary key. By primary key
      // only (FORCE INDEX): a lock taken through a secondary index can deadlock with a plain
      // claim (`keyedStatements`).
      const rows = await select(
        tx,
        sql`SELECT ${CLAIM_COLUMNS} FROM ${ctx.events} FORCE INDEX (PRIMARY)
            WHERE id IN (${idList(ids)}) AND locked_until IS NULL
            FOR UPDATE SKIP LOCKED`,
      );
      if (rows.length === 0) return [];
      await leaseRows(tx, ctx, params, rows);
      return rows.map(claimedEvent);
    },

    async recordStarts({ starts: recorded, keepMs }): Promise<void> {
      const values = recorded
        .map(
          (s) =>
            `(${quote(params.queue)}, ${s.key === null ? 'NULL' : quote(s.key)}, UTC_TIMESTAMP(6), ${Number(s.count)})`,
        )
        .join(', ');
      await write(
        tx,
        sql`INSERT INTO ${starts} (queue, partition_key, started_at, n) VALUES ${sql.raw(values)}`,
      );
      await write(
        tx,
        sql`DELETE FROM ${starts}
            WHERE queue = ${queue} AND started_at <= UTC_TIMESTAMP(6) - INTERVAL ${intLiteral(micros(keepMs))} MICROSECOND`,
      );
    },

    async saveCursor(key: string | null): Promise<void> {
      const value = key === null ? sql.raw('NULL') : text(key);
      await write(tx, sql`UPDATE ${limitsOf(ctx)} SET key_cursor = ${value} WHERE queue = ${queue}`);
    },
  };
}

/**
 * Up to `max` distinct keys of the queue's unleased rows, in byte order, after `after`: one
 * statement, a loose index scan of key_idx ("Using index for group-by"), which seeks once to each
 * key's first unleased entry and on past the key's other entries, so a key with 100 000 rows
 * costs two index probes, never a walk through them, and the LIMIT stops it after `max` keys.
 * (test/plans.test.ts holds the plan.) The queue is bound as a range of one value
 * (`>= q AND <= q`): with `queue = q` the optimizer takes a ref of the queue and reads every
 * entry instead. `locked_until IS NULL` is an equality on the next key part, which the loose
 * scan keeps. Measured on MariaDB 10.11: 2 handler reads per key found, whatever the rows per key.
 */
async function readyKeys(
  tx: MySqlTx,
  ctx: StoreContext,
  queue: SQL,
  after: string | null,
  max: number,
): Promise<string[]> {
  const rows = await select(tx, readyKeysQuery(ctx, queue, after, max));
  return rows.map((r) => String(r.partition_key));
}

// The statement of `readyKeys`.
function readyKeysQuery(ctx: StoreContext, queue: SQL, after: string | null, max: number): SQL {
  return sql`SELECT partition_key FROM ${ctx.events} FORCE INDEX (key_idx)
      WHERE queue >= ${queue} AND queue <= ${queue}
        AND ${after === null ? sql`partition_key IS NOT NULL` : sql`partition_key > ${text(after)}`}
        AND locked_until IS NULL
      GROUP BY queue, partition_key
      ORDER BY queue, partition_key
      LIMIT ${intLiteral(max)}`;
}

/**
 * `keysAndRows` with one row a key, in one statement: the keys as `readyKeys` reads them (its
 * statement, a derived table), and for each key not in `skip` its first due row of the claim's
 * handlers, a probe of key_idx in (due time, id) order that stops at one entry. A plain read, as
 * `keyedStatements` (see there); the keys in byte order.
 */
function keysWithFirstRowQuery(
  ctx: StoreContext,
  params: ClaimParams,
  queue: SQL,
  after: string | null,
  max: number,
  skip: readonly string[],
): SQL {
  const first = sql`(SELECT CAST(e.id AS CHAR) FROM ${ctx.events} e FORCE INDEX (key_idx)
        WHERE e.queue = ${queue} AND e.partition_key = k.partition_key AND e.locked_until IS NULL
          AND e.scheduled_at <= UTC_TIMESTAMP(6) AND ${handlersFilter(params)}
        ORDER BY e.scheduled_at, e.id LIMIT 1)`;
  const row =
    skip.length === 0
      ? first
      : sql`CASE WHEN k.partition_key IN (${sql.join(skip.map(text), sql`, `)}) THEN NULL ELSE ${first} END`;
  return sql`SELECT k.partition_key, ${row} AS row_id
      FROM (${readyKeysQuery(ctx, queue, after, max)}) k
      ORDER BY k.partition_key`;
}

/**
 * The rows `keysAndRows` reads, as statements of at most `KEYED_STATEMENT_BYTES`: a UNION ALL of one parenthesised
 * read per key, each a range of key_idx (queue, key, unleased, due) in (due time, id) order that
 * stops at `perKey` rows. (MariaDB has no LATERAL, and refuses LIMIT in an IN subquery.)
 *
 * A plain read, where the plain claim locks: a locking read through key_idx locks a row's
 * key_idx entry before its primary record, and when a plain claimer holds that record it skips
 * the row but keeps the entry's lock; the plain claimer's update of the row must change that
 * entry (key_idx holds locked_until) and waits, while this claim's update waits on the claim_idx
 * entry the plain claimer kept the same way: a deadlock (seen in the conformance test of the
 * two side by side). `lease` locks by primary key only, and re-checks.
 */
function keyedStatements(
  ctx: StoreContext,
  params: ClaimParams,
  keys: readonly string[],
  perKey: number,
): SQL[] {
  const queue = text(params.queue);
  const handlers = handlersFilter(params);
  const handlerBytes = params.handlers.reduce((n, h) => n + quotedBytes(h) + 2, 0);
  const statements: SQL[] = [];
  let branches: SQL[] = [];
  let bytes = 0;
  for (const key of keys) {
    const size = 400 + quotedBytes(params.queue) + quotedBytes(key) + handlerBytes;
    if (branches.length > 0 && bytes + size > KEYED_STATEMENT_BYTES) {
      statements.push(sql.join(branches, sql` UNION ALL `));
      branches = [];
      bytes = 0;
    }
    branches.push(
      sql`(SELECT ${CANDIDATE_COLUMNS}, scheduled_at FROM ${ctx.events} FORCE INDEX (key_idx)
           WHERE queue = ${queue} AND partition_key = ${text(key)} AND locked_until IS NULL
             AND scheduled_at <= UTC_TIMESTAMP(6) AND ${handlers}
           ORDER BY scheduled_at, id LIMIT ${intLiteral(perKey)})`,
    );
    bytes += size;
  }
  if (branches.length > 0) statements.push(sql.join(branches, sql` UNION ALL `));
  return statements;
}
