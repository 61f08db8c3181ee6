import type { CheckLeasesParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import { idList, text } from '../encode.js';
import { read, type StoreContext, select } from '../run.js';

/**
 * `QueueStore.checkLeases`: the fence of `lockHeld` as a plain read (no lock, no transaction):
 * the core calls it about every second per queue with running rows, to notice a row cancelled
 * (deleted) or taken over while its handler runs. A primary key lookup of the held ids.
 */
export async function checkLeases(ctx: StoreContext, params: CheckLeasesParams): Promise<string[]> {
  const { workerId, events } = params;
  const rows = await read('checkLeases', () =>
    select(
      ctx.db,
      sql`SELECT CAST(id AS CHAR) AS row_id, attempts, locked_by FROM ${ctx.events}
          WHERE id IN (${idList(events.map((e) => e.id))}) AND CAST(locked_by AS BINARY) = ${text(workerId)}
            AND locked_until IS NOT NULL`,
    ),
  );
  const held = new Map(rows.map((r) => [String(r.row_id), r]));
  // Compared in JavaScript too, as the other fences do; in input order.
  return events
    .filter((e) => {
      const r = held.get(e.id);
      return r !== undefined && r.locked_by === workerId && Number(r.attempts) === e.attempt;
    })
    .map((e) => e.id);
}
