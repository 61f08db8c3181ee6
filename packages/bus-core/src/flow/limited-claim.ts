import type { ClaimedEvent } from '../contract/claim.js';
import type {
  ClaimCandidate,
  LeasedCandidate,
  LimitedClaimSteps,
  RecentStarts,
  StoredLimits,
} from '../contract/flow.js';

/** Keys one limited claim reads at most when it rotates across keys; the rest wait their turn. */
export const MAX_KEY_SCAN = 1000;

/**
 * Ready rows a rotating claim looks through, in claim order, for rows without a key: no index
 * holds only those, and reading on past a long run of keyed rows would cost every claim a walk of
 * the queue. A row without a key behind more keyed rows than this waits until fewer are ahead.
 */
export const UNKEYED_SCAN = 500;

/**
 * Keys at their limit a claim names to the store at most, for it not to read their rows; with
 * more (a per-key rate over a long window, thousands of keys started in it) the list would cost
 * more to check per key than the rows it saves, so none is named and their rows are dropped here.
 */
export const MAX_SKIP_LIST = 100;

/**
 * The limited claim (docs/flow-control.md): the policy every store shares, over the store's own
 * statements. Returns `null` when the queue has no limits row (the store then claims as usual),
 * else the rows leased, at most `want`, so that after the claim
 *
 * - the queue's leased rows are at most `concurrency`, and one key's at most `keyConcurrency`;
 * - the starts recorded in any window of `ratePeriodMs` are at most `rateLimit` (a sliding
 *   window over the database's clock: every claimed row is a start), per key likewise;
 * - with a per-key limit or `fair`, rows are taken round-robin across keys, starting after the
 *   key the last claim ended on, so a key with one row waits for at most one turn of the keys.
 *
 * The store runs it inside one transaction: `lockLimits` serializes the limited claims of a
 * queue, so the counts it reads cannot change under it. Once the last statement is sent it calls
 * `steps.lastStepSent` (when the store has it), before that statement's answer, so that a pipelining
 * store sends its COMMIT in the same round trip.
 *
 * @example
 * const rows = await transact(ctx, 'claim', (tx) => claimWithLimits(limitedSteps(tx, params), params.limit));
 */
export async function claimWithLimits(
  steps: LimitedClaimSteps,
  want: number,
  seen?: SeenLimits,
): Promise<ClaimedEvent[] | null> {
  // Issued together (LimitedClaimSteps: steps run in call order): the count is still read after
  // the lock is held, and a pipelining client sends both in one round trip.
  const locking = steps.lockLimits();
  const counting = steps.countRunning();
  const early = seen === undefined ? undefined : earlyReads(steps, want, seen);
  const [state, runningRows] = await Promise.all([locking, counting]);
  if (state === null) return null;
  const { limits, keyCursor } = state;
  const running = new Map<string | null, number>();
  let runningTotal = 0;
  for (const r of runningRows) {
    running.set(r.key, (running.get(r.key) ?? 0) + r.count);
    runningTotal += r.count;
  }
  const window = Math.max(limits.ratePeriodMs ?? 0, limits.keyRatePeriodMs ?? 0);
  const starts = window > 0 ? await steps.recentStarts(window) : [];

  let room = want;
  if (limits.concurrency !== null) room = Math.min(room, limits.concurrency - runningTotal);
  if (limits.rateLimit !== null) {
    room = Math.min(room, limits.rateLimit - startsWithin(starts, limits.ratePeriodMs!));
  }
  if (room <= 0) return [];

  const keyStarts = new Map<string, number>();
  if (limits.keyRateLimit !== null) {
    for (const s of starts) {
      if (s.key !== null && s.ageMs < limits.keyRatePeriodMs!)
        keyStarts.set(s.key, (keyStarts.get(s.key) ?? 0) + s.count);
    }
  }
  const keyRoom = (key: string | null): number => {
    if (key === null) return Number.POSITIVE_INFINITY;
    let r = Number.POSITIVE_INFINITY;
    if (limits.keyConcurrency !== null) r = limits.keyConcurrency - (running.get(key) ?? 0);
    if (limits.keyRateLimit !== null) r = Math.min(r, limits.keyRateLimit - (keyStarts.get(key) ?? 0));
    return r;
  };

  const rotate = limits.fair || limits.keyConcurrency !== null || limits.keyRateLimit !== null;
  let leased: LeasedCandidate[];
  // The key the next claim starts after; null: from the first key; undefined: as it was.
  let cursor: string | null | undefined;
  if (!rotate) {
    // No per-key rule: the rows in plain claim order, read and leased by the store at once.
    const leasing = steps.leaseReady({ limit: room });
    if (window === 0) steps.lastStepSent?.();
    leased = await leasing;
  } else {
    const perKey = Math.min(room, limits.keyConcurrency ?? room, limits.keyRateLimit ?? room);
    const skip = blockedKeys(running, keyStarts, keyRoom);
    // The reads sent with the lock serve when they started at this cursor with enough rows a key.
    const usable = early !== undefined && early.after === keyCursor && early.perKey >= perKey;
    const [{ keys: eligible, rows: keyed, endAt }, unkeyed] = await Promise.all([
      keyedInTurn(steps, keyCursor, room, skip, perKey, keyRoom, usable ? early : undefined),
      usable ? early.unkeyed : steps.unkeyedRows({ limit: room, within: UNKEYED_SCAN }),
    ]);
    let picked: ClaimCandidate[];
    ({ picked, cursor } = roundRobin(eligible, keyed, unkeyed, endAt, room, keyRoom));
    if (picked.length === 0) return [];
    const leasing = Promise.all([
      steps.lease(picked.map((c) => c.id)),
      cursor !== undefined && cursor !== keyCursor ? steps.saveCursor(cursor) : undefined,
    ]);
    if (window === 0) steps.lastStepSent?.();
    const [events] = await leasing;
    const byId = new Map(events.map((e) => [e.id, e]));
    leased = [];
    for (const c of picked) {
      const event = byId.get(c.id);
      if (event !== undefined) leased.push({ event, partitionKey: c.partitionKey });
    }
  }
  if (window > 0 && leased.length > 0) {
    const counts = new Map<string | null, number>();
    for (const row of leased) counts.set(row.partitionKey, (counts.get(row.partitionKey) ?? 0) + 1);
    const recording = steps.recordStarts({
      starts: [...counts].map(([key, count]) => ({ key, count })),
      keepMs: window,
    });
    steps.lastStepSent?.();
    await recording;
  }
  return leased.map((row) => row.event);
}

