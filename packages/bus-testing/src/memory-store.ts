import {
  type ArchivedEventRow,
  BusError,
  type ClaimedEvent,
  type ClaimParams,
  type EventRow,
  type ExtendLeasesParams,
  type InsertParams,
  type ListArchiveParams,
  type ListEventsParams,
  type PruneParams,
  type QueueCounts,
  QueueCountsTally,
  type QueueStore,
  type ReleaseParams,
  type RescueParams,
  type SettleOutcome,
  type SettleParams,
  type SettleResult,
  type StoreCapabilities,
} from 'bus-core';
import { type Clock, systemClock } from './clock.js';

/**
 * The in-memory store's transaction: writes made through it apply at commit and vanish on
 * rollback, like a database's.
 */
export interface MemoryTx {
  readonly kind: 'memory-tx';
}

interface TxState extends MemoryTx {
  effects: (() => void)[];
  open: boolean;
}

/** Options of `memoryStore`. */
export interface MemoryStoreOptions {
  /** "Database time"; a `ManualClock` lets tests move it. */
  clock?: Clock;
}

/**
 * A `QueueStore` held in process memory, for users' unit tests. It passes the same conformance
 * suite as the SQL stores; it is not durable and not shared between processes.
 */
export class MemoryStore implements QueueStore<MemoryTx> {
  readonly capabilities: StoreCapabilities = Object.freeze({ notify: false, transactionalCompletion: true });
  readonly clock: Clock;
  readonly #rows = new Map<string, EventRow>();
  readonly #archive = new Map<string, ArchivedEventRow>();
  #nextId = 1n;

  constructor(options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
  }

