import type {
  CancelledOutcome,
  CompletedOutcome,
  FailedOutcome,
  HeldEvent,
  RetryOutcome,
  SettleOutcome,
  SettleParams,
  SettleResult,
  SnoozeOutcome,
} from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import type { MySqlTx } from '../client.js';
import { idList, text } from '../encode.js';
import { mysqlFailure } from '../errors.js';
import { type StoreContext, select, transact } from '../run.js';

/**
 * Locks the rows of `events` that their holder (`holder(event)`) still holds for the same
 * attempt (`FOR UPDATE`, in id order, so concurrent fences never wait on each other in a cycle)
 * and returns their ids: the fence of settle, rescue and the lease calls. With `expiredOnly`,
 * only rows whose lease has ended count (rescue). Until the transaction ends, only it can change
 * them.
 */
export async function lockHeld<T extends HeldEvent>(
  tx: MySqlTx,
  ctx: StoreContext,
  events: readonly T[],
  holder: (event: T) => string,
  expiredOnly: boolean,
): Promise<Set<string>> {
  const want = new Map<string, T>();
  for (const e of events) want.set(e.id, e);
  const workers = sql.join([...new Set(events.map(holder))].map(text), sql`, `);
  const rows = await select(
    tx,
    sql`SELECT CAST(id AS CHAR) AS row_id, attempts, locked_by FROM ${ctx.events}
        WHERE id IN (${idList(want.keys())}) AND locked_by IN (${workers}) AND locked_until IS NOT NULL
          ${expiredOnly ? sql`AND locked_until < UTC_TIMESTAMP(6)` : sql``}
        ORDER BY id FOR UPDATE`,
  );
  const held = new Set<string>();
  for (const r of rows) {
    const event = want.get(String(r.row_id));
    // Compared in JavaScript too: the column's PAD SPACE collation ignores trailing spaces.
    if (event !== undefined && r.locked_by === holder(event) && Number(r.attempts) === event.attempt) {
      held.add(event.id);
    }
  }
  return held;
}

/**
 * Applies the outcomes whose fence holds (see `lockHeld`) and returns their ids: the one path of
 * `settle` (every outcome held by one worker) and `rescue` (each decision names its holder, and
 * the lease must have ended).
 */
export async function applyOutcomes<T extends SettleOutcome>(
  tx: MySqlTx,
  ctx: StoreContext,
  outcomes: readonly T[],
  holder: (outcome: T) => string,
  expiredOnly: boolean,
): Promise<string[]> {
  const held = await lockHeld(tx, ctx, outcomes, holder, expiredOnly);
  const mine: readonly SettleOutcome[] =
    held.size === outcomes.length ? outcomes : outcomes.filter((o) => held.has(o.id));
  if (mine.length === 0) return [];
  const terminal = mine.filter(
    (o): o is CompletedOutcome | FailedOutcome | CancelledOutcome =>
      o.kind === 'completed' || o.kind === 'failed' || o.kind === 'cancelled',
  );
  const archived = terminal.filter((o) => o.archive);
  if (archived.length > 0) {
    // Failed and cancelled outcomes carry their error (the reason); a completed row keeps its own.
    const ended = archived.filter((o): o is FailedOutcome | CancelledOutcome => o.kind !== 'completed');
    const status =
      ended.length > 0 ? sql`CASE id ${whenId(ended, (o) => o.kind)} ELSE 'completed' END` : sql`'completed'`;
    const lastError =
      ended.length > 0 ? sql`CASE id ${whenId(ended, (o) => o.error)} ELSE last_error END` : sql`last_error`;
    await tx.execute(
      sql`INSERT INTO ${ctx.archive}
            (id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries, priority,
             status, last_error, created_at, finished_at, trace_context, partition_key)
          SELECT id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries, priority,
                 ${status}, ${lastError}, created_at, UTC_TIMESTAMP(6), trace_context, partition_key
          FROM ${ctx.events} WHERE id IN (${idList(archived.map((o) => o.id))})`,
    );
  }
  if (terminal.length > 0) {
    await tx.execute(sql`DELETE FROM ${ctx.events} WHERE id IN (${idList(terminal.map((o) => o.id))})`);
  }
  const retries = mine.filter((o): o is RetryOutcome => o.kind === 'retry');
  if (retries.length > 0) {
    await tx.execute(
      sql`UPDATE ${ctx.events}
          SET scheduled_at = UTC_TIMESTAMP(6) + INTERVAL (CASE id ${whenId(retries, (o) => o.delayMs * 1000)} END) MICROSECOND,
              locked_until = NULL, locked_by = NULL, last_error = CASE id ${whenId(retries, (o) => o.error)} END
          WHERE id IN (${idList(retries.map((o) => o.id))})`,
    );
  }
  const snoozes = mine.filter((o): o is SnoozeOutcome => o.kind === 'snooze');
  if (snoozes.length > 0) {
    // The fence locked each row with attempts equal to the held attempt, so this is attempt - 1:
    // the claim's count is given back, and the snooze counted on its own.
    await tx.execute(
      sql`UPDATE ${ctx.events}
          SET scheduled_at = UTC_TIMESTAMP(6) + INTERVAL (CASE id ${whenId(snoozes, (o) => o.delayMs * 1000)} END) MICROSECOND,
              locked_until = NULL, locked_by = NULL, attempts = attempts - 1, snoozes = snoozes + 1
          WHERE id IN (${idList(snoozes.map((o) => o.id))})`,
    );
  }
  return mine.map((o) => o.id);
}

