import type {
  ClaimCandidate,
  ClaimedEvent,
  ClaimParams,
  LeasedCandidate,
  LimitedClaimSteps,
  RecentStarts,
  RunningCount,
  StoredLimits,
} from 'bus-core/driver';
import {
  claimInTurnAtOnce,
  claimsInOneStep,
  claimWithinConcurrency,
  claimWithLimits,
  rotatesInOneStep,
} from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import type { PgTx } from '../client.js';
import { MS, pgArray, plainTextArray } from '../encode.js';
import { CLAIM_COLUMNS, claimedEvent, intOf, LIMITS_COLUMNS, limitsRow, text, textOf } from '../rows.js';
import type { Row, StoreContext } from '../run.js';
import { claim } from './claim.js';

// The limited claim's clock. `now()` is the transaction's start, and this transaction may have
// waited on the limits row behind another claim: its starts would be recorded as older than they
// are (a rate window ending early) and its leases would end early. The time each statement
// arrived is past that wait, on the database's clock like every other time of the store.
const NOW = sql.raw('statement_timestamp()');

// An int4 parameter, NULL for `null` (a limit not set).
const int = (n: number | null): SQL => sql`${n}::int4`;

// The limits row holds exactly `expected`: the guard of the one-statement claims, which stand on
// the limits the last claim read (every field, so any change at run time stops them).
const storedAre = (
  expected: StoredLimits,
): SQL => sql`concurrency IS NOT DISTINCT FROM ${int(expected.concurrency)}
    AND key_concurrency IS NOT DISTINCT FROM ${int(expected.keyConcurrency)}
    AND rate_limit IS NOT DISTINCT FROM ${int(expected.rateLimit)}
    AND rate_period_ms IS NOT DISTINCT FROM ${int(expected.ratePeriodMs)}
    AND key_rate_limit IS NOT DISTINCT FROM ${int(expected.keyRateLimit)}
    AND key_rate_period_ms IS NOT DISTINCT FROM ${int(expected.keyRatePeriodMs)}
    AND fair = ${expected.fair}::bool`;

// What every lease statement returns of each row it leased (its `claimed` CTE), for CLAIM_COLUMNS.
const LEASED = sql.raw(
  'e.id, e.queue, e.event_name, e.handler_name, e.payload, e.attempts, e.max_retries, e.priority, ' +
    'e.scheduled_at, e.created_at, e.trace_context, e.snoozes, e.partition_key',
);

// The lease statements' re-check that a row they were given is still unleased (a plain claimer
// may have leased it since it was read). Written as a CASE so that the planner cannot match it to
// the claim index's predicate (`locked_until IS NULL`): with statistics from an idle queue it would
// walk that index for the ids, the whole queue a claim, instead of one primary-key probe an id.
const STILL_UNLEASED = sql.raw('(CASE WHEN e.locked_until IS NULL THEN true END)');

// For the rest of the claim's transaction (`SET LOCAL`, as a function so that it binds a parameter).
const GENERIC_PLAN = sql`SELECT set_config('plan_cache_mode', ${'force_generic_plan'}::text, true) AS mode`;

// The head of a one-statement claim's answer: one row at least, `matched` saying whether the limits
// were the expected ones (its `ok` CTE), joined to the leased rows that follow it as `c`.
const MATCHED_ROWS =
  sql.raw(`SELECT c.id, c.queue, c.event, c.handler, c.payload, c.attempts, c.retries, c.priority, c.created, c.trace,
  c.snoozes, c.pkey, m.matched::text AS matched
FROM (SELECT EXISTS (SELECT 1 FROM ok) AS matched) m
LEFT JOIN (`);

// A leased row with its key for the policy (`claimedEvent` reads the key too).
const leasedCandidate = (r: Row): LeasedCandidate => {
  const event = claimedEvent(r);
  return { event, partitionKey: event.partitionKey ?? null };
};

