/**
 * A fault-injecting wrapper around a real store, for the fault tests of every driver (issue 12):
 * a Proxy that fails a share of the calls to any of the store's methods, so store members added
 * later are covered without touching this file. Dependency-free: the driver's test says what a
 * fault looks like (`errorFor`), using the driver's own error mapping, so the BusError the core
 * sees is the one the store would raise for that server error.
 */

/** What went wrong, as a database would report it. */
export type FaultKind = 'serialization' | 'deadlock' | 'lock-wait' | 'connection-reset';

/**
 * When the fault struck. `before`: the call never reached the database (a conflict rolls the
 * whole transaction back, so it is the same as not running). `after`: the call ran and committed,
 * then the connection died before the answer came back (only for `connection-reset`).
 */
export type FaultPhase = 'before' | 'after';

/** One injected fault. */
export interface Fault {
  member: string;
  kind: FaultKind;
  phase: FaultPhase;
}

/** A fault `faultyStore` injects on one call of a member, whatever the draw. */
export interface ForcedFault {
  call: number;
  kind: FaultKind;
  phase: FaultPhase;
}

/** Options of `faultyStore`. */
export interface FaultOptions {
  /** Share of calls that fail (0..1). */
  rate: number;
  /** Which faults to draw from (default: all four kinds). */
  kinds?: readonly FaultKind[];
  /** Seed of the pseudo-random draw, so a failing run can be repeated. */
  seed?: number;
  /**
   * Faults on given calls of a member (1 = its first call) whatever the draw, so every code
   * path sees a fault even when it is called only a few times in a run (heartbeat, rescue, prune),
   * and the rarer kinds (a reset after the commit) happen in every run.
   */
  force?: Readonly<Record<string, readonly ForcedFault[]>>;
  /** Members never failed (e.g. `inspect`, which the test uses to check results). */
  spare?: readonly string[];
  /** The error to throw for a fault: the driver's mapping of the server error it stands for. */
  errorFor(fault: Fault): unknown;
}

/** What the wrapper saw: calls and faults per member, and the row ids the faulted calls named. */
export interface FaultStats {
  calls: Record<string, number>;
  faults: Record<string, number>;
  byKind: Record<string, number>;
  /** Ids of rows in a faulted call (its params, or what an `after` fault's call returned). */
  touched: Set<string>;
  /** Results of the calls that ran (whether or not an `after` fault hid them from the caller). */
  results: Record<string, unknown[]>;
}

/** The wrapper: `store` has the wrapped store's type; `enabled` turns injection off and on. */
export interface FaultyStore<S> {
  store: S;
  stats: FaultStats;
  enabled: boolean;
}

const ALL_KINDS: readonly FaultKind[] = ['serialization', 'deadlock', 'lock-wait', 'connection-reset'];

// mulberry32: small, seeded, good enough to spread faults.
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Row ids named by a call's params (outcomes, events, decisions) or returned by it (claimed rows,
// ids), found by shape so new members are covered too.
function idsIn(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const item of value) {
      if (typeof item === 'string') into.add(item);
      else if (
        typeof item === 'object' &&
        item !== null &&
        typeof (item as { id?: unknown }).id === 'string'
      ) {
        into.add((item as { id: string }).id);
      }
    }
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const key of ['outcomes', 'events', 'decisions', 'ids'])
    idsIn((value as Record<string, unknown>)[key], into);
}

/**
 * Wraps `store` so that `options.rate` of the calls to its methods fail with `errorFor`'s error.
 * Property reads and non-function members pass through untouched.
 *
 * @example
 * const faulty = faultyStore(mysqlStore(db), { rate: 0.01, errorFor: (f) => mysqlFailure(f.member, raw(f)) });
 * const bus = createBus({ store: faulty.store, ... });
 */
export function faultyStore<S extends object>(store: S, options: FaultOptions): FaultyStore<S> {
  const draw = random(options.seed ?? 12);
  const kinds = options.kinds ?? ALL_KINDS;
  const force = options.force ?? {};
  const spare = new Set(options.spare ?? []);
  const stats: FaultStats = { calls: {}, faults: {}, byKind: {}, touched: new Set(), results: {} };
  const wrapper: FaultyStore<S> = { store, stats, enabled: true };
  const wrapped = new Map<PropertyKey, unknown>();

  const record = (member: string, result: unknown): void => {
    stats.results[member] ??= [];
    stats.results[member].push(result);
  };
  const wrap = (member: string, fn: (...args: unknown[]) => unknown) =>
    async function faulty(...args: unknown[]): Promise<unknown> {
      const call = (stats.calls[member] ?? 0) + 1;
      stats.calls[member] = call;
      const roll = draw();
      const forced = force[member]?.find((f) => f.call === call);
      const strike = wrapper.enabled && !spare.has(member) && (roll < options.rate || forced !== undefined);
      if (!strike) {
        const result = await fn.apply(store, args);
        record(member, result);
        return result;
      }
      const kind = forced?.kind ?? kinds[Math.floor(draw() * kinds.length)]!;
      const phase: FaultPhase =
        forced?.phase ?? (kind === 'connection-reset' && draw() < 0.5 ? 'after' : 'before');
      stats.faults[member] = (stats.faults[member] ?? 0) + 1;
      stats.byKind[`${kind}/${phase}`] = (stats.byKind[`${kind}/${phase}`] ?? 0) + 1;
      idsIn(args[0], stats.touched);
      if (phase === 'after') {
        const result = await fn.apply(store, args);
        record(member, result);
        idsIn(result, stats.touched);
      }
      throw options.errorFor({ member, kind, phase });
    };

  wrapper.store = new Proxy(store, {
    get(target, property) {
      // The target as receiver: getters of a class with #private fields throw on the Proxy.
      const value = Reflect.get(target, property);
      if (typeof value !== 'function' || typeof property !== 'string' || property === 'constructor')
        return value;
      let fn = wrapped.get(property);
      if (fn === undefined) {
        fn = wrap(property, value as (...args: unknown[]) => unknown);
        wrapped.set(property, fn);
      }
      return fn;
    },
  });
  return wrapper;
}