/** `WHEN <id> THEN <value> …` of a `CASE id`: text as a literal, a number as a parameter. */
function whenId<T extends { id: string }>(items: readonly T[], value: (item: T) => string | number): SQL {
  // The ids passed the fence's idList, so they are digits only.
  return sql.join(
    items.map((o) => {
      const v = value(o);
      return sql`WHEN ${sql.raw(o.id)} THEN ${typeof v === 'string' ? text(v) : v}`;
    }),
    sql` `,
  );
}

/**
 * MariaDB's one statement for the common case, plain completions with nothing to archive: delete
 * the rows whose fence holds, and learn which they were from RETURNING (one round trip instead
 * of a transaction of four).
 */
async function deleteCompleted(
  db: MySqlTx,
  ctx: StoreContext,
  params: SettleParams<MySqlTx>,
): Promise<string[]> {
  const ids = idList(params.outcomes.map((o) => o.id));
  const pairs = sql.raw(params.outcomes.map((o) => `(${o.id}, ${Number(o.attempt)})`).join(', '));
  const rows = await select(
    db,
    sql`DELETE FROM ${ctx.events}
        WHERE id IN (${ids}) AND (id, attempts) IN (${pairs})
          AND BINARY locked_by = ${text(params.workerId)} AND locked_until IS NOT NULL
        RETURNING CAST(id AS CHAR) AS row_id`,
  );
  return rows.map((r) => String(r.row_id));
}

/**
 * `QueueStore.settle`: in the caller's transaction when given (transactional completion: no
 * inner transaction), else in one of its own.
 */
export async function settle(ctx: StoreContext, params: SettleParams<MySqlTx>): Promise<SettleResult> {
  const { workerId, outcomes, tx } = params;
  const holder = () => workerId;
  const plain = outcomes.every((o) => o.kind === 'completed' && !o.archive);
  if (tx !== undefined) {
    try {
      if (plain && (await ctx.server.get(tx)).mariadb)
        return { settled: await deleteCompleted(tx, ctx, params) };
      return { settled: await applyOutcomes(tx, ctx, outcomes, holder, false) };
    } catch (error) {
      throw mysqlFailure('settle', error);
    }
  }
  if (plain && (await ctx.server.get()).mariadb) {
    try {
      return { settled: await deleteCompleted(ctx.db, ctx, params) };
    } catch (error) {
      throw mysqlFailure('settle', error);
    }
  }
  return { settled: await transact(ctx, 'settle', (t) => applyOutcomes(t, ctx, outcomes, holder, false)) };
}
