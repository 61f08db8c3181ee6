// INTERIM until bus-core exports createAdmin/BusAdmin (helper A1): the same shape, over the store.
import type { ArchivedEventRow, ArchiveStatus, EventRow, QueueStore } from 'bus-core';
import { BusError } from 'bus-core';

type LiveState = 'available' | 'scheduled' | 'running';
interface RowFilter {
  queue?: string;
  eventName?: string;
  handlerName?: string;
  errorContains?: string;
}
export interface AdminLiveFilter extends RowFilter {
  state?: LiveState;
}
export interface AdminArchiveFilter extends RowFilter {
  statuses?: readonly ArchiveStatus[];
}
export interface AdminTarget<F = AdminLiveFilter> {
  ids?: readonly string[];
  filter?: F;
  all?: boolean;
}
export interface AdminReport {
  count: number;
  ids: string[];
  unknown: string[];
}
export interface AdminPage {
  afterId?: string;
  newestFirst?: boolean;
  limit?: number;
}
export interface QueueOverview {
  queue: string;
  available: number;
  scheduled: number;
  running: number;
  retrying: number;
  archivedCompleted: number;
  archivedFailed: number;
  archivedCancelled: number;
  oldestAvailableAt?: Date | null;
  paused: boolean;
  pausedHandlers: string[];
}
export interface PauseRow {
  queue: string;
  handlerName: string | null;
  pausedAt: Date;
}
export interface WorkerRow {
  workerId: string;
  queues: string[];
  info: string;
  startedAt: Date;
  lastSeenAt: Date;
}
export type FoundRow = { where: 'live'; row: EventRow } | { where: 'archive'; row: ArchivedEventRow };

/** The admin API the dashboard and the CLI call (bus-core's `BusAdmin`). */
export interface BusAdmin<TTx = unknown> {
  cancel(target: AdminTarget, options?: { tx?: TTx; reason?: string }): Promise<AdminReport>;
  redrive(target: AdminTarget<AdminArchiveFilter>, options?: { tx?: TTx }): Promise<AdminReport>;
  runNow(ids: readonly string[], options?: { tx?: TTx }): Promise<AdminReport>;
  pause(queue: string, options?: { tx?: TTx; handlerName?: string }): Promise<{ changed: boolean }>;
  resume(queue: string, options?: { tx?: TTx; handlerName?: string }): Promise<{ changed: boolean }>;
  queues(): Promise<QueueOverview[]>;
  pauses(): Promise<PauseRow[]>;
  events(filter?: AdminLiveFilter & AdminPage): Promise<EventRow[]>;
  archive(filter?: RowFilter & { status?: ArchiveStatus } & AdminPage): Promise<ArchivedEventRow[]>;
  event(id: string): Promise<FoundRow | null>;
  workers(options?: { seenWithinMs?: number }): Promise<WorkerRow[]>;
  purgeArchive(options: { olderThanMs: number }): Promise<number>;
  now(): Promise<Date>;
}

const clean = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as T;

/** A `BusAdmin` over a store (interim: bus-core's `createAdmin` replaces it). */
export function createAdmin({ store }: { store: QueueStore<any> }): BusAdmin {
  const s = store as any;
  const report = (ids: string[], asked?: readonly string[]): AdminReport => ({
    count: ids.length,
    ids: asked ? ids : [],
    unknown: asked ? asked.filter((id) => !ids.includes(id)) : [],
  });
  const refuseAll = (target: AdminTarget<any>) => {
    const hasFilter = target.filter && Object.values(clean(target.filter)).length > 0;
    if (!target.ids?.length && !hasFilter && !target.all)
      throw new BusError('INVALID_ARGUMENT', 'a target with no ids and no filter needs all: true');
  };
  return {
    async cancel(target, options = {}) {
      refuseAll(target);
      const all: string[] = [];
      for (;;) {
        const ids: string[] = await s.admin.cancel({
          ...(target.ids?.length ? { ids: [...target.ids] } : {}),
          filter: clean(target.filter ?? {}),
          limit: 1000,
          archive: true,
          reason: options.reason ?? 'cancelled',
        });
        all.push(...ids);
        if (ids.length < 1000) break;
      }
      return report(all, target.ids);
    },
    async redrive(target) {
      refuseAll(target);
      const { statuses, ...filter } = target.filter ?? {};
      const all: string[] = [];
      for (;;) {
        const ids: string[] = await s.admin.redrive({
          ...(target.ids?.length ? { ids: [...target.ids] } : {}),
          filter: clean(filter),
          statuses: statuses ? [...statuses] : ['failed', 'cancelled'],
          limit: 1000,
        });
        all.push(...ids);
        if (ids.length < 1000) break;
      }
      return report(all, target.ids);
    },
    async runNow(ids) {
      return report(await s.admin.runNow({ ids: [...ids] }), ids);
    },
    async pause(queue, options = {}) {
      return { changed: await s.admin.pause({ queue, handlerName: options.handlerName ?? null }) };
    },
    async resume(queue, options = {}) {
      return { changed: await s.admin.resume({ queue, handlerName: options.handlerName ?? null }) };
    },
    async queues() {
      const [counts, pauses] = await Promise.all([store.inspect.countByQueue(), s.inspect.listPauses()]);
      return counts.map((c: any) => ({
        ...c,
        paused: pauses.some((p: PauseRow) => p.queue === c.queue && p.handlerName === null),
        pausedHandlers: pauses
          .filter((p: PauseRow) => p.queue === c.queue && p.handlerName !== null)
          .map((p: PauseRow) => p.handlerName!),
      }));
    },
    pauses: () => s.inspect.listPauses(),
    events: (filter = {}) => store.inspect.listEvents({ limit: 100, ...clean(filter) } as any),
    archive: (filter = {}) => store.inspect.listArchive({ limit: 100, ...clean(filter) } as any),
    async event(id) {
      if (!/^[1-9][0-9]{0,18}$/.test(id)) return null;
      const live = await store.inspect.listEvents({ ids: [id], limit: 1 } as any);
      if (live[0]) return { where: 'live', row: live[0] };
      const archived = await store.inspect.listArchive({ ids: [id], limit: 1 } as any);
      return archived[0] ? { where: 'archive', row: archived[0] } : null;
    },
    workers: (options = {}) => s.inspect.listWorkers({ seenWithinMs: options.seenWithinMs ?? 60_000 }),
    async purgeArchive({ olderThanMs }) {
      let total = 0;
      for (;;) {
        const n = await store.prune({ olderThanMs, limit: 1000 } as any);
        total += n;
        if (n < 1000) return total;
      }
    },
    now: () => store.now(),
  };
}