/**
 * Whether a claim under `limits` can be `claimWithinConcurrency`: a global concurrency and no
 * other rule (no rate, no per-key rule, no round-robin), so the room is the limit less the count.
 *
 * @example
 * if (seen !== undefined && claimsInOneStep(seen)) rows = await claimWithinConcurrency(steps, 10, seen);
 */
export function claimsInOneStep(limits: StoredLimits): boolean {
  return (
    limits.concurrency !== null &&
    limits.keyConcurrency === null &&
    limits.rateLimit === null &&
    limits.keyRateLimit === null &&
    !limits.fair
  );
}

/**
 * The limited claim in one round trip, for a store with `leaseWithin` that pipelines: the lock,
 * and one statement that counts the leased rows and leases up to `want` within `concurrency`,
 * sent together (and the COMMIT behind them, `lastStepSent`). It stands on the limits the store
 * saw last (`expected`, for which `claimsInOneStep` holds): the statement leases only if they are
 * still the stored ones. Returns the rows, or `null` when they were not (changed at run time, or
 * removed): nothing was leased, and the store claims again with `claimWithLimits`.
 *
 * @example
 * const rows = await claimWithinConcurrency(limitedSteps(ctx, tx, params, commitNow), params.limit, seen);
 */
export async function claimWithinConcurrency(
  steps: LimitedClaimSteps,
  want: number,
  expected: StoredLimits,
): Promise<ClaimedEvent[] | null> {
  if (steps.leaseWithin === undefined || !claimsInOneStep(expected)) return null;
  const leaseWithin = steps.leaseWithin.bind(steps);
  return lockAndLease(steps, () =>
    leaseWithin({ limit: want, leasedAtMost: expected.concurrency!, expected }),
  );
}

// A claim of one round trip: the lock, then the one statement `lease` sends, then (the last step)
// the COMMIT behind them; `null` when there was no limits row or the statement found the limits
// other than it stood on.
async function lockAndLease(
  steps: LimitedClaimSteps,
  lease: () => Promise<LeasedCandidate[] | null>,
): Promise<ClaimedEvent[] | null> {
  const locking = steps.lockLimits();
  const leasing = lease();
  steps.lastStepSent?.();
  const [state, leased] = await Promise.all([locking, leasing]);
  if (state === null || leased === null) return null;
  return leased.map((row) => row.event);
}

