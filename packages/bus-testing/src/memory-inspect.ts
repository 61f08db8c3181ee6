import type { ArchivedEventRow, EventRow, QueueCounts } from 'bus-core';
import {
  type LimitsRow,
  type ListArchiveParams,
  type ListEventsParams,
  type ListWorkersParams,
  type PauseRow,
  QueueCountsTally,
  type StoreInspection,
  type WorkerRow,
} from 'bus-core/driver';
import type { Clock } from './clock.js';
import { listLimits } from './memory-limits.js';
import {
  archivedRowOf,
  compareIds,
  eventRowOf,
  liveStateOf,
  type MemoryTables,
  matchesFilter,
} from './memory-tables.js';

/** The in-memory store's `inspect` member: reads of its tables, in id order. */
export class MemoryInspection implements StoreInspection {
  constructor(
    private readonly tables: MemoryTables,
    private readonly clock: Clock,
  ) {}

  async listEvents(params: ListEventsParams): Promise<EventRow[]> {
    const now = this.clock.now();
    const rows = [...this.tables.live.values()].filter(
      (r) => params.state === undefined || liveStateOf(r, now) === params.state,
    );
    return select(rows, params).map(eventRowOf);
  }

  async listArchive(params: ListArchiveParams): Promise<ArchivedEventRow[]> {
    const rows = [...this.tables.archive.values()].filter(
      (r) => params.status === undefined || r.status === params.status,
    );
    return select(rows, params).map(archivedRowOf);
  }

  async countByQueue(): Promise<QueueCounts[]> {
    const now = this.clock.now();
    const tally = new QueueCountsTally();
    // Per queue, the earliest due time among the rows available now (ms).
    const oldest = new Map<string, number>();
    for (const row of this.tables.live.values()) {
      const c = tally.of(row.queue);
      const state = liveStateOf(row, now);
      c[state]++;
      if (state === 'available') {
        const t = row.scheduledAt.getTime();
        if (t < (oldest.get(row.queue) ?? Number.POSITIVE_INFINITY)) oldest.set(row.queue, t);
      }
      if (row.lastError !== null) c.retrying++;
    }
    for (const row of this.tables.archive.values()) {
      const c = tally.of(row.queue);
      if (row.status === 'completed') c.archivedCompleted++;
      else if (row.status === 'failed') c.archivedFailed++;
      else c.archivedCancelled++;
    }
    return tally.list().map((c) => {
      const t = oldest.get(c.queue);
      return { ...c, oldestAvailableAt: t === undefined ? null : new Date(t) };
    });
  }

  async listPauses(): Promise<PauseRow[]> {
    return [...this.tables.pauses.values()]
      .sort((a, b) => compareText(a.queue, b.queue) || compareText(a.handlerName ?? '', b.handlerName ?? ''))
      .map((p) => ({ ...p, pausedAt: new Date(p.pausedAt.getTime()) }));
  }

  async listLimits(): Promise<LimitsRow[]> {
    return listLimits(this.tables);
  }

  async listWorkers(params: ListWorkersParams): Promise<WorkerRow[]> {
    const since = this.clock.now().getTime() - params.seenWithinMs;
    return [...this.tables.workers.values()]
      .filter((w) => w.lastSeenAt.getTime() >= since)
      .sort((a, b) => compareText(a.workerId, b.workerId))
      .map((w) => ({
        ...w,
        queues: [...w.queues],
        startedAt: new Date(w.startedAt.getTime()),
        lastSeenAt: new Date(w.lastSeenAt.getTime()),
      }));
  }
}

// Binary order, as the SQL stores' names sort under their binary collations.
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function select<
  R extends { id: string; queue: string; eventName: string; handlerName: string; lastError: string | null },
>(rows: R[], params: ListEventsParams | ListArchiveParams): R[] {
  const ids = params.ids === undefined ? undefined : new Set(params.ids);
  const after = params.afterId;
  const direction = params.newestFirst === true ? -1 : 1;
  return rows
    .filter(
      (r) =>
        matchesFilter(r, params) &&
        (ids === undefined || ids.has(r.id)) &&
        (after === undefined || direction * compareIds(r.id, after) > 0),
    )
    .sort((a, b) => direction * compareIds(a.id, b.id))
    .slice(0, params.limit);
}
