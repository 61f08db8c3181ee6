import type { SettleOutcome, SettleParams, SettleResult } from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import type { PgTx } from '../client.js';
import { MS, pgArray, plainTextArray, storableText } from '../encode.js';
import type { StoreTables } from '../options.js';
import { textOf } from '../rows.js';
import type { StoreContext } from '../run.js';

/**
 * Whose rows the outcomes are about: one worker's (`settle`), or for each outcome the holder
 * whose lease expired, with the lease still past its end (`rescue`).
 */
export type OutcomeFence = { workerId: string } | { holders: readonly string[]; expired: true };

/**
 * `QueueStore.settle`: every outcome in one statement, in `params.tx` when given.
 *
 * @example
 * const { settled } = await settle(ctx, { workerId: 'w1', outcomes: [{ kind: 'completed', id: '1', attempt: 1, archive: true }] });
 */
export async function settle(ctx: StoreContext, params: SettleParams<PgTx>): Promise<SettleResult> {
  const fence = { workerId: params.workerId };
  return { settled: await applyOutcomes(ctx, 'settle', params.outcomes, fence, params.tx) };
}

/**
 * Applies outcomes whose fence holds, in one statement, and returns their ids: the one SQL of
 * `settle` and `rescue` (which differ only in `fence`).
 *
 * @example
 * await applyOutcomes(ctx, 'rescue', decisions, { holders: decisions.map((d) => d.workerId), expired: true });
 */
export async function applyOutcomes(
  ctx: StoreContext,
  operation: string,
  outcomes: readonly SettleOutcome[],
  fence: OutcomeFence,
  tx?: PgTx,
): Promise<string[]> {
  const rows = await ctx.statements.rows(operation, outcomeStatement(ctx.tables, outcomes, fence), tx);
  return rows.map((r) => textOf(r[0], 'id'));
}

function outcomeStatement(tables: StoreTables, outcomes: readonly SettleOutcome[], fence: OutcomeFence): SQL {
  const { events, archive } = tables;
  const ids: string[] = [];
  const attempts: number[] = [];
  const kinds: string[] = [];
  const archived: number[] = [];
  const delays: number[] = [];
  const errors: (string | null)[] = [];
  for (const o of outcomes) {
    ids.push(o.id);
    attempts.push(o.attempt);
    kinds.push(o.kind);
    archived.push(o.kind !== 'retry' && o.kind !== 'snooze' && o.archive ? 1 : 0);
    delays.push(o.kind === 'retry' || o.kind === 'snooze' ? o.delayMs : 0);
    errors.push(o.kind === 'completed' || o.kind === 'snooze' ? null : storableText(o.error));
  }
  // settle: one holder for all rows; rescue: a holder per row (a NULL array pads the column with
  // NULLs for settle) and a lease that must still be past its end.
  const perRow = 'holders' in fence;
  const holders = perRow ? pgArray(fence.holders) : null;
  const holder = perRow ? sql.raw('o.holder') : sql`${fence.workerId}::text`;
  // In coalesce (not strict), so the planner cannot infer `locked_until IS NOT NULL` from it and
  // take a partial index over leased rows for the probe (see below).
  const expired = sql.raw(perRow ? ' AND coalesce(e.locked_until < now(), false)' : '');
  // No `locked_until IS NOT NULL`: a row has a holder exactly when it has a lease (the claim sets
  // both, every hand-back clears both), so the holder check is the lease check, and that clause
  // would let the planner read a partial index over leased rows whole for each id when its
  // statistics saw none leased (test/plans.test.ts, "probes by id").
  // Lock the rows whose fence holds (in id order, so two statements never deadlock on each
  // other's rows), delete the finished ones (completed, failed, cancelled) and archive those the
  // policy keeps, reschedule the retries and snoozes: all in one statement.
  return sql`WITH o AS (
  SELECT * FROM unnest(${plainTextArray(ids)}::int8[], ${pgArray(attempts)}::int4[], ${plainTextArray(kinds)}::text[],
    ${pgArray(archived)}::int4[], ${pgArray(delays)}::float8[], ${pgArray(errors)}::text[], ${holders}::text[])
    AS o(id, attempt, kind, archive, delay_ms, error, holder)
), held AS (
  -- One primary-key probe per outcome, in id order. LATERAL keeps the outcomes on the outer side:
  -- joined the other way, the misestimated locked_by filter gets a nested loop that re-runs the
  -- unnest for every row (n² work, ~150 ms for 500 rows).
  SELECT e.id, o.attempt, o.kind, o.archive, o.delay_ms, o.error
  FROM (SELECT * FROM o ORDER BY o.id) o
  CROSS JOIN LATERAL (
    SELECT e.id FROM ${events} e
    WHERE e.id = o.id AND e.locked_by = ${holder} AND e.attempts = o.attempt${expired}
    FOR UPDATE
  ) e
), done AS (
  DELETE FROM ${events} e USING held h
  WHERE e.id = h.id AND h.kind NOT IN ('retry', 'snooze')
  RETURNING e.id, e.queue, e.event_name, e.handler_name, e.payload, e.payload_json, e.attempts, e.max_retries,
    e.priority, e.created_at, e.last_error, e.trace_context, e.partition_key, h.kind, h.archive, h.error
), archived AS (
  INSERT INTO ${archive} (id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries,
    priority, status, last_error, created_at, finished_at, trace_context, partition_key)
  SELECT id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries, priority, kind,
    CASE WHEN kind = 'completed' THEN last_error ELSE error END, created_at, now(), trace_context, partition_key
  FROM done WHERE archive = 1
  ON CONFLICT (id) DO NOTHING
), retried AS (
  -- A snooze gives its attempt back and keeps the last error; a retry records its error.
  UPDATE ${events} e
  SET scheduled_at = now() + h.delay_ms * ${MS}, locked_until = NULL, locked_by = NULL,
    last_error = CASE WHEN h.kind = 'retry' THEN h.error ELSE e.last_error END,
    attempts = CASE WHEN h.kind = 'snooze' THEN h.attempt - 1 ELSE e.attempts END,
    snoozes = CASE WHEN h.kind = 'snooze' THEN e.snoozes + 1 ELSE e.snoozes END
  FROM held h
  WHERE e.id = h.id AND h.kind IN ('retry', 'snooze')
  RETURNING e.id
)
SELECT id::text AS id FROM done UNION ALL SELECT id::text AS id FROM retried`;
}