/**
 * Whether a claim under `limits` can be `claimInTurnAtOnce`: a rotation across keys (a per-key
 * concurrency, or `fair`) and no rate, so the claim needs no starts read before it and none
 * recorded after it.
 *
 * @example
 * if (seen !== undefined && rotatesInOneStep(seen.limits)) rows = await claimInTurnAtOnce(steps, 10, seen.limits);
 */
export function rotatesInOneStep(limits: StoredLimits): boolean {
  return (
    (limits.keyConcurrency !== null || limits.fair) &&
    limits.rateLimit === null &&
    limits.keyRateLimit === null
  );
}

/**
 * The rotating claim in one round trip, for a store with `leaseInTurn` that pipelines: the lock,
 * and one statement that counts, reads the keys after the cursor with their rows, picks them
 * round-robin within the limits and leases them, sent together (and the COMMIT behind them,
 * `lastStepSent`). The same rule as `claimWithLimits` (the store is given its numbers), standing
 * on the limits the store saw last (`expected`, for which `rotatesInOneStep` holds): the
 * statement leases only if they are still the stored ones. Returns the rows, or `null` when they
 * were not: nothing was leased, and the store claims again with `claimWithLimits`.
 *
 * @example
 * const rows = await claimInTurnAtOnce(limitedSteps(ctx, tx, params, commitNow), params.limit, seen.limits);
 */
export async function claimInTurnAtOnce(
  steps: LimitedClaimSteps,
  want: number,
  expected: StoredLimits,
): Promise<ClaimedEvent[] | null> {
  if (steps.leaseInTurn === undefined || !rotatesInOneStep(expected)) return null;
  const leaseInTurn = steps.leaseInTurn.bind(steps);
  return lockAndLease(steps, () =>
    leaseInTurn({
      limit: want,
      leasedAtMost: expected.concurrency,
      keyLimit: expected.keyConcurrency,
      maxKeys: MAX_KEY_SCAN,
      within: UNKEYED_SCAN,
      expected,
    }),
  );
}

/** What a store saw of a queue at its last limited claim (`lockLimits`, and `saveCursor` after). */
export interface SeenLimits {
  limits: StoredLimits;
  keyCursor: string | null;
}

interface EarlyReads {
  after: string | null;
  max: number;
  perKey: number;
  page: Promise<{ keys: string[]; rows: ClaimCandidate[] }>;
  unkeyed: Promise<ClaimCandidate[]>;
}

// With the limits and cursor the last claim saw, a rotating claim's first key read and its read
// of rows without a key go out with the lock and the count (the round trip a pipelining store
// saves), asking as if the whole `want` were free and no key were at its limit; the policy below
// then takes from them only what the counts allow. Unused (the cursor moved), they are dropped.
function earlyReads(steps: LimitedClaimSteps, want: number, seen: SeenLimits): EarlyReads | undefined {
  const { limits } = seen;
  if (!(limits.fair || limits.keyConcurrency !== null || limits.keyRateLimit !== null)) return undefined;
  const perKey = Math.min(want, limits.keyConcurrency ?? want, limits.keyRateLimit ?? want);
  const max = Math.min(want, MAX_KEY_SCAN);
  const page = steps.keysAndRows({ after: seen.keyCursor, max, skip: [], perKey });
  const unkeyed = steps.unkeyedRows({ limit: want, within: UNKEYED_SCAN });
  // Awaited only when used; a failure then also fails the steps after it.
  page.catch(() => {});
  unkeyed.catch(() => {});
  return { after: seen.keyCursor, max, perKey, page, unkeyed };
}

function startsWithin(starts: readonly RecentStarts[], periodMs: number): number {
  let n = 0;
  for (const s of starts) if (s.ageMs < periodMs) n += s.count;
  return n;
}

// Keys at their limit are read by the key scan too (the database does not know them): their rows
// are not read, and a read after the first asks for that many more keys, so a full claim stays
// possible when many keys are busy.
function blockedKeys(
  running: ReadonlyMap<string | null, number>,
  keyStarts: ReadonlyMap<string, number>,
  keyRoom: (key: string | null) => number,
): string[] {
  const keys = new Set<string>();
  for (const key of running.keys()) if (key !== null && keyRoom(key) <= 0) keys.add(key);
  for (const key of keyStarts.keys()) if (keyRoom(key) <= 0) keys.add(key);
  return [...keys];
}

