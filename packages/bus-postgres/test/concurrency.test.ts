import { encodePayload, isBusError } from 'bus-core';
import type { NewEventRow } from 'bus-core/driver';
import { newEventRow } from 'bus-testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { postgresStore } from '../src/index.js';
import { createTestSchema, live, type TestSchema } from './helpers.js';

function rows(n: number): NewEventRow[] {
  return Array.from({ length: n }, (_, i) =>
    newEventRow({
      eventName: 'c.event',
      handlerName: 'c.handler',
      payload: encodePayload({ i }),
      priority: i % 4,
    }),
  );
}

/**
 * A store call run again after STORE_CONFLICT, as bus-core does (the store itself never retries):
 * counts the conflicts, and any other error goes through.
 */
async function asTheCoreDoes<T>(call: () => Promise<T>, conflicts: { n: number }): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isBusError(error, 'STORE_CONFLICT') || attempt >= 10) throw error;
      conflicts.n++;
      await new Promise((resolve) =>
        setTimeout(resolve, 1 + Math.random() * Math.min(5 * 2 ** attempt, 250)),
      );
    }
  }
}

let t: TestSchema;

beforeAll(async () => {
  t = await createTestSchema('conc', { max: 12 });
});
afterAll(async () => {
  await t?.drop();
});
beforeEach(() => t.truncate());

describe('8 concurrent claimers on one queue', () => {
  // Floors far below what even a loaded 2-core machine does, to catch a collapse (a claim that
  // locks the whole queue, lock waits between claimers), not to benchmark.
  it.each([
    [1, 400, 15],
    [10, 2000, 100],
    [500, 10_000, 400],
  ])('batch size %i: no row claimed twice and no conflict (%i rows)', async (batch, total, minRate) => {
    const store = postgresStore(t.db, { listen: false });
    const ids = await store.insert({ rows: rows(total) });
    const owner = new Map<string, string>();
    const errors: unknown[] = [];
    const conflicts = { n: 0 };
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        const workerId = `claimer-${w}`;
        let idle = 0;
        while (idle < 3) {
          try {
            const claimed = await asTheCoreDoes(
              () =>
                store.claim({ queue: 'q', limit: batch, workerId, leaseMs: 60_000, handlers: ['c.handler'] }),
              conflicts,
            );
            if (claimed.length === 0) {
              idle++;
              continue;
            }
            idle = 0;
            for (const c of claimed) {
              if (owner.has(c.id))
                errors.push(new Error(`row ${c.id} claimed by ${owner.get(c.id)} and ${workerId}`));
              owner.set(c.id, workerId);
            }
            const outcomes = claimed.map((c) => ({
              kind: 'completed' as const,
              id: c.id,
              attempt: c.attempts,
              archive: true,
            }));
            const { settled } = await asTheCoreDoes(() => store.settle({ workerId, outcomes }), conflicts);
            if (settled.length !== claimed.length)
              errors.push(new Error(`settle refused ${claimed.length - settled.length}`));
          } catch (error) {
            errors.push(error);
            return;
          }
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    expect(errors).toEqual([]);
    expect(owner.size).toBe(total);
    expect([...owner.keys()].sort()).toEqual([...ids].sort());
    expect(new Set(owner.values()).size).toBeGreaterThan(1);
    expect(await live(store)).toEqual([]);
    const [archive] = (await t.db.execute(
      sql`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d, max(attempts) AS a FROM bus_events_archive`,
    )) as unknown as { n: number; d: number; a: number }[];
    expect(archive).toEqual({ n: total, d: total, a: 1 });
    // FOR UPDATE SKIP LOCKED and id-ordered settles: PostgreSQL never reports a conflict here.
    expect(conflicts.n).toBe(0);
    const rate = total / seconds;
    console.info(
      `batch ${batch}: ${total} rows claimed+settled by 8 claimers in ${seconds.toFixed(2)} s (${Math.round(rate)} rows/s)`,
    );
    expect(rate).toBeGreaterThan(minRate);
  });
});
