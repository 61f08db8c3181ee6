import type { QueueStore } from 'bus-core';
import type { TestRunner } from './runner.js';
import type { ConformanceTarget } from './target.js';

/**
 * What every area of the suite gets: the runner to register tests with and the target's stores,
 * which exist only once the suite's `beforeAll` has run (so areas read them inside tests).
 */
export class SuiteContext {
  #store: QueueStore<any> | undefined;
  #jsonStore: QueueStore<any> | undefined;

  constructor(
    readonly target: ConformanceTarget<any>,
    readonly runner: TestRunner,
  ) {}

  /** The target's store. */
  get store(): QueueStore<any> {
    if (this.#store === undefined) throw new Error('the conformance target was not set up');
    return this.#store;
  }

  /** The target's store with `jsonPayload` on, when it has one. */
  get jsonStore(): QueueStore<any> | undefined {
    return this.#jsonStore;
  }

  /** Runs the target's setup (the suite's `beforeAll`). */
  async setup(): Promise<void> {
    this.#store = await this.target.setup();
    if (this.target.setupJsonPayload !== undefined) this.#jsonStore = await this.target.setupJsonPayload();
  }
}
