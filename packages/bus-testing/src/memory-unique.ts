import type {
  InsertParams,
  InsertUniqueParams,
  NewEventRow,
  PruneKeysParams,
  StoreUnique,
  UniqueInsertResult,
} from 'bus-core/driver';
import type { Clock } from './clock.js';
import type { MemoryTables } from './memory-tables.js';
import { type MemoryTx, type TxState, txState, write } from './memory-tx.js';

/** A key held in the keys table: its row and its expiry. */
interface HeldKey {
  id: string;
  expiresAt: number;
}

/** A key an open transaction has taken: others wait for it to end, as on a unique index. */
interface PendingKey {
  tx: TxState;
  id: string;
  committed: boolean;
}

/** The unique state beside a set of memory tables (shared by stores made with `tablesOf`). */
interface UniqueState {
  /** The hot table's unique index: handler + stored key → row id (free once the row left `live`). */
  live: Map<string, string>;
  /** The keys table. */
  held: Map<string, HeldKey>;
  pending: Map<string, PendingKey>;
}

const states = new WeakMap<MemoryTables, UniqueState>();

function stateOf(tables: MemoryTables): UniqueState {
  let state = states.get(tables);
  if (state === undefined) {
    state = { live: new Map(), held: new Map(), pending: new Map() };
    states.set(tables, state);
  }
  return state;
}

/** Forgets every key (for `MemoryStore.clear`). */
export function clearUnique(tables: MemoryTables): void {
  states.delete(tables);
}

/**
 * Lets go of the live keys of rows a redrive brings back under their old ids: a redriven row
 * comes back without its key, as on PostgreSQL (the archive keeps no key) and MySQL.
 */
export function releaseLiveKeys(tables: MemoryTables, ids: readonly string[]): void {
  const state = states.get(tables);
  if (state === undefined || ids.length === 0) return;
  const gone = new Set(ids);
  for (const [name, id] of state.live) if (gone.has(id)) state.live.delete(name);
}

/** `StoreUnique` in memory: the same rules as the SQL stores' unique index and keys table. */
export class MemoryUnique implements StoreUnique<MemoryTx> {
  readonly #tables: MemoryTables;
  readonly #clock: Clock;
  readonly #insert: (params: InsertParams<MemoryTx>) => Promise<string[]>;

  constructor(
    tables: MemoryTables,
    clock: Clock,
    insert: (params: InsertParams<MemoryTx>) => Promise<string[]>,
  ) {
    this.#tables = tables;
    this.#clock = clock;
    this.#insert = insert;
  }

  async insert(params: InsertUniqueParams<MemoryTx>): Promise<UniqueInsertResult[]> {
    const tx = txState(params.tx);
    const state = stateOf(this.#tables);
    const nowMs = this.#clock.now().getTime();
    const results: UniqueInsertResult[] = [];
    // Keys taken by this call without a transaction apply at once, row by row, like statements.
    for (const row of params.rows) {
      const { key, bucketMs, holdMs } = row.unique;
      const stored = bucketMs === null ? key : `${key}@${Math.floor(nowMs / bucketMs)}`;
      const name = `${row.handlerName}\u0000${stored}`;
      for (;;) {
        const pending = state.pending.get(name);
        if (pending === undefined || pending.committed || !pending.tx.open || pending.tx === tx) break;
        // Another open transaction took the key: wait for its end, as the database would.
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const pending = state.pending.get(name);
      if (pending !== undefined && pending.tx === tx && tx !== undefined && !pending.committed) {
        results.push({ id: pending.id, duplicate: true });
        continue;
      }
      const liveId = state.live.get(name);
      if (liveId !== undefined && this.#tables.live.has(liveId)) {
        results.push({ id: liveId, duplicate: true });
        continue;
      }
      const held = holdMs === null ? undefined : state.held.get(name);
      if (held !== undefined && held.expiresAt > nowMs) {
        results.push({ id: held.id, duplicate: true });
        continue;
      }
      const plain: NewEventRow = { ...row };
      delete (plain as Partial<typeof row>).unique;
      // Taken before the insert's await, so a concurrent call sees it (a statement holds the
      // index entry from its insert on); without a transaction it ends with this row.
      const owner: TxState = tx ?? { kind: 'memory-tx', effects: [], open: true };
      const entry: PendingKey = { tx: owner, id: '', committed: false };
      state.pending.set(name, entry);
      let id: string;
      try {
        [id] = (await this.#insert(tx === undefined ? { rows: [plain] } : { rows: [plain], tx })) as [string];
      } finally {
        if (tx === undefined) owner.open = false;
      }
      entry.id = id;
      write(tx, {
        check() {},
        apply: () => {
          state.live.set(name, id);
          if (holdMs !== null) state.held.set(name, { id, expiresAt: nowMs + holdMs });
          entry.committed = true;
          if (state.pending.get(name) === entry) state.pending.delete(name);
        },
      });
      results.push({ id, duplicate: false });
    }
    return results;
  }

  async prune(params: PruneKeysParams): Promise<number> {
    const state = stateOf(this.#tables);
    const nowMs = this.#clock.now().getTime();
    let deleted = 0;
    for (const [name, held] of state.held) {
      if (deleted >= params.limit) break;
      if (held.expiresAt < nowMs) {
        state.held.delete(name);
        deleted++;
      }
    }
    return deleted;
  }
}
