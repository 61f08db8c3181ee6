import type {
  RecordTickParams,
  ScheduleRow,
  SetSchedulePausedParams,
  StoreSchedules,
  SyncSchedulesParams,
} from 'bus-core/driver';
import type { Clock } from './clock.js';
import type { MemoryTables } from './memory-tables.js';
import { type MemoryTx, type TxState, txState, write } from './memory-tx.js';

interface ScheduleState {
  rows: Map<string, ScheduleRow>;
  /** A schedule row an open transaction's `recordTick` holds: others wait, as on a row lock. */
  locks: Map<string, TxState>;
}

const states = new WeakMap<MemoryTables, ScheduleState>();

function stateOf(tables: MemoryTables): ScheduleState {
  let state = states.get(tables);
  if (state === undefined) {
    state = { rows: new Map(), locks: new Map() };
    states.set(tables, state);
  }
  return state;
}

/** Forgets every schedule (for `MemoryStore.clear`). */
export function clearSchedules(tables: MemoryTables): void {
  states.delete(tables);
}

function copy(row: ScheduleRow): ScheduleRow {
  return { ...row };
}

/** `StoreSchedules` in memory. */
export class MemorySchedules implements StoreSchedules<MemoryTx> {
  readonly #tables: MemoryTables;
  readonly #clock: Clock;

  constructor(tables: MemoryTables, clock: Clock) {
    this.#tables = tables;
    this.#clock = clock;
  }

  async sync(params: SyncSchedulesParams): Promise<void> {
    const { rows } = stateOf(this.#tables);
    const now = this.#clock.now();
    for (const { name, signature } of params.schedules) {
      const row = rows.get(name);
      if (row === undefined) {
        rows.set(name, { name, signature, paused: false, anchorAt: now, lastTickAt: null, nextTickAt: null });
      } else if (row.signature !== signature) {
        rows.set(name, { ...row, signature, anchorAt: now });
      }
    }
  }

  async list(): Promise<ScheduleRow[]> {
    return [...stateOf(this.#tables).rows.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(copy);
  }

  async recordTick(params: RecordTickParams<MemoryTx>): Promise<boolean> {
    const tx = txState(params.tx);
    const state = stateOf(this.#tables);
    for (;;) {
      const lock = state.locks.get(params.name);
      if (lock === undefined || !lock.open || lock === tx) break;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const row = state.rows.get(params.name);
    if (
      row === undefined ||
      row.paused ||
      row.signature !== params.signature ||
      (row.lastTickAt !== null && row.lastTickAt >= params.tickAt)
    ) {
      return false;
    }
    if (tx !== undefined) state.locks.set(params.name, tx);
    const tickAt = new Date(params.tickAt.getTime());
    const nextTickAt = params.nextTickAt === null ? null : new Date(params.nextTickAt.getTime());
    write(tx, {
      check() {},
      apply: () => {
        const current = state.rows.get(params.name);
        if (current !== undefined)
          state.rows.set(params.name, { ...current, lastTickAt: tickAt, nextTickAt });
      },
    });
    return true;
  }

  async setPaused(params: SetSchedulePausedParams): Promise<boolean> {
    const { rows } = stateOf(this.#tables);
    const row = rows.get(params.name);
    if (row === undefined) return false;
    rows.set(params.name, { ...row, paused: params.paused });
    return true;
  }
}
