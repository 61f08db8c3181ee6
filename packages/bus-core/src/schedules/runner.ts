import type { ScheduleRow } from '../contract/schedules.js';
import type { QueueStore } from '../contract/store.js';
import { BusError, describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { publishRows } from '../publish-rows.js';
import type { Registry } from '../registry.js';
import { retryConflicts } from '../store-retry.js';
import { insertKeyedRows } from '../unique-key.js';
import type { ScheduleDefinition } from './define.js';
import { planTicks } from './plan.js';

/** One tick a round published. */
export interface PublishedTick {
  schedule: string;
  tickAt: Date;
  /** The rows' ids, one per handler of the event. */
  ids: string[];
}

/** What the runner needs from its bus. */
export interface ScheduleRunnerDeps {
  store: QueueStore<unknown>;
  registry: Registry;
  logger: Logger;
  /** Wakes this process's claim loop of a queue after a tick's rows commit. */
  wake(queue: string): void;
}

// How long a tick's key is held in the keys table: the schedule's last tick already refuses an
// older tick, so the key only has to outlive every round that could still see the tick as due.
const TICK_KEY_HOLD_MS = 24 * 3_600_000;
const POLL_MS = 1000;
const PRUNE_EVERY_MS = 60_000;
const PRUNE_LIMIT = 1000;

/**
 * Publishes the due ticks of the schedules declared in this process, each tick in one
 * transaction that records it (refused unless it is later than the schedule's last tick) and
 * inserts its rows under the unique key (schedule, tick time): any number of processes can run
 * it at once, with no leader, and each tick is published once.
 */
export class ScheduleRunner {
  readonly #deps: ScheduleRunnerDeps;
  readonly #definitions = new Map<string, ScheduleDefinition>();
  #synced: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #round: Promise<unknown> | undefined;
  #lastPrune = 0;

  constructor(deps: ScheduleRunnerDeps) {
    this.#deps = deps;
  }

  /** Adds a schedule; `DUPLICATE_SCHEDULE`-like mistakes are `INVALID_SCHEDULE`. */
  add(definition: ScheduleDefinition): void {
    if (this.#definitions.has(definition.name)) {
      throw new BusError('INVALID_SCHEDULE', `schedule ${definition.name} is declared twice`, {
        value: definition.name,
      });
    }
    this.#definitions.set(definition.name, definition);
    this.#synced = undefined;
  }

  /** The declared schedules. */
  definitions(): ScheduleDefinition[] {
    return [...this.#definitions.values()];
  }

  /** Throws `NO_HANDLER` for a schedule whose event has no handler (checked at `init`). */
  assertHandled(): void {
    for (const definition of this.#definitions.values()) {
      if (this.#deps.registry.handlersOf(definition.event.name).length === 0) {
        throw new BusError(
          'NO_HANDLER',
          `schedule ${definition.name} publishes ${definition.event.name}, which has no handler`,
          { value: definition.name },
        );
      }
    }
  }

  /** Writes the declared schedules into the store (new ones, changed expressions), once per change. */
  sync(): Promise<void> {
    this.#synced ??= this.#deps.store.schedules
      .sync({
        schedules: this.definitions().map((d) => ({ name: d.name, signature: d.signature })),
      })
      .catch((error: unknown) => {
        this.#synced = undefined;
        throw error;
      });
    return this.#synced;
  }

  /** Publishes every tick due now (by the database's clock); resolves with what it published. */
  async runDue(): Promise<PublishedTick[]> {
    if (this.#definitions.size === 0) return [];
    await this.sync();
    const { store } = this.#deps;
    const now = await store.now();
    const rows = new Map<string, ScheduleRow>((await store.schedules.list()).map((r) => [r.name, r]));
    const published: PublishedTick[] = [];
    for (const definition of this.#definitions.values()) {
      const row = rows.get(definition.name);
      // Another deploy's expression: its processes fire it; this one waits for its own sync.
      if (row === undefined || row.paused || row.signature !== definition.signature) continue;
      for (const tick of planTicks(definition, row, now)) {
        const ids = await retryConflicts(() => this.#publishTick(definition, tick));
        if (ids !== null) published.push({ schedule: definition.name, tickAt: tick, ids });
      }
    }
    return published;
  }

  async #publishTick(definition: ScheduleDefinition, tick: Date): Promise<string[] | null> {
    const { store, registry } = this.#deps;
    const handlers = registry.handlersOf(definition.event.name);
    if (handlers.length === 0) return null;
    const rows = publishRows(definition.event.name, handlers, [definition.payloadAt(tick)], {
      due: 0,
      priority: undefined,
    });
    const key = {
      key: `schedule:${definition.name}@${tick.toISOString()}`,
      bucketMs: null,
      holdMs: TICK_KEY_HOLD_MS,
    };
    const ids = await store.transaction(async (tx) => {
      const recorded = await store.schedules.recordTick({
        name: definition.name,
        tickAt: tick,
        nextTickAt: definition.nextAfter(tick),
        signature: definition.signature,
        tx,
      });
      if (!recorded) return null;
      const results = await insertKeyedRows(
        store,
        rows,
        rows.map(() => key),
        tx,
      );
      return results.map((r) => r.id);
    });
    if (ids !== null) for (const handler of handlers) this.#deps.wake(handler.settings.queueName);
    return ids;
  }

  /** Starts the polling loop (about every second), which also prunes expired unique keys. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const loop = async () => {
      if (!this.#running) return;
      try {
        this.#round = this.runDue();
        await this.#round;
        if (Date.now() - this.#lastPrune >= PRUNE_EVERY_MS) {
          this.#lastPrune = Date.now();
          await this.#deps.store.unique.prune({ limit: PRUNE_LIMIT });
        }
      } catch (error) {
        this.#deps.logger.warn('publishing scheduled ticks failed; trying again in a second', {
          error: describeError(error),
        });
      }
      if (this.#running) this.#timer = setTimeout(loop, POLL_MS);
    };
    this.#timer = setTimeout(loop, 0);
  }

  /** Stops the loop (a round in progress finishes). */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }
}
