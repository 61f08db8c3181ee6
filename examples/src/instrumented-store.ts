import type { QueueStore } from 'bus-core';

type Method = Exclude<keyof QueueStore, 'capabilities' | 'inspect' | 'admin' | 'unique' | 'schedules'>;

/**
 * A custom store: wraps any store and times each call, for metrics. Whatever a store adds or
 * changes, it must still pass the conformance suite (test/instrumented-store.test.ts).
 */
export class InstrumentedStore<TTx> implements QueueStore<TTx> {
  readonly capabilities: QueueStore<TTx>['capabilities'];
  readonly inspect: QueueStore<TTx>['inspect'];
  readonly admin: QueueStore<TTx>['admin'];
  // Unique inserts and schedule state, passed through untimed.
  readonly unique: QueueStore<TTx>['unique'];
  readonly schedules: QueueStore<TTx>['schedules'];
  readonly stats = new Map<string, { calls: number; ms: number }>();

  constructor(private readonly inner: QueueStore<TTx>) {
    this.capabilities = inner.capabilities;
    this.inspect = inner.inspect;
    this.admin = inner.admin; // operator calls, off the hot path: forwarded untimed
    this.unique = inner.unique;
    this.schedules = inner.schedules;
  }

  insert: QueueStore<TTx>['insert'] = (p) => this.#time('insert', () => this.inner.insert(p));
  claim: QueueStore<TTx>['claim'] = (p) => this.#time('claim', () => this.inner.claim(p));
  settle: QueueStore<TTx>['settle'] = (p) => this.#time('settle', () => this.inner.settle(p));
  extendLeases: QueueStore<TTx>['extendLeases'] = (p) =>
    this.#time('extendLeases', () => this.inner.extendLeases(p));
  checkLeases: QueueStore<TTx>['checkLeases'] = (p) =>
    this.#time('checkLeases', () => this.inner.checkLeases(p));
  release: QueueStore<TTx>['release'] = (p) => this.#time('release', () => this.inner.release(p));
  listExpired: QueueStore<TTx>['listExpired'] = (p) =>
    this.#time('listExpired', () => this.inner.listExpired(p));
  rescue: QueueStore<TTx>['rescue'] = (p) => this.#time('rescue', () => this.inner.rescue(p));
  prune: QueueStore<TTx>['prune'] = (p) => this.#time('prune', () => this.inner.prune(p));
  now: QueueStore<TTx>['now'] = () => this.#time('now', () => this.inner.now());
  checkSchema: QueueStore<TTx>['checkSchema'] = () =>
    this.#time('checkSchema', () => this.inner.checkSchema());
  listen: QueueStore<TTx>['listen'] = (p) => this.#time('listen', () => this.inner.listen(p));

  transaction<T>(fn: (tx: TTx) => Promise<T>): Promise<T> {
    return this.#time('transaction', () => this.inner.transaction(fn));
  }

  async #time<T>(method: Method, call: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await call();
    } finally {
      const entry = this.stats.get(method) ?? { calls: 0, ms: 0 };
      entry.calls += 1;
      entry.ms += performance.now() - start;
      this.stats.set(method, entry);
    }
  }
}
