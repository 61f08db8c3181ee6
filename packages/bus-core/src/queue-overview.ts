import type { QueueOverview } from './admin-api.js';
import type { PauseRow, QueueCounts } from './contract/index.js';
import type { QueueLimits } from './flow/limits.js';

/** The parts a queues overview is laid together from (see `queueOverviews`). */
export interface QueueOverviewParts {
  /** Queues to list even without rows, a pause, limits or a worker (a configuration's queues). */
  names?: Iterable<string>;
  /** Counts per queue; a queue missing here shows zeros. */
  counts: readonly QueueCounts[];
  pauses: readonly Pick<PauseRow, 'queue' | 'handlerName'>[];
  limits: readonly { queue: string; limits: QueueLimits }[];
  /** Workers seen lately: the queues they run are listed. */
  workers: readonly { queues: readonly string[] }[];
}

/**
 * The rows of `bus.admin.queues()` and of the dashboard's queues screen, which read their parts
 * at different times (the dashboard counts in the background): every queue named by a part, in
 * byte order, with its counts (zero when it has none), its pauses and its limits.
 *
 * @example
 * const rows = queueOverviews({ counts, pauses, limits: await admin.limits(), workers: await admin.workers() });
 */
export function queueOverviews(parts: QueueOverviewParts): QueueOverview[] {
  const names = new Set<string>(parts.names);
  for (const c of parts.counts) names.add(c.queue);
  for (const p of parts.pauses) names.add(p.queue);
  for (const w of parts.workers) for (const q of w.queues) names.add(q);
  for (const l of parts.limits) names.add(l.queue);
  const countsOf = new Map(parts.counts.map((c) => [c.queue, c]));
  const limitsOf = new Map(parts.limits.map((l) => [l.queue, l.limits]));
  return [...names]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((queue) => {
      const c = countsOf.get(queue);
      const mine = parts.pauses.filter((p) => p.queue === queue);
      return {
        queue,
        available: c?.available ?? 0,
        scheduled: c?.scheduled ?? 0,
        running: c?.running ?? 0,
        retrying: c?.retrying ?? 0,
        archivedCompleted: c?.archivedCompleted ?? 0,
        archivedFailed: c?.archivedFailed ?? 0,
        archivedCancelled: c?.archivedCancelled ?? 0,
        oldestAvailableAt: c?.oldestAvailableAt ?? null,
        paused: mine.some((p) => p.handlerName === null),
        pausedHandlers: mine.flatMap((p) => (p.handlerName === null ? [] : [p.handlerName])),
        limits: limitsOf.get(queue) ?? null,
      };
    });
}
