import { BusError, type QueueStore, type StoreCapabilities } from 'bus-core';
import {
  type CheckLeasesParams,
  type ClaimedEvent,
  type ClaimParams,
  claimWithLimits,
  type ExpiredEvent,
  type ExtendLeasesParams,
  type InsertParams,
  type ListExpiredParams,
  type ListenParams,
  type PruneParams,
  payloadJsonOf,
  type ReleaseParams,
  type RescueParams,
  type SettleOutcome,
  type SettleParams,
  type SettleResult,
  type Subscription,
} from 'bus-core/driver';
import { type Clock, systemClock } from './clock.js';
import { MemoryAdmin } from './memory-admin.js';
import { MemoryInspection } from './memory-inspect.js';
import { leaseRow, limitedSteps, readyRowsOf, serialized } from './memory-limits.js';
import { clearSchedules, MemorySchedules } from './memory-schedules.js';
import { compareIds, type LiveRow, MemoryTables } from './memory-tables.js';
import { type MemoryTx, type TxState, txState, write } from './memory-tx.js';
import { clearUnique, MemoryUnique } from './memory-unique.js';

export type { MemoryTx } from './memory-tx.js';

/** Options of `memoryStore`. */
export interface MemoryStoreOptions {
  /** "Database time"; a `ManualClock` lets tests move it. */
  clock?: Clock;
  /**
   * Fill `payloadJson` of every row (the SQL stores' JSON column), as a SQL store with the same
   * option does, so tests can read payloads as JSON. Default false: `payloadJson` is null.
   */
  jsonPayload?: boolean;
  /**
   * Work on the tables of another memory store (and by default its clock), as two SQL stores
   * with different options work on one database: e.g. one with `jsonPayload` beside one without.
   */
  tablesOf?: MemoryStore;
  /**
   * The first row id (default 1): e.g. `2n ** 60n`, to see that ids beyond 2^53 stay exact
   * strings everywhere, as a long-lived SQL table's do.
   */
  firstId?: bigint;
}

/** Which rows a fenced write may touch: held by a worker, and for rescue, with the lease run out. */
interface Fence {
  workerId: string;
  attempt: number;
  expiredOnly: boolean;
}

/**
 * A `QueueStore` held in process memory, for users' unit tests. It passes the same conformance
 * suite as the SQL stores; it is not durable and not shared between processes.
 */
export class MemoryStore implements QueueStore<MemoryTx> {
  readonly capabilities: StoreCapabilities = Object.freeze({ notify: false });
  readonly clock: Clock;
  readonly inspect: MemoryInspection;
  readonly admin: MemoryAdmin;
  readonly unique: MemoryUnique;
  readonly schedules: MemorySchedules;
  readonly #jsonPayload: boolean;
  readonly #tables: MemoryTables;

