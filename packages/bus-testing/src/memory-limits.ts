import type {
  ClaimCandidate,
  ClaimedEvent,
  ClaimParams,
  LimitedClaimSteps,
  LimitsRow,
  RecentStarts,
  RunningCount,
  SetLimitsParams,
  StoredLimits,
} from 'bus-core/driver';
import type { Clock } from './clock.js';
import { compareIds, type LimitsEntry, type LiveRow, type MemoryTables } from './memory-tables.js';
import { type MemoryTx, txState, write } from './memory-tx.js';

// Flow control in memory (docs/flow-control.md): the limits and starts tables, and the steps of
// the limited claim (`claimWithLimits` in bus-core/driver decides what to take).

/** Plain JS string order: the memory store's key and name order (binary, like the SQL stores' columns). */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function limitsOf(l: StoredLimits): StoredLimits {
  return {
    concurrency: l.concurrency,
    keyConcurrency: l.keyConcurrency,
    rateLimit: l.rateLimit,
    ratePeriodMs: l.ratePeriodMs,
    keyRateLimit: l.keyRateLimit,
    keyRatePeriodMs: l.keyRatePeriodMs,
    fair: l.fair,
  };
}

/**
 * The due, unleased rows of `queue` whose handler is one of `handlers`, in the claim's order
 * (priority, due time, id): what the plain claim takes from.
 */
export function readyRowsOf(
  tables: MemoryTables,
  queue: string,
  handlers: readonly string[],
  now: Date,
): LiveRow[] {
  const names = new Set(handlers);
  return [...tables.live.values()]
    .filter(
      (r) => r.queue === queue && names.has(r.handlerName) && r.lockedUntil === null && r.scheduledAt <= now,
    )
    .sort(
      (a, b) =>
        a.priority - b.priority ||
        a.scheduledAt.getTime() - b.scheduledAt.getTime() ||
        compareIds(a.id, b.id),
    );
}

/** Leases `row` to the claimer (holder, lease end, attempts + 1) and returns it as a claim hands it out. */
export function leaseRow(row: LiveRow, params: ClaimParams, now: Date): ClaimedEvent {
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
    snoozes: row.snoozes,
    createdAt: row.createdAt,
    traceContext: row.traceContext,
    partitionKey: row.partitionKey,
  };
}

/** `admin.setLimits`: the rule of `SetLimitsParams`, applied now or at the commit of `params.tx`. */
export function setLimits(tables: MemoryTables, clock: Clock, params: SetLimitsParams<MemoryTx>): boolean {
  const tx = txState(params.tx);
  const { queue, signature } = params;
  const limits = params.limits === null ? null : limitsOf(params.limits);
  // Whether the write happens, by the rows as they are when it is made.
  const writes = (): boolean => {
    const stored = tables.limits.get(queue);
    if (limits === null) return stored !== undefined;
    return signature === undefined || stored === undefined || stored.signature !== signature;
  };
  const wrote = writes();
  const at = clock.now();
  write(tx, {
    check() {},
    apply: () => {
      if (!writes()) return;
      if (limits === null) {
        tables.limits.delete(queue);
        return;
      }
      const stored = tables.limits.get(queue);
      tables.limits.set(queue, {
        queue,
        ...limits,
        keyCursor: stored?.keyCursor ?? null,
        signature: signature ?? stored?.signature ?? null,
        updatedAt: at,
      });
    },
  });
  return wrote;
}

/** `inspect.listLimits`: every queue's limits, in queue order (copies). */
export function listLimits(tables: MemoryTables): LimitsRow[] {
  return [...tables.limits.values()]
    .sort((a, b) => compareText(a.queue, b.queue))
    .map((e) => ({ queue: e.queue, ...limitsOf(e), updatedAt: new Date(e.updatedAt.getTime()) }));
}

/**
 * Runs `claim` once every limited claim of `queue` begun before it has ended: the memory
 * analogue of the lock on the queue's limits row, so two claims never read the same counts.
 */
export async function serialized<T>(
  tables: MemoryTables,
  queue: string,
  claim: () => Promise<T>,
): Promise<T> {
  const before = tables.limitedClaims.get(queue) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => {
    done = resolve;
  });
  const end = before.then(() => mine);
  tables.limitedClaims.set(queue, end);
  await before;
  try {
    return await claim();
  } finally {
    done();
    if (tables.limitedClaims.get(queue) === end) tables.limitedClaims.delete(queue);
  }
}

