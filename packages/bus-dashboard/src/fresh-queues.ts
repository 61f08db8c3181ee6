import { type BusAdmin, type QueueOverview, queueOverviews } from 'bus-core';

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

/**
 * Background counts with this request's pauses and limits laid over them (`queueOverviews`, as
 * `admin.queues()` does), so a pause or resume shows on the redirect that follows it. The queues
 * are those the counts know and any queue with a pause, limits or a worker now; a queue the
 * counts do not know yet shows zero, or no numbers at all before the first count.
 */
export function freshQueues(counted: QueueOverview[] | undefined, fresh: FreshQueueState): QueueRow[] {
  return queueOverviews({
    counts: counted ?? [],
    pauses: fresh.pauses,
    limits: fresh.limits,
    workers: fresh.workers,
  }).map((row) => ({ ...row, counted: counted !== undefined }));
}
