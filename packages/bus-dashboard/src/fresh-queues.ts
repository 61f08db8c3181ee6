import type { BusAdmin, QueueOverview } from 'bus-core';

type PauseRow = Awaited<ReturnType<BusAdmin['pauses']>>[number];
type LimitsRow = Awaited<ReturnType<BusAdmin['limits']>>[number];
type WorkerRow = Awaited<ReturnType<BusAdmin['workers']>>[number];

/** What every queues request reads afresh: small tables, and what the screen's actions change. */
export interface FreshQueueState {
  pauses: PauseRow[];
  limits: LimitsRow[];
  workers: WorkerRow[];
}

/** A queue's row of the screen: counts when they have been taken, pause state and limits always. */
export type QueueRow = QueueOverview & { counted: boolean };

const NO_COUNTS = {
  available: 0,
  scheduled: 0,
  running: 0,
  retrying: 0,
  archivedCompleted: 0,
  archivedFailed: 0,
  archivedCancelled: 0,
  oldestAvailableAt: null,
};

/**
 * Background counts with this request's pauses and limits laid over them, so a pause or resume
 * shows on the redirect that follows it. The queues are those `admin.queues()` lists (rows, a
 * configuration) and any queue with a pause, limits or a worker now; a queue the counts do not
 * know yet shows zero, or no numbers at all before the first count.
 */
export function freshQueues(counted: QueueOverview[] | undefined, fresh: FreshQueueState): QueueRow[] {
  const byQueue = new Map((counted ?? []).map((q) => [q.queue, q]));
  const names = new Set<string>(byQueue.keys());
  for (const p of fresh.pauses) names.add(p.queue);
  for (const l of fresh.limits) names.add(l.queue);
  for (const w of fresh.workers) for (const q of w.queues) names.add(q);
  const limitsOf = new Map(fresh.limits.map((l) => [l.queue, l.limits]));
  return [...names]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((queue) => {
      const c = byQueue.get(queue);
      const mine = fresh.pauses.filter((p) => p.queue === queue);
      return {
        // Every count of the overview, whatever fields it grows, then what this request read.
        ...(c ?? { ...NO_COUNTS, queue }),
        paused: mine.some((p) => p.handlerName === null),
        pausedHandlers: mine.flatMap((p) => (p.handlerName === null ? [] : [p.handlerName])),
        limits: limitsOf.get(queue) ?? null,
        counted: counted !== undefined,
      };
    });
}