/**
 * `QueueStore.claim` with `limited`: `claimWithLimits` (bus-core/driver, the policy every store
 * shares) over this file's statements, in one READ COMMITTED transaction (its BEGIN pipelined
 * with the first statements: `Statements.pipelinedTransaction`), so each statement
 * after the lock on the queue's limits row reads what the claims before it committed. A queue
 * without a limits row (removed since the core last looked) is claimed as usual after it. The
 * plain claim never comes here: it stays one statement.
 *
 * @example
 * const rows = await claimLimited(ctx, { queue: 'email', limit: 10, workerId: 'w1', leaseMs: 30_000, handlers: ['send'], limited: true });
 */
export async function claimLimited(ctx: StoreContext, params: ClaimParams): Promise<ClaimedEvent[]> {
  // A queue with a global concurrency only, as its last claim saw: one round trip (BEGIN, the lock,
  // the counted lease, COMMIT), unless the limits changed since; then the full claim.
  const seen = ctx.limitsSeen.get(params.queue);
  if (seen !== undefined && claimsInOneStep(seen.limits)) {
    const rows = await ctx.statements.pipelinedTransaction((tx, commitNow) =>
      claimWithinConcurrency(limitedSteps(ctx, tx, params, commitNow), params.limit, seen.limits),
    );
    if (rows !== null) return rows;
  }
  // A rotating queue without a rate, likewise: one round trip (BEGIN, the lock, the rotation
  // leased in one statement, COMMIT) unless the limits changed.
  if (seen !== undefined && rotatesInOneStep(seen.limits)) {
    const rows = await ctx.statements.pipelinedTransaction((tx, commitNow) =>
      claimInTurnAtOnce(limitedSteps(ctx, tx, params, commitNow), params.limit, seen.limits),
    );
    if (rows !== null) return rows;
  }
  // Pipelined: BEGIN goes out with the lock and the count (and, with what the last claim saw, a
  // rotating claim's first reads), then the lease with the COMMIT behind it.
  const again = ctx.limitsSeen.get(params.queue);
  const rows = await ctx.statements.pipelinedTransaction((tx, commitNow) =>
    claimWithLimits(limitedSteps(ctx, tx, params, commitNow), params.limit, again),
  );
  return rows ?? claim(ctx, params);
}

/**
 * The statements of one limited claim (`LimitedClaimSteps`), bound to the claim's transaction,
 * queue and params; `commitNow` sends the transaction's COMMIT (`lastStepSent`). Every read of the hot table goes through an index (test/claim-plan.test.ts):
 * rows in claim order through the claim index, keys and a key's rows through the key index,
 * leased rows through the running index.
 *
 * @example
 * const rows = await claimWithLimits(limitedSteps(ctx, tx, params), params.limit);
 */