/** The statements of one limited claim over the memory tables, bound to the claim's params. */
export function limitedSteps(tables: MemoryTables, clock: Clock, params: ClaimParams): LimitedClaimSteps {
  const { queue } = params;
  const handlers = new Set(params.handlers);
  const unleased = (): LiveRow[] =>
    [...tables.live.values()].filter((r) => r.queue === queue && r.lockedUntil === null);
  const candidate = (r: LiveRow): ClaimCandidate => ({ id: r.id, partitionKey: r.partitionKey });

  return {
    async lockLimits() {
      const entry: LimitsEntry | undefined = tables.limits.get(queue);
      return entry === undefined ? null : { limits: limitsOf(entry), keyCursor: entry.keyCursor };
    },

    async countRunning() {
      const counts = new Map<string | null, number>();
      const finished = new Set(params.finished ?? []);
      for (const r of tables.live.values()) {
        if (r.queue !== queue || r.lockedUntil === null) continue;
        if (finished.has(r.id) && r.lockedBy === params.workerId) continue;
        counts.set(r.partitionKey, (counts.get(r.partitionKey) ?? 0) + 1);
      }
      return [...counts].map(([key, count]): RunningCount => ({ key, count }));
    },

    async recentStarts(windowMs) {
      const now = clock.now().getTime();
      return (tables.starts.get(queue) ?? [])
        .filter((s) => now - s.at < windowMs)
        .map((s): RecentStarts => ({ key: s.key, ageMs: Math.max(0, now - s.at), count: s.n }));
    },

    async leaseReady({ limit }) {
      const now = clock.now();
      return readyRowsOf(tables, queue, params.handlers, now)
        .slice(0, limit)
        .map((r) => ({ event: leaseRow(r, params, now), partitionKey: r.partitionKey }));
    },

    async unkeyedRows({ limit, within }) {
      const ready = readyRowsOf(tables, queue, params.handlers, clock.now());
      return ready
        .slice(0, within)
        .filter((r) => r.partitionKey === null)
        .slice(0, limit)
        .map(candidate);
    },

    async keysAndRows({ after, max, skip, perKey }) {
      const found = new Set<string>();
      for (const r of unleased()) {
        if (r.partitionKey !== null && (after === null || compareText(r.partitionKey, after) > 0))
          found.add(r.partitionKey);
      }
      const keys = [...found].sort(compareText).slice(0, max);
      const skipped = new Set(skip);
      const now = clock.now();
      const wanted = new Set(keys.filter((k) => !skipped.has(k)));
      const byKey = new Map<string, LiveRow[]>();
      for (const r of unleased()) {
        if (
          r.partitionKey === null ||
          !wanted.has(r.partitionKey) ||
          !handlers.has(r.handlerName) ||
          r.scheduledAt > now
        ) {
          continue;
        }
        const rows = byKey.get(r.partitionKey);
        if (rows === undefined) byKey.set(r.partitionKey, [r]);
        else rows.push(r);
      }
      const rows = keys.flatMap((key) =>
        (byKey.get(key) ?? [])
          .sort((a, b) => a.scheduledAt.getTime() - b.scheduledAt.getTime() || compareIds(a.id, b.id))
          .slice(0, perKey)
          .map(candidate),
      );
      return { keys, rows };
    },

    async lease(ids) {
      const now = clock.now();
      const leased: ClaimedEvent[] = [];
      for (const id of new Set(ids)) {
        const row = tables.live.get(id);
        if (row === undefined || row.queue !== queue || row.lockedUntil !== null) continue;
        leased.push(leaseRow(row, params, now));
      }
      return leased;
    },

    async recordStarts({ starts, keepMs }) {
      const now = clock.now().getTime();
      const kept = (tables.starts.get(queue) ?? []).concat(
        starts.map((s) => ({ key: s.key, at: now, n: s.count })),
      );
      tables.starts.set(
        queue,
        kept.filter((s) => s.at > now - keepMs),
      );
    },

    async saveCursor(key) {
      const entry = tables.limits.get(queue);
      if (entry !== undefined) tables.limits.set(queue, { ...entry, keyCursor: key });
    },
  };
}
