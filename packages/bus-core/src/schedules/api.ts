import type { QueueStore } from '../contract/store.js';
import { BusError } from '../errors.js';
import type { ScheduleDefinition } from './define.js';
import { nextTickOf } from './plan.js';
import type { PublishedTick } from './runner.js';

/** A schedule as `bus.schedules.list()` shows it. */
export interface ScheduleInfo {
  name: string;
  /** Declared in this process's code (a schedule removed from the code stays listed, and never fires). */
  declared: boolean;
  /** The expression the database holds (the latest deploy's). */
  signature: string | null;
  paused: boolean;
  lastTickAt: Date | null;
  /** The next tick this process's code would publish (`null` when not declared or none is left). */
  nextTickAt: Date | null;
}

/** What `BusSchedules` needs from the process's code: the schedule runner, or nothing (an admin without a bus). */
export interface ScheduleSource {
  /** Writes the declared schedules' rows before a list or a pause reads them. */
  sync(): Promise<void>;
  /** The schedules declared in this process's code. */
  definitions(): ScheduleDefinition[];
  /** Publishes the due ticks (an admin without a bus publishes none). */
  runDue(): Promise<PublishedTick[]>;
}

/** The source of an admin without a bus: no code, so the database's rows are the whole truth. */
const STORED_ONLY: ScheduleSource = {
  sync: async () => {},
  definitions: () => [],
  runDue: async () => [],
};

/**
 * Run-time control of the schedules (`bus.schedules`): list, pause and resume, stored in the
 * database so every process and restart sees it; `runDue` for tests with a ManualClock.
 */
export class BusSchedules {
  readonly #store: QueueStore<unknown>;
  readonly #runner: ScheduleSource;
  readonly #codeKnown: boolean;

  /** Without a runner (the admin of `createAdmin`), the next tick is the one the database recorded. */
  constructor(store: QueueStore<unknown>, runner?: ScheduleSource) {
    this.#store = store;
    this.#runner = runner ?? STORED_ONLY;
    this.#codeKnown = runner !== undefined;
  }

  /**
   * Every schedule, declared in code or stored, by name, with its last and next tick.
   *
   * @example
   * for (const s of await bus.schedules.list()) console.log(s.name, s.paused, s.nextTickAt);
   */
  async list(): Promise<ScheduleInfo[]> {
    await this.#runner.sync();
    const now = await this.#store.now();
    const rows = new Map((await this.#store.schedules.list()).map((r) => [r.name, r]));
    const names = new Set([...rows.keys(), ...this.#runner.definitions().map((d) => d.name)]);
    const definitions = new Map(this.#runner.definitions().map((d) => [d.name, d]));
    return [...names].sort().map((name) => {
      const row = rows.get(name);
      const definition = definitions.get(name);
      return {
        name,
        declared: definition !== undefined,
        signature: row?.signature ?? null,
        paused: row?.paused ?? false,
        lastTickAt: row?.lastTickAt ?? null,
        nextTickAt:
          definition !== undefined
            ? nextTickOf(definition, row, now)
            : this.#codeKnown
              ? null
              : (row?.nextTickAt ?? null),
      };
    });
  }

  /**
   * Stops a schedule publishing in every process until `resume` (ticks due meanwhile are missed
   * ticks on resume, subject to the schedule's policy). `UNKNOWN_SCHEDULE` for a name neither
   * declared nor stored. `changed` is false when it was paused already.
   *
   * @example
   * await bus.schedules.pause('nightly-report');
   */
  pause(name: string): Promise<{ changed: boolean }> {
    return this.#setPaused(name, true);
  }

  /**
   * Lets a paused schedule publish again.
   *
   * @example
   * await bus.schedules.resume('nightly-report');
   */
  resume(name: string): Promise<{ changed: boolean }> {
    return this.#setPaused(name, false);
  }

  /**
   * Publishes the ticks due now in this process (the workers' loop does it about every second);
   * for tests that move a ManualClock.
   *
   * @example
   * clock.advance(60_000);
   * await bus.schedules.runDue();
   */
  runDue(): Promise<PublishedTick[]> {
    return this.#runner.runDue();
  }

  async #setPaused(name: string, paused: boolean): Promise<{ changed: boolean }> {
    if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
      const shown = typeof name === 'string' ? `${name.length} characters` : typeof name;
      throw new BusError('INVALID_ARGUMENT', `a schedule name must be 1 to 200 characters (got ${shown})`, {
        value: name,
      });
    }
    await this.#runner.sync();
    // The store reports existence, not change: the row read first says whether this call flips it
    // (two operators flipping one schedule at the same instant may both hear "changed").
    const before = (await this.#store.schedules.list()).find((r) => r.name === name);
    if (before === undefined || !(await this.#store.schedules.setPaused({ name, paused }))) {
      throw new BusError('UNKNOWN_SCHEDULE', `no schedule is named ${name}`, { value: name });
    }
    return { changed: before.paused !== paused };
  }
}
