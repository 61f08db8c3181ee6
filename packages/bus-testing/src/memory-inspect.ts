import type { ArchivedEventRow, EventRow, QueueCounts } from 'bus-core';
import {
  type ListArchiveParams,
  type ListEventsParams,
  QueueCountsTally,
  type StoreInspection,
} from 'bus-core/driver';
import type { Clock } from './clock.js';
import { archivedRowOf, compareIds, eventRowOf, type MemoryTables } from './memory-tables.js';

/** The in-memory store's `inspect` member: reads of its two tables, in id order. */
export class MemoryInspection implements StoreInspection {
  constructor(
    private readonly tables: MemoryTables,
    private readonly clock: Clock,
  ) {}

  async listEvents(params: ListEventsParams): Promise<EventRow[]> {
    return select([...this.tables.live.values()], params).map(eventRowOf);
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
      if (row.lockedUntil !== null) c.running++;
      else if (row.scheduledAt <= now) {
        c.available++;
        const t = row.scheduledAt.getTime();
        if (t < (oldest.get(row.queue) ?? Number.POSITIVE_INFINITY)) oldest.set(row.queue, t);
      } else c.scheduled++;
      if (row.lastError !== null) c.retrying++;
    }
    for (const row of this.tables.archive.values()) {
      const c = tally.of(row.queue);
      if (row.status === 'completed') c.archivedCompleted++;
      else c.archivedFailed++;
    }
    return tally.list().map((c) => {
      const t = oldest.get(c.queue);
      return { ...c, oldestAvailableAt: t === undefined ? null : new Date(t) };
    });
  }
}

function select<R extends { id: string; queue: string }>(rows: R[], params: ListEventsParams): R[] {
  const ids = params.ids === undefined ? undefined : new Set(params.ids);
  const after = params.afterId;
  return rows
    .filter(
      (r) =>
        (params.queue === undefined || r.queue === params.queue) &&
        (ids === undefined || ids.has(r.id)) &&
        (after === undefined || compareIds(r.id, after) > 0),
    )
    .sort((a, b) => compareIds(a.id, b.id))
    .slice(0, params.limit);
}
