import type {
  CancelParams,
  PauseParams,
  RecordWorkerParams,
  RedriveParams,
  RunNowParams,
  SetLimitsParams,
  StoreAdmin,
} from 'bus-core/driver';
import type { Clock } from './clock.js';
import { setLimits } from './memory-limits.js';
import { compareIds, liveStateOf, type MemoryTables, matchesFilter, pauseKey } from './memory-tables.js';
import { type MemoryTx, type TxState, txState, write } from './memory-tx.js';
import { releaseLiveKeys } from './memory-unique.js';

/**
 * The in-memory store's `admin` member. Rows a call takes inside an open transaction are locked
 * until it ends (other calls skip them, as `SKIP LOCKED` does), and its writes apply at commit.
 */
export class MemoryAdmin implements StoreAdmin<MemoryTx> {
  constructor(
    private readonly tables: MemoryTables,
    private readonly clock: Clock,
  ) {}

  async cancel(params: CancelParams<MemoryTx>): Promise<string[]> {
    const tx = txState(params.tx);
    const now = this.clock.now();
    const ids = params.ids === undefined ? undefined : new Set(params.ids);
    const filter = params.filter ?? {};
    const rows = [...this.tables.live.values()]
      .filter(
        (r) =>
          (ids === undefined || ids.has(r.id)) &&
          matchesFilter(r, filter) &&
          (filter.state === undefined || liveStateOf(r, now) === filter.state) &&
          this.#free(r.id, tx),
      )
      .sort((a, b) => compareIds(a.id, b.id))
      .slice(0, params.limit);
    const taken = rows.map((r) => r.id);
    this.#lock(taken, tx, true);
    write(tx, {
      check() {},
      apply: () => {
        const at = this.clock.now();
        for (const id of taken) {
          const row = this.tables.live.get(id);
          if (row === undefined) continue;
          this.tables.live.delete(id);
          if (!params.archive) continue;
          const { scheduledAt: _s, lockedUntil: _l, lockedBy: _b, snoozes: _z, ...rest } = row;
          this.tables.archive.set(id, {
            ...rest,
            status: 'cancelled',
            lastError: params.reason,
            finishedAt: at,
          });
        }
      },
    });
    return taken;
  }

  async redrive(params: RedriveParams<MemoryTx>): Promise<string[]> {
    const tx = txState(params.tx);
    const ids = params.ids === undefined ? undefined : new Set(params.ids);
    const statuses = new Set(params.statuses);
    const rows = [...this.tables.archive.values()]
      .filter(
        (r) =>
          (ids === undefined || ids.has(r.id)) &&
          statuses.has(r.status) &&
          matchesFilter(r, params.filter ?? {}) &&
          this.#free(r.id, tx),
      )
      .sort((a, b) => compareIds(a.id, b.id))
      .slice(0, params.limit);
    const taken = rows.map((r) => r.id);
    this.#lock(taken, tx, true);
    write(tx, {
      check() {},
      apply: () => {
        const at = this.clock.now();
        for (const id of taken) {
          const row = this.tables.archive.get(id);
          if (row === undefined) continue;
          this.tables.archive.delete(id);
          const { status: _s, finishedAt: _f, ...rest } = row;
          this.tables.live.set(id, {
            ...rest,
            attempts: 0,
            snoozes: 0,
            scheduledAt: at,
            lockedUntil: null,
            lockedBy: null,
          });
        }
        releaseLiveKeys(this.tables, taken);
      },
    });
    return taken;
  }

  async runNow(params: RunNowParams<MemoryTx>): Promise<string[]> {
    const tx = txState(params.tx);
    const taken = params.ids
      .filter((id) => {
        const row = this.tables.live.get(id);
        return row !== undefined && row.lockedUntil === null && this.#free(id, tx);
      })
      .sort(compareIds);
    this.#lock(taken, tx, false);
    write(tx, {
      check() {},
      apply: () => {
        const at = this.clock.now();
        for (const id of taken) {
          const row = this.tables.live.get(id);
          if (row === undefined || row.lockedUntil !== null) continue;
          if (row.scheduledAt > at) row.scheduledAt = at;
        }
      },
    });
    return taken;
  }

  async pause(params: PauseParams<MemoryTx>): Promise<boolean> {
    const tx = txState(params.tx);
    const key = pauseKey(params.queue, params.handlerName);
    const changed = !this.tables.pauses.has(key);
    write(tx, {
      check() {},
      apply: () => {
        if (this.tables.pauses.has(key)) return;
        this.tables.pauses.set(key, {
          queue: params.queue,
          handlerName: params.handlerName ?? null,
          pausedAt: this.clock.now(),
        });
      },
    });
    return changed;
  }

  async resume(params: PauseParams<MemoryTx>): Promise<boolean> {
    const tx = txState(params.tx);
    const key = pauseKey(params.queue, params.handlerName);
    const changed = this.tables.pauses.has(key);
    write(tx, {
      check() {},
      apply: () => {
        this.tables.pauses.delete(key);
      },
    });
    return changed;
  }

  async setLimits(params: SetLimitsParams<MemoryTx>): Promise<boolean> {
    return setLimits(this.tables, this.clock, params);
  }

  async recordWorker(params: RecordWorkerParams): Promise<void> {
    const now = this.clock.now();
    const known = this.tables.workers.get(params.workerId);
    this.tables.workers.set(params.workerId, {
      workerId: params.workerId,
      queues: [...params.queues],
      info: params.info,
      startedAt: known?.startedAt ?? now,
      lastSeenAt: now,
    });
  }

  async removeWorker(params: { workerId: string }): Promise<void> {
    this.tables.workers.delete(params.workerId);
  }

  // A row another open transaction took is skipped; one this transaction took is its own,
  // unless this transaction already moved it out of the table (then it no longer sees it there).
  #free(id: string, tx: TxState | undefined): boolean {
    const lock = this.tables.locks.get(id);
    if (lock === undefined) return true;
    if (!lock.tx.open) {
      this.tables.locks.delete(id);
      return true;
    }
    return lock.tx === tx && !lock.gone;
  }

  #lock(ids: string[], tx: TxState | undefined, gone: boolean): void {
    if (tx === undefined) return;
    for (const id of ids) this.tables.locks.set(id, { tx, gone });
  }
}