  constructor(options: MemoryStoreOptions = {}) {
    if (options.firstId !== undefined && (typeof options.firstId !== 'bigint' || options.firstId < 1n)) {
      throw new BusError(
        'INVALID_CONFIG',
        `firstId must be a positive bigint (got ${String(options.firstId)})`,
        {
          value: options.firstId,
        },
      );
    }
    this.#tables =
      options.tablesOf === undefined ? new MemoryTables(options.firstId) : options.tablesOf.#tables;
    this.clock = options.clock ?? options.tablesOf?.clock ?? systemClock;
    this.#jsonPayload = options.jsonPayload === true;
    this.inspect = new MemoryInspection(this.#tables, this.clock);
    this.admin = new MemoryAdmin(this.#tables, this.clock);
    this.unique = new MemoryUnique(this.#tables, this.clock, (params) => this.insert(params));
    this.schedules = new MemorySchedules(this.#tables, this.clock);
  }

  async insert(params: InsertParams<MemoryTx>): Promise<string[]> {
    const tx = txState(params.tx);
    const now = this.clock.now();
    // Rows of one event share one payload array: its JSON is made once.
    const json = new Map<Uint8Array, string>();
    const jsonOf = (payload: Uint8Array): string | null => {
      if (!this.#jsonPayload) return null;
      let text = json.get(payload);
      if (text === undefined) {
        text = payloadJsonOf(payload);
        json.set(payload, text);
      }
      return text;
    };
    const rows: LiveRow[] = params.rows.map((r) => ({
      id: this.#tables.nextId(),
      queue: r.queue,
      eventName: r.eventName,
      handlerName: r.handlerName,
      payload: Uint8Array.from(r.payload),
      payloadJson: jsonOf(r.payload),
      attempts: 0,
      maxRetries: r.maxRetries,
      // An integer column has no -0; the SQL stores give 0 back.
      priority: r.priority === 0 ? 0 : r.priority,
      scheduledAt: typeof r.due === 'number' ? new Date(now.getTime() + r.due) : new Date(r.due.getTime()),
      lockedUntil: null,
      lockedBy: null,
      lastError: null,
      snoozes: 0,
      createdAt: now,
      // Stored as given, like the SQL stores' text column: the core validates it on the way out.
      traceContext: r.traceContext ?? null,
      partitionKey: r.partitionKey ?? null,
    }));
    write(tx, {
      check() {},
      apply: () => {
        for (const row of rows) this.#tables.live.set(row.id, row);
      },
    });
    return rows.map((r) => r.id);
  }

  async claim(params: ClaimParams): Promise<ClaimedEvent[]> {
    if (params.limited !== true) return this.#claimPlain(params);
    return serialized(this.#tables, params.queue, async () => {
      const rows = await claimWithLimits(limitedSteps(this.#tables, this.clock, params), params.limit);
      return rows ?? this.#claimPlain(params);
    });
  }

  async settle(params: SettleParams<MemoryTx>): Promise<SettleResult> {
    const tx = txState(params.tx);
    const fenced = params.outcomes.map((outcome) => ({
      outcome,
      fence: { workerId: params.workerId, attempt: outcome.attempt, expiredOnly: false },
    }));
    return { settled: this.#applyFenced(fenced, tx) };
  }

  async extendLeases(params: ExtendLeasesParams): Promise<string[]> {
    const until = new Date(this.clock.now().getTime() + params.leaseMs);
    const kept: string[] = [];
    for (const e of params.events) {
      const row = this.#held(e.id, { workerId: params.workerId, attempt: e.attempt, expiredOnly: false });
      if (row === undefined) continue;
      row.lockedUntil = until;
      kept.push(e.id);
    }
    return kept;
  }

  async checkLeases(params: CheckLeasesParams): Promise<string[]> {
    return params.events
      .filter((e) => this.#held(e.id, { workerId: params.workerId, attempt: e.attempt, expiredOnly: false }))
      .map((e) => e.id);
  }

  async release(params: ReleaseParams): Promise<string[]> {
    const released: string[] = [];
    for (const e of params.events) {
      const row = this.#held(e.id, { workerId: params.workerId, attempt: e.attempt, expiredOnly: false });
      if (row === undefined) continue;
      row.lockedBy = null;
      row.lockedUntil = null;
      row.attempts = e.attempt - 1;
      released.push(e.id);
    }
    return released;
  }

  async listExpired(params: ListExpiredParams): Promise<ExpiredEvent[]> {
    const now = this.clock.now();
    const queues = new Set(params.queues);
    return [...this.#tables.live.values()]
      .filter((r) => queues.has(r.queue) && r.lockedUntil !== null && r.lockedUntil < now)
      .sort((a, b) => a.lockedUntil!.getTime() - b.lockedUntil!.getTime() || compareIds(a.id, b.id))
      .slice(0, params.limit)
      .map((r) => ({
        id: r.id,
        queue: r.queue,
        eventName: r.eventName,
        handlerName: r.handlerName,
        attempts: r.attempts,
        maxRetries: r.maxRetries,
        workerId: r.lockedBy!,
      }));
  }

  async rescue(params: RescueParams): Promise<string[]> {
    const fenced = params.decisions.map((decision) => ({
      outcome: decision,
      fence: { workerId: decision.workerId, attempt: decision.attempt, expiredOnly: true },
    }));
    return this.#applyFenced(fenced, undefined);
  }

  async prune(params: PruneParams): Promise<number> {
    const cutoff = this.clock.now().getTime() - params.olderThanMs;
    const old = [...this.#tables.archive.values()]
      .filter((r) => r.finishedAt.getTime() < cutoff)
      .sort((a, b) => a.finishedAt.getTime() - b.finishedAt.getTime() || compareIds(a.id, b.id))
      .slice(0, params.limit);
    for (const row of old) this.#tables.archive.delete(row.id);
    return old.length;
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
      // All or nothing: every write is checked before any is applied.
      for (const effect of tx.effects) effect.check();
      for (const effect of tx.effects) effect.apply();
      return result;
    } finally {
      tx.open = false;
    }
  }

  /** No other process can insert into this store's memory: there is nothing to listen to. */
  async listen(_params: ListenParams): Promise<Subscription> {
    throw new BusError(
      'UNSUPPORTED',
      'the in-memory store has no notifications (capabilities.notify is false)',
    );
  }

  /** Empties every table (for tests that reuse one store); ids go on from where they were. */
  clear(): void {
    this.#tables.live.clear();
    clearUnique(this.#tables);
    clearSchedules(this.#tables);
    this.#tables.archive.clear();
    this.#tables.pauses.clear();
    this.#tables.workers.clear();
    this.#tables.locks.clear();
    this.#tables.limits.clear();
    this.#tables.starts.clear();
  }

  #claimPlain(params: ClaimParams): ClaimedEvent[] {
    const now = this.clock.now();
    return readyRowsOf(this.#tables, params.queue, params.handlers, now)
      .slice(0, params.limit)
      .map((row) => leaseRow(row, params, now));
  }

  /** `settle` and `rescue`: the outcomes whose fence holds, applied now or at the commit of `tx`. */
  #applyFenced(items: { outcome: SettleOutcome; fence: Fence }[], tx: TxState | undefined): string[] {
    const held = items.filter((i) => this.#held(i.outcome.id, i.fence) !== undefined);
    write(tx, {
      check: () => {
        // A database would have locked these rows until the commit; memory checks them again.
        const lost = held.find((i) => this.#held(i.outcome.id, i.fence) === undefined);
        if (lost !== undefined) {
          throw new BusError('LEASE_LOST', `row ${lost.outcome.id} changed hands before the commit`, {
            value: lost.outcome.id,
          });
        }
      },
      apply: () => {
        for (const i of held) this.#apply(i.outcome);
      },
    });
    return held.map((i) => i.outcome.id);
  }

  /** The row `id` when its fence holds: leased by the worker for that attempt (and expired, for rescue). */
  #held(id: string, fence: Fence): LiveRow | undefined {
    const row = this.#tables.live.get(id);
    if (
      row === undefined ||
      row.lockedUntil === null ||
      row.lockedBy !== fence.workerId ||
      row.attempts !== fence.attempt
    ) {
      return undefined;
    }
    if (fence.expiredOnly && row.lockedUntil >= this.clock.now()) return undefined;
    return row;
  }

  #apply(outcome: SettleOutcome): void {
    const row = this.#tables.live.get(outcome.id)!;
    const now = this.clock.now();
    if (outcome.kind === 'retry') {
      row.scheduledAt = new Date(now.getTime() + outcome.delayMs);
      row.lockedBy = null;
      row.lockedUntil = null;
      row.lastError = outcome.error;
      return;
    }
    if (outcome.kind === 'snooze') {
      row.scheduledAt = new Date(now.getTime() + outcome.delayMs);
      row.lockedBy = null;
      row.lockedUntil = null;
      row.attempts = outcome.attempt - 1;
      row.snoozes += 1;
      return;
    }
    this.#tables.live.delete(outcome.id);
    if (!outcome.archive) return;
    // Every other column (the trace context too) is copied as it is.
    const { scheduledAt: _s, lockedUntil: _l, lockedBy: _b, snoozes: _z, ...rest } = row;
    this.#tables.archive.set(row.id, {
      ...rest,
      status: outcome.kind,
      lastError: outcome.kind === 'completed' ? row.lastError : outcome.error,
      finishedAt: now,
    });
  }
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