  async insert(params: InsertParams<MemoryTx>): Promise<string[]> {
    const tx = this.#tx(params.tx);
    const now = this.clock.now();
    const rows: EventRow[] = params.rows.map((r) => ({
      id: String(this.#nextId++),
      queue: r.queue,
      eventName: r.eventName,
      handlerName: r.handlerName,
      payload: Uint8Array.from(r.payload),
      payloadJson: r.payloadJson === null ? null : JSON.parse(r.payloadJson),
      attempts: 0,
      maxRetries: r.maxRetries,
      // An integer column has no -0; the SQL stores give 0 back.
      priority: r.priority === 0 ? 0 : r.priority,
      scheduledAt: r.runAt ? new Date(r.runAt.getTime()) : new Date(now.getTime() + r.delayMs),
      lockedUntil: null,
      lockedBy: null,
      lastError: null,
      createdAt: now,
    }));
    const apply = () => {
      for (const row of rows) this.#rows.set(row.id, row);
    };
    if (tx) tx.effects.push(apply);
    else apply();
    return rows.map((r) => r.id);
  }

  async claim(params: ClaimParams): Promise<ClaimedEvent[]> {
    const now = this.clock.now();
    const due = [...this.#rows.values()]
      .filter((r) => r.queue === params.queue && r.lockedUntil === null && r.scheduledAt <= now)
      .sort(
        (a, b) =>
          a.priority - b.priority ||
          a.scheduledAt.getTime() - b.scheduledAt.getTime() ||
          compareIds(a.id, b.id),
      )
      .slice(0, params.limit);
    return due.map((row) => {
      row.attempts += 1;
      row.lockedBy = params.workerId;
      row.lockedUntil = new Date(now.getTime() + params.leaseMs);
      return {
        id: row.id,
        queue: row.queue,
        eventName: row.eventName,
        handlerName: row.handlerName,
        payload: Uint8Array.from(row.payload),
        attempts: row.attempts,
        maxRetries: row.maxRetries,
        priority: row.priority,
        createdAt: row.createdAt,
      };
    });
  }

  async settle(params: SettleParams<MemoryTx>): Promise<SettleResult> {
    const tx = this.#tx(params.tx);
    const held = params.outcomes.filter((o) => this.#holds(params.workerId, o.id, o.attempt));
    if (tx) {
      tx.effects.push(() => {
        const lost = held.find((o) => !this.#holds(params.workerId, o.id, o.attempt));
        if (lost)
          throw new BusError('LEASE_LOST', `row ${lost.id} changed hands before commit`, { value: lost.id });
        for (const o of held) this.#apply(o);
      });
    } else {
      for (const o of held) this.#apply(o);
    }
    return { settled: held.map((o) => o.id) };
  }

  async extendLeases(params: ExtendLeasesParams): Promise<string[]> {
    const until = new Date(this.clock.now().getTime() + params.leaseMs);
    const kept: string[] = [];
    for (const e of params.events) {
      if (!this.#holds(params.workerId, e.id, e.attempt)) continue;
      this.#rows.get(e.id)!.lockedUntil = until;
      kept.push(e.id);
    }
    return kept;
  }

  async release(params: ReleaseParams): Promise<string[]> {
    const released: string[] = [];
    for (const e of params.events) {
      if (!this.#holds(params.workerId, e.id, e.attempt)) continue;
      const row = this.#rows.get(e.id)!;
      row.lockedBy = null;
      row.lockedUntil = null;
      row.attempts -= 1;
      released.push(e.id);
    }
    return released;
  }

  async rescue(params: RescueParams): Promise<number> {
    const now = this.clock.now();
    let n = 0;
    for (const row of this.#rows.values()) {
      if (n >= params.limit) break;
      if (row.lockedUntil === null || row.lockedUntil >= now) continue;
      row.lockedUntil = null;
      row.lockedBy = null;
      row.lastError = params.error;
      n++;
    }
    return n;
  }

  async prune(params: PruneParams): Promise<number> {
    const cutoff = this.clock.now().getTime() - params.olderThanMs;
    let n = 0;
    for (const [id, row] of this.#archive) {
      if (n >= params.limit) break;
      if (row.finishedAt.getTime() >= cutoff) continue;
      this.#archive.delete(id);
      n++;
    }
    return n;
  }

  async now(): Promise<Date> {
    return this.clock.now();
  }

  /** Memory has no schema to migrate: always ready. */
  async checkSchema(): Promise<void> {}

  async transaction<T>(fn: (tx: MemoryTx) => Promise<T>): Promise<T> {
    const tx: TxState = { kind: 'memory-tx', effects: [], open: true };
    try {
      const result = await fn(tx);
      for (const effect of tx.effects) effect();
      return result;
    } finally {
      tx.open = false;
    }
  }

  async listEvents(params: ListEventsParams = {}): Promise<EventRow[]> {
    return select([...this.#rows.values()], params).map((r) => ({
      ...r,
      payload: Uint8Array.from(r.payload),
    }));
  }

  async listArchive(params: ListArchiveParams = {}): Promise<ArchivedEventRow[]> {
    const rows = select([...this.#archive.values()], params).filter(
      (r) => params.status === undefined || r.status === params.status,
    );
    return rows.map((r) => ({ ...r, payload: Uint8Array.from(r.payload) }));
  }

  async countByQueue(): Promise<QueueCounts[]> {
    const now = this.clock.now();
    const tally = new QueueCountsTally();
    for (const row of this.#rows.values()) {
      const c = tally.of(row.queue);
      if (row.lockedUntil !== null) c.running++;
      else if (row.scheduledAt <= now) c.available++;
      else c.scheduled++;
      if (row.lastError !== null) c.retrying++;
    }
    for (const row of this.#archive.values()) {
      const c = tally.of(row.queue);
      if (row.status === 'completed') c.archivedCompleted++;
      else c.archivedFailed++;
    }
    return tally.list();
  }

  /** Empties both tables (for tests that reuse one store). */
  clear(): void {
    this.#rows.clear();
    this.#archive.clear();
  }

  #tx(tx: MemoryTx | undefined): TxState | undefined {
    if (tx === undefined) return undefined;
    const state = tx as TxState;
    if (state.kind !== 'memory-tx' || !Array.isArray(state.effects)) {
      throw new BusError('INVALID_ARGUMENT', 'not a transaction of this in-memory store', { value: tx });
    }
    if (!state.open)
      throw new BusError('INVALID_ARGUMENT', 'the transaction has already ended', { value: tx });
    return state;
  }

  #holds(workerId: string, id: string, attempt: number): boolean {
    const row = this.#rows.get(id);
    return (
      row !== undefined && row.lockedBy === workerId && row.attempts === attempt && row.lockedUntil !== null
    );
  }

  #apply(outcome: SettleOutcome): void {
    const row = this.#rows.get(outcome.id)!;
    if (outcome.kind === 'retry') {
      row.scheduledAt = new Date(this.clock.now().getTime() + outcome.delayMs);
      row.lockedBy = null;
      row.lockedUntil = null;
      row.lastError = outcome.error;
      return;
    }
    this.#rows.delete(outcome.id);
    if (!outcome.archive) return;
    const { scheduledAt: _s, lockedUntil: _l, lockedBy: _b, ...rest } = row;
    this.#archive.set(row.id, {
      ...rest,
      status: outcome.kind,
      lastError: outcome.kind === 'failed' ? outcome.error : row.lastError,
      finishedAt: this.clock.now(),
    });
  }
}

function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function select<R extends { id: string; queue: string }>(
  rows: R[],
  params: { queue?: string; ids?: string[]; limit?: number },
): R[] {
  const ids = params.ids ? new Set(params.ids) : undefined;
  return rows
    .filter((r) => (params.queue === undefined || r.queue === params.queue) && (!ids || ids.has(r.id)))
    .sort((a, b) => compareIds(a.id, b.id))
    .slice(0, params.limit ?? Number.POSITIVE_INFINITY);
}

/**
 * Creates an in-memory store for unit tests.
 *
 * @example
 * const store = memoryStore({ clock: new ManualClock() });
 * const bus = createBus({ store, queues: [...] });
 */
export function memoryStore(options?: MemoryStoreOptions): MemoryStore {
  return new MemoryStore(options);
}
