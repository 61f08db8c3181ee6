import type { ScheduleRow } from '../contract/schedules.js';
import type { ScheduleDefinition } from './define.js';

// Ticks published per schedule in one round at most: the rest follow in the next round.
const MAX_TICKS_PER_ROUND = 1000;

/**
 * The ticks of `definition` to publish now, oldest first: every tick after the schedule's last
 * tick (or its anchor) that is due at most `graceMs` before `now` (the database's), and of the
 * older, missed ones what the missed-tick policy keeps.
 *
 * @example
 * planTicks(definition, row, await store.now());
 */
export function planTicks(definition: ScheduleDefinition, row: ScheduleRow, now: Date): Date[] {
  const from = Math.max(row.anchorAt.getTime(), row.lastTickAt?.getTime() ?? Number.NEGATIVE_INFINITY);
  const cutoff = now.getTime() - definition.graceMs;
  const ticks: Date[] = [];
  if (cutoff > from) {
    const policy = definition.missed;
    const keep = policy === 'skip' ? 0 : policy === 'last' ? 1 : policy.backfill;
    if (keep > 0) {
      const missed = definition
        .latestAtOrBefore(new Date(cutoff), keep)
        .filter((t) => t.getTime() > from)
        .reverse();
      ticks.push(...missed);
    }
  }
  let tick = definition.nextAfter(new Date(Math.max(from, cutoff)));
  while (tick !== null && tick.getTime() <= now.getTime() && ticks.length < MAX_TICKS_PER_ROUND) {
    ticks.push(tick);
    tick = definition.nextAfter(tick);
  }
  return ticks;
}

/**
 * The next tick a schedule will publish (for listings): the first after its last tick or anchor,
 * or `null` when the expression has none.
 *
 * @example
 * nextTickOf(definition, row);
 */
export function nextTickOf(
  definition: ScheduleDefinition,
  row: ScheduleRow | undefined,
  now: Date,
): Date | null {
  if (row === undefined || row.signature !== definition.signature) return definition.nextAfter(now);
  const from = Math.max(row.anchorAt.getTime(), row.lastTickAt?.getTime() ?? Number.NEGATIVE_INFINITY);
  return definition.nextAfter(new Date(Math.max(from, now.getTime() - definition.graceMs)));
}