// The keys in round-robin order, those after the cursor and then from the first key round to
// the cursor again, with their due rows, until `room` keys have rows or MAX_KEY_SCAN keys were
// read; `endAt`, when the walk passed the last key, is how many of `keys` came before it (where
// the rows without a key take their turn). A key with unleased rows may have none to take (not
// due, another handler's, at its limit): reading on past it keeps such keys from filling every
// claim and starving the rest. Keys are compared by the database's order only (the reads), never
// JavaScript's.
async function keyedInTurn(
  steps: LimitedClaimSteps,
  cursor: string | null,
  room: number,
  skip: readonly string[],
  perKey: number,
  keyRoom: (key: string | null) => number,
  first?: EarlyReads,
): Promise<{ keys: string[]; rows: ClaimCandidate[]; endAt: number | undefined }> {
  const keys: string[] = [];
  const rows: ClaimCandidate[] = [];
  let endAt: number | undefined;
  const seen = new Set<string>();
  let after = cursor;
  let wrapped = cursor === null;
  let scanned = 0;
  let served = 0;
  for (let page = 0; served < room && scanned < MAX_KEY_SCAN; page++) {
    // The first read asks for as many keys as there is room: the keys at their limit are those
    // the last claims took, just before the cursor, so the keys after it are seldom among them.
    // A later read (some were) asks for as many more as there are such keys.
    const extra = page === 0 ? 0 : skip.length;
    const early = page === 0 ? first : undefined;
    const max = early?.max ?? Math.min(room - served + extra, MAX_KEY_SCAN - scanned);
    const read = await (early?.page ??
      steps.keysAndRows({
        after,
        max,
        skip: skip.length <= MAX_SKIP_LIST ? skip : [],
        perKey,
      }));
    scanned += read.keys.length;
    const fresh: string[] = [];
    let roundDone = false;
    for (const key of read.keys) {
      if (seen.has(key)) {
        roundDone = true;
        break;
      }
      seen.add(key);
      fresh.push(key);
    }
    // Past the wrap, the page may hold keys of this turn again: their rows are not taken twice.
    const eligible = new Set(fresh.filter((k) => keyRoom(k) > 0));
    const found = read.rows.filter((c) => c.partitionKey !== null && eligible.has(c.partitionKey));
    const withRows = new Set(found.map((c) => c.partitionKey));
    rows.push(...found);
    keys.push(...fresh.filter((k) => withRows.has(k)));
    served = keys.length;
    if (roundDone) break;
    if (read.keys.length < max) {
      endAt ??= keys.length;
      if (wrapped) break;
      wrapped = true;
      after = null;
      continue;
    }
    after = read.keys[read.keys.length - 1]!;
  }
  return { keys, rows, endAt };
}

// One row per key per turn, keys in order and the rows without a key as one more key after the
// last key (at `endAt` of the walk's keys; left out when the walk did not pass the last key),
// until `room` rows are taken or every key is out of rows or room. The cursor is the last key that
// got a row in the first turn: the next claim starts after it; when that was the rows without a
// key, it starts from the first key (`null`).
function roundRobin(
  keys: readonly string[],
  keyed: readonly ClaimCandidate[],
  unkeyed: readonly ClaimCandidate[],
  endAt: number | undefined,
  room: number,
  keyRoom: (key: string | null) => number,
): { picked: ClaimCandidate[]; cursor: string | null | undefined } {
  const byKey = new Map<string, ClaimCandidate[]>();
  for (const c of keyed) {
    if (c.partitionKey === null) continue;
    const list = byKey.get(c.partitionKey);
    if (list === undefined) byKey.set(c.partitionKey, [c]);
    else list.push(c);
  }
  type Group = { key: string | null; rows: readonly ClaimCandidate[]; left: number };
  const withRows = (ks: readonly string[]): Group[] =>
    ks.filter((k) => byKey.has(k)).map((k) => ({ key: k, rows: byKey.get(k)!, left: keyRoom(k) }));
  const groups: Group[] =
    endAt === undefined || unkeyed.length === 0
      ? withRows(keys)
      : [
          ...withRows(keys.slice(0, endAt)),
          { key: null, rows: unkeyed, left: Number.POSITIVE_INFINITY },
          ...withRows(keys.slice(endAt)),
        ];
  const picked: ClaimCandidate[] = [];
  let cursor: string | null | undefined;
  for (let turn = 0; picked.length < room; turn++) {
    let took = false;
    for (const g of groups) {
      if (picked.length >= room) break;
      if (turn >= g.rows.length || g.left <= 0) continue;
      picked.push(g.rows[turn]!);
      g.left--;
      took = true;
      if (turn === 0) cursor = g.key;
    }
    if (!took) break;
  }
  return { picked, cursor };
}
