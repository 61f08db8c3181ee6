import type { ExtendLeasesParams, ReleaseParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import { idList, micros } from '../encode.js';
import { type StoreContext, transact } from '../run.js';
import { lockHeld } from './settle.js';

/** `QueueStore.extendLeases`: the fence (see `lockHeld`), then one update of the held rows. */
export async function extendLeases(ctx: StoreContext, params: ExtendLeasesParams): Promise<string[]> {
  const { workerId, events } = params;
  return transact(ctx, 'extendLeases', async (tx) => {
    const held = await lockHeld(tx, ctx, events, () => workerId, false);
    if (held.size === 0) return [];
    await tx.execute(
      sql`UPDATE ${ctx.events} SET locked_until = UTC_TIMESTAMP(6) + INTERVAL ${micros(params.leaseMs)} MICROSECOND
          WHERE id IN (${idList(held)})`,
    );
    return [...held];
  });
}

/** `QueueStore.release`: the fence, then the held rows back as if never claimed. */
export async function release(ctx: StoreContext, params: ReleaseParams): Promise<string[]> {
  const { workerId, events } = params;
  return transact(ctx, 'release', async (tx) => {
    const held = await lockHeld(tx, ctx, events, () => workerId, false);
    if (held.size === 0) return [];
    // The fence locked each row with attempts equal to the held attempt, so this is attempt - 1.
    await tx.execute(
      sql`UPDATE ${ctx.events} SET locked_until = NULL, locked_by = NULL, attempts = attempts - 1
          WHERE id IN (${idList(held)})`,
    );
    return [...held];
  });
}