export function limitedSteps(
  ctx: StoreContext,
  tx: PgTx,
  params: ClaimParams,
  commitNow?: () => void,
): LimitedClaimSteps {
  const { events, limits, starts } = ctx.tables;
  const { queue, workerId, leaseMs, handlers } = params;
  const run = (step: string, query: SQL): Promise<Row[]> => ctx.statements.rows(`claim (${step})`, query, tx);
  // The one-statement claims run on their prepared statement's generic plan. Left to choose, the
  // server plans them anew each time (its estimate for the generic plan is the worse one), and
  // planning these statements costs more than running them: 0.9 ms of a 1.9 ms rotation, 0.3 ms of
  // a 0.9 ms global claim. Their generic plans are checked to read through the indexes (plans test).
  const runGeneric = async (step: string, query: SQL): Promise<Row[]> => {
    const [, rows] = await Promise.all([run(`${step}, plan`, GENERIC_PLAN), run(step, query)]);
    return rows;
  };
  const handlerList = pgArray(handlers);
  const candidate = (r: Row): ClaimCandidate => ({ id: textOf(r[0], 'id'), partitionKey: text(r[1]) });
  // The claimer's rows whose handlers ended (ClaimParams.finished): not running any more.
  const finished = params.finished ?? [];
  const notFinished =
    finished.length === 0
      ? sql.raw('')
      : sql` AND NOT (locked_by = ${workerId}::text AND id = ANY(${plainTextArray(finished)}::int8[]))`;
  // The queue's leased rows (one key's, with `key`), counted as countRunning counts them but only
  // up to `atMost`, past which there is no room. So the count is a plain scan of the running index,
  // which marks the entries of rows settled since the last vacuum dead as it passes them; a bitmap
  // scan of every leased row's entry would read them all again at every claim.
  const leasedUpTo = (atMost: SQL, key?: SQL) => sql`(SELECT count(*)::int4 FROM (
    SELECT 1 FROM ${events} r
    WHERE r.queue = ${queue}::text${key === undefined ? sql.raw('') : sql` AND r.partition_key = ${key}`}
      AND r.locked_until IS NOT NULL${notFinished}
    LIMIT ${atMost}) x)`;

  return {
    async lockLimits() {
      // The columns listLimits reads (one parser for both), and the key cursor after them.
      const [r] = await run(
        'lockLimits',
        sql`SELECT ${LIMITS_COLUMNS}, key_cursor::text AS cursor
FROM ${limits} WHERE queue = ${queue}::text FOR UPDATE`,
      );
      if (r === undefined) {
        ctx.limitsSeen.delete(queue);
        return null;
      }
      const seen = { limits: limitsRow(r), keyCursor: text(r[9]) };
      // What the next claim of the queue expects (claimWithinConcurrency, claimWithLimits).
      ctx.limitsSeen.set(queue, seen);
      return { limits: seen.limits, keyCursor: seen.keyCursor };
    },

    async countRunning(): Promise<RunningCount[]> {
      // An index-only scan of the running index: leased rows only, whatever their handler.
      const rows = await run(
        'countRunning',
        sql`SELECT partition_key::text AS pkey, count(*)::text AS n FROM ${events}
WHERE queue = ${queue}::text AND locked_until IS NOT NULL${notFinished} GROUP BY partition_key`,
      );
      return rows.map((r) => ({ key: text(r[0]), count: intOf(r[1], 'count') }));
    },

    async recentStarts(windowMs): Promise<RecentStarts[]> {
      // One claim records its starts under one time, so grouping by it loses nothing; the age is
      // floored to the ms (never over-stated) and never below 0 (a start recorded by a claim
      // whose statement began after ours).
      const rows = await run(
        'recentStarts',
        sql`SELECT partition_key::text AS pkey,
  greatest(0, floor(extract(epoch FROM ${NOW} - started_at) * 1000))::int8::text AS age, sum(n)::text AS n
FROM ${starts}
WHERE queue = ${queue}::text AND started_at > ${NOW} - ${windowMs}::float8 * ${MS}
GROUP BY partition_key, started_at`,
      );
      return rows.map((r) => ({ key: text(r[0]), ageMs: intOf(r[1], 'age'), count: intOf(r[2], 'n') }));
    },

    async leaseReady({ limit }): Promise<LeasedCandidate[]> {
      // The plain claim's statement (src/sql/claim.ts) at the limit's room, returning the keys.
      const rows = await run(
        'leaseReady',
        sql`WITH claimed AS (
  UPDATE ${events} e
  SET attempts = e.attempts + 1, locked_by = ${workerId}::text, locked_until = ${NOW} + ${leaseMs}::float8 * ${MS}
  WHERE e.id = ANY(ARRAY(
    SELECT id FROM ${events}
    WHERE queue = ${queue}::text AND locked_until IS NULL AND scheduled_at <= ${NOW}
      AND handler_name = ANY(${handlerList}::text[])
    ORDER BY priority, scheduled_at, id
    LIMIT ${limit}::int4
    FOR UPDATE SKIP LOCKED))
  RETURNING ${LEASED}
)
SELECT ${CLAIM_COLUMNS} FROM claimed
ORDER BY claimed.priority, claimed.scheduled_at, claimed.id`,
      );
      return rows.map(leasedCandidate);
    },

    async unkeyedRows({ limit, within }) {
      // Rows without a key among the first `within` in claim order: a bounded walk of the claim
      // index (no index holds only unkeyed rows). Not locked: `lease` re-checks each row, and
      // locking the whole window would make plain claimers skip it. `t.id`: a bare `id` would
      // name the select list's `id::text` and sort as text.
      const rows = await run(
        'unkeyedRows',
        sql`SELECT w.id::text AS id, w.partition_key::text AS pkey FROM (
  SELECT t.id, t.partition_key, t.priority, t.scheduled_at FROM ${events} t
  WHERE t.queue = ${queue}::text AND t.locked_until IS NULL AND t.scheduled_at <= ${NOW}
    AND t.handler_name = ANY(${handlerList}::text[])
  ORDER BY t.priority, t.scheduled_at, t.id
  LIMIT ${within}::int4
) w
WHERE w.partition_key IS NULL
ORDER BY w.priority, w.scheduled_at, w.id
LIMIT ${limit}::int4`,
      );
      return rows.map(candidate);
    },

    async keysAndRows({ after, max, skip, perKey }) {
      // A loose index scan of the key index: each step probes it once for the first key past the
      // last one (LIMIT 1 in key order), so a key with 100 000 rows costs one probe, not a walk of
      // its rows. The comparison is the column's own collation, the index's order. A statement
      // text of its own without `after`, so a generic plan still seeks to it when there is one.
      // Then, for each key found and not skipped, one ordered probe of the key index stopping at
      // `perKey` rows. Not locked: a row lock is a write of the row, and the claim reads rows of
      // more keys than it takes (the round-robin picks from them); `lease` re-checks each row it
      // takes (a plain claimer may lease one in between). One statement: the keys (row id NULL)
      // and their rows, in key order.
      const past = (key: SQL | null) => (key === null ? sql.raw('') : sql` AND t.partition_key > ${key}`);
      const next = (key: SQL | null) => sql`(SELECT t.partition_key FROM ${events} t
    WHERE t.queue = ${queue}::text AND t.locked_until IS NULL AND t.partition_key IS NOT NULL${past(key)}
    ORDER BY t.partition_key LIMIT 1)`;
      const rows = await run(
        'keysAndRows',
        sql`WITH RECURSIVE k(key, n) AS (
  SELECT ${next(after === null ? null : sql`${after}::text`)}, 1
  UNION ALL
  SELECT ${next(sql.raw('k.key'))}, k.n + 1 FROM k WHERE k.key IS NOT NULL AND k.n < ${max}::int4
), found AS MATERIALIZED (SELECT k.key, k.n FROM k WHERE k.key IS NOT NULL)
SELECT f.key::text AS key, NULL::text AS id, f.n, NULL::timestamptz AS due, NULL::int8 AS rid FROM found f
UNION ALL
SELECT f.key::text, e.id::text, f.n, e.scheduled_at, e.id
FROM found f
CROSS JOIN LATERAL (
  SELECT t.id, t.scheduled_at FROM ${events} t
  WHERE t.queue = ${queue}::text AND t.partition_key = f.key AND t.partition_key IS NOT NULL
    AND t.locked_until IS NULL AND t.scheduled_at <= ${NOW} AND t.handler_name = ANY(${handlerList}::text[])
  ORDER BY t.scheduled_at, t.id
  LIMIT ${perKey}::int4
) e
WHERE f.key <> ALL(${pgArray(skip)}::text[])
ORDER BY n, due NULLS FIRST, rid`,
      );
      const keys: string[] = [];
      const found: ClaimCandidate[] = [];
      for (const r of rows) {
        const key = textOf(r[0], 'partition_key');
        if (r[1] === null) keys.push(key);
        else found.push({ id: textOf(r[1], 'id'), partitionKey: key });
      }
      return { keys, rows: found };
    },

    async lease(ids) {
      if (ids.length === 0) return [];
      // The ids reach the UPDATE as an array, one primary-key probe each (as in the plain claim);
      // STILL_UNLEASED re-checks that nobody leased the row since it was read.
      const rows = await run(
        'lease',
        sql`WITH claimed AS (
  UPDATE ${events} e
  SET attempts = e.attempts + 1, locked_by = ${workerId}::text, locked_until = ${NOW} + ${leaseMs}::float8 * ${MS}
  WHERE e.id = ANY(${plainTextArray(ids)}::int8[]) AND ${STILL_UNLEASED}
  RETURNING ${LEASED}
)
SELECT ${CLAIM_COLUMNS} FROM claimed`,
      );
      return rows.map(claimedEvent);
    },

    async recordStarts({ starts: recorded, keepMs }) {
      // The new starts and the end of the old ones in one statement (one round trip): the DELETE
      // reads the snapshot before the INSERT, and what it removes is older than anything inserted.
      await run(
        'recordStarts',
        sql`WITH ins AS (
  INSERT INTO ${starts} (queue, partition_key, started_at, n)
  SELECT ${queue}::text, s.key, ${NOW}, s.n
  FROM unnest(${pgArray(recorded.map((s) => s.key))}::text[], ${pgArray(recorded.map((s) => s.count))}::int4[]) AS s(key, n)
  RETURNING 1
), old AS (
  DELETE FROM ${starts} WHERE queue = ${queue}::text AND started_at <= ${NOW} - ${keepMs}::float8 * ${MS}
  RETURNING 1
)
SELECT (SELECT count(*) FROM ins)::text AS added, (SELECT count(*) FROM old)::text AS removed`,
      );
    },

    async leaseWithin({ limit, leasedAtMost, expected }): Promise<LeasedCandidate[] | null> {
      // leaseReady's statement, its LIMIT the room left under `leasedAtMost` by countRunning's
      // count, taken by this statement (its snapshot begins after lockLimits held the lock), and
      // only while the limits row holds `expected`. One row at least: `matched` says which. The
      // count stops at `leasedAtMost` (leasedUpTo).
      const rows = await runGeneric(
        'leaseWithin',
        sql`WITH n AS (
  SELECT ${leasedUpTo(sql`${leasedAtMost}::int4`)} AS running
), ok AS (
  SELECT 1 FROM ${limits}
  WHERE queue = ${queue}::text AND ${storedAre(expected)}
), claimed AS (
  UPDATE ${events} e
  SET attempts = e.attempts + 1, locked_by = ${workerId}::text, locked_until = ${NOW} + ${leaseMs}::float8 * ${MS}
  WHERE e.id = ANY(ARRAY(
    SELECT id FROM ${events}
    WHERE queue = ${queue}::text AND locked_until IS NULL AND scheduled_at <= ${NOW}
      AND handler_name = ANY(${handlerList}::text[]) AND EXISTS (SELECT 1 FROM ok)
    ORDER BY priority, scheduled_at, id
    LIMIT greatest(0, least(${limit}::int4, ${leasedAtMost}::int4 - (SELECT running FROM n)))
    FOR UPDATE SKIP LOCKED))
  RETURNING ${LEASED}
)
${MATCHED_ROWS}
  SELECT ${CLAIM_COLUMNS}, priority AS p_, scheduled_at AS s_, id AS i_ FROM claimed
) c ON true
ORDER BY c.p_, c.s_, c.i_`,
      );
      if (rows.length === 0 || textOf(rows[0]![12], 'matched') !== 'true') return null;
      return rows.filter((r) => r[0] !== null).map(leasedCandidate);
    },

    async leaseInTurn({ limit, leasedAtMost, keyLimit, maxKeys, within, expected }) {
      // claimWithLimits' rotation as one statement, its snapshot taken after lockLimits held the
      // lock: `k` walks the key index from the stored cursor as keysAndRows does (wrapping once to
      // the first key and stopping past the cursor), counting the keys that are under their limit
      // and have a row to take, until the room's worth; each such key's rows are numbered as turns,
      // the unkeyed rows too (a key after the last), and the first `room` by (turn, key) are
      // leased. Not locked before the UPDATE, as in `lease`: it re-checks `locked_until IS NULL`,
      // so a row a plain claimer leased meanwhile is left out.
      const due = (
        key: SQL,
      ) => sql`t.queue = ${queue}::text AND t.partition_key = ${key} AND t.partition_key IS NOT NULL
      AND t.locked_until IS NULL AND t.scheduled_at <= ${NOW} AND t.handler_name = ANY(${handlerList}::text[])`;
      // The first key past `after` with its first unleased row, in the key index's order (a key's
      // rows by due time, so that row is its first due one unless its handler is not ours): one
      // index probe finds both, and with one row a key (`keyLimit` 1) nothing more is read of it.
      const head = (after: SQL, also: SQL) => sql`(SELECT t.partition_key AS key, t.id,
        (t.scheduled_at <= ${NOW} AND t.handler_name = ANY(${handlerList}::text[])) AS due
      FROM ${events} t
      WHERE t.queue = ${queue}::text AND t.locked_until IS NULL AND t.partition_key IS NOT NULL
        AND t.partition_key > ${after}${also}
      ORDER BY t.partition_key, t.scheduled_at, t.id LIMIT 1)`;
      // A key's room: its limit less its leased rows, counted by a probe of the running index
      // that stops at the limit (leasedUpTo).
      const keyRoom = (key: SQL) =>
        keyLimit === null
          ? sql`(SELECT n FROM room)`
          : sql`least((SELECT n FROM room), ${int(keyLimit)} - ${leasedUpTo(int(keyLimit), key)})`;
      // One step of the walk after `prev`: the next key (from the first key once, when the walk
      // has not wrapped yet), its room, and the first row to take of it when it has room (`pick`).
      // The OFFSET 0 fences keep the planner from copying a probe into each use of its output.
      const step = (prev: SQL, wrapped: SQL, cursor: SQL) => sql`SELECT s.key, s.wrapped, s.key_room,
      CASE WHEN s.key_room > 0 THEN CASE WHEN s.due THEN s.id ELSE (
        SELECT t.id FROM ${events} t WHERE ${due(sql.raw('s.key'))} ORDER BY t.scheduled_at, t.id LIMIT 1
      ) END END AS pick
    FROM (
      SELECT h.key, h.wrapped, h.id, h.due, ${keyRoom(sql.raw('h.key'))} AS key_room FROM (
        SELECT coalesce(a.key, b.key) AS key, CASE WHEN a.key IS NOT NULL THEN a.id ELSE b.id END AS id,
          CASE WHEN a.key IS NOT NULL THEN a.due ELSE b.due END AS due, (${wrapped} OR a.key IS NULL) AS wrapped
        FROM (SELECT 1) one
        LEFT JOIN LATERAL ${head(prev, sql.raw(''))} a ON true
        LEFT JOIN LATERAL ${head(sql`''`, sql` AND a.key IS NULL AND NOT ${wrapped}`)} b ON true
        OFFSET 0
      ) h
      WHERE h.key IS NOT NULL AND NOT (h.wrapped AND ${cursor} IS NOT NULL AND h.key > ${cursor})
      OFFSET 0
    ) s`;
      // Each open key's rows as turns (a key's position twice its step); with one row a key, the
      // one the walk picked. The rows without a key take their turn where the walk passed the last
      // key (`ended`): just before the first key it wrapped round to, else after the last key it
      // visited when no key follows that one, first when there is no key; and they are read only
      // when the walk passed it.
      const keyed =
        keyLimit === 1
          ? sql`SELECT k.key, 2 * k.step AS pos, k.pick AS id, 1 AS turn FROM k WHERE k.pick IS NOT NULL`
          : sql`SELECT k.key, 2 * k.step AS pos, c.id, c.turn
  FROM k CROSS JOIN LATERAL (
    SELECT t.id, row_number() OVER (ORDER BY t.scheduled_at, t.id)::int4 AS turn FROM (
      SELECT t.id, t.scheduled_at FROM ${events} t
      WHERE ${due(sql.raw('k.key'))}
      ORDER BY t.scheduled_at, t.id
      LIMIT greatest(0, k.key_room)
    ) t
  ) c
  WHERE k.pick IS NOT NULL`;
      // The room under a global limit: the limit less the queue's leased rows, counted up to the
      // limit only (leasedUpTo).
      const room =
        leasedAtMost === null
          ? sql`SELECT ${limit}::int4 AS n`
          : sql`SELECT greatest(0, least(${limit}::int4, ${leasedAtMost}::int4 - ${leasedUpTo(sql`${leasedAtMost}::int4`)})) AS n`;
      const rows = await runGeneric(
        'leaseInTurn',
        sql`WITH RECURSIVE ok AS (
  SELECT key_cursor FROM ${limits}
  WHERE queue = ${queue}::text AND ${storedAre(expected)}
), room AS MATERIALIZED (
  ${room}
), k(key, pick, key_room, step, served, wrapped, cursor) AS (
  SELECT f.key, f.pick, f.key_room, 1, (f.pick IS NOT NULL)::int4, f.wrapped, ok.key_cursor
  FROM ok CROSS JOIN LATERAL (
    ${step(sql`coalesce(ok.key_cursor, '')`, sql.raw('(ok.key_cursor IS NULL)'), sql.raw('ok.key_cursor'))}
  ) f
  WHERE (SELECT n FROM room) > 0
  UNION ALL
  SELECT g.key, g.pick, g.key_room, k.step + 1, k.served + (g.pick IS NOT NULL)::int4, g.wrapped, k.cursor
  FROM k CROSS JOIN LATERAL (
    ${step(sql.raw('k.key'), sql.raw('k.wrapped'), sql.raw('k.cursor'))}
  ) g
  WHERE k.served < (SELECT n FROM room) AND k.step < ${maxKeys}::int4
), keyed AS (
  ${keyed}
), ended AS MATERIALIZED (
  SELECT CASE
    WHEN NOT EXISTS (SELECT 1 FROM k) THEN 1
    WHEN EXISTS (SELECT 1 FROM k WHERE k.wrapped AND k.cursor IS NOT NULL)
      THEN (SELECT 2 * min(k.step) - 1 FROM k WHERE k.wrapped AND k.cursor IS NOT NULL)
    WHEN (SELECT n.key FROM ${head(sql.raw('(SELECT k.key FROM k ORDER BY k.key DESC LIMIT 1)'), sql.raw(''))} n) IS NULL
      THEN (SELECT 2 * max(k.step) + 1 FROM k)
  END AS pos
), unkeyed AS (
  SELECT NULL::text AS key, (SELECT pos FROM ended) AS pos, w.id,
    row_number() OVER (ORDER BY w.priority, w.scheduled_at, w.id)::int4 AS turn
  FROM (
    SELECT t.id, t.partition_key, t.priority, t.scheduled_at FROM ${events} t
    WHERE t.queue = ${queue}::text AND t.locked_until IS NULL AND t.scheduled_at <= ${NOW}
      AND t.handler_name = ANY(${handlerList}::text[]) AND EXISTS (SELECT 1 FROM ok)
      AND (SELECT pos FROM ended) IS NOT NULL AND (SELECT n FROM room) > 0
    ORDER BY t.priority, t.scheduled_at, t.id
    LIMIT ${within}::int4
  ) w
  WHERE w.partition_key IS NULL
), picked AS MATERIALIZED (
  SELECT c.key, c.pos, c.id, c.turn FROM (SELECT * FROM keyed UNION ALL SELECT * FROM unkeyed) c
  ORDER BY c.turn, c.pos
  LIMIT (SELECT n FROM room)
), moved AS (
  UPDATE ${limits} SET key_cursor = p.key
  FROM (SELECT key FROM picked WHERE turn = 1 ORDER BY pos DESC LIMIT 1) p
  WHERE queue = ${queue}::text AND key_cursor IS DISTINCT FROM p.key
  RETURNING 1
), claimed AS (
  UPDATE ${events} e
  SET attempts = e.attempts + 1, locked_by = ${workerId}::text, locked_until = ${NOW} + ${leaseMs}::float8 * ${MS}
  WHERE e.id = ANY(ARRAY(SELECT id FROM picked)) AND ${STILL_UNLEASED}
  RETURNING ${LEASED}
)
${MATCHED_ROWS}
  SELECT ${CLAIM_COLUMNS}, p.turn AS turn_, p.pos AS pos_
  FROM claimed JOIN (SELECT id AS picked_id, turn, pos FROM picked) p ON p.picked_id = claimed.id
) c ON true
ORDER BY c.turn_, c.pos_`,
      );
      if (rows.length === 0 || textOf(rows[0]![12], 'matched') !== 'true') return null;
      return rows.filter((r) => r[0] !== null).map(leasedCandidate);
    },

    // COMMIT behind the last statement (Statements.pipelinedTransaction), when the claim has one.
    lastStepSent: commitNow,

    async saveCursor(key) {
      const seen = ctx.limitsSeen.get(queue);
      if (seen !== undefined) ctx.limitsSeen.set(queue, { ...seen, keyCursor: key });
      await run(
        'saveCursor',
        sql`UPDATE ${limits} SET key_cursor = ${key}::text WHERE queue = ${queue}::text RETURNING queue::text AS queue`,
      );
    },
  };
}
