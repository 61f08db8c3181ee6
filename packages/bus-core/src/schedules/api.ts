import type { QueueStore } from '../contract/store.js';
import { BusError } from '../errors.js';
import { nextTickOf } from './plan.js';
import type { PublishedTick, ScheduleRunner } from './runner.js';

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

/**
 * Run-time control of the schedules (`bus.schedules`): list, pause and resume, stored in the
 * database so every process and restart sees it; `runDue` for tests with a ManualClock.
 */
export class BusSchedules {
  readonly #store: QueueStore<unknown>;
  readonly #runner: ScheduleRunner;

  constructor(store: QueueStore<unknown>, runner: ScheduleRunner) {
    this.#store = store;
    this.#runner = runner;
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
        nextTickAt: definition === undefined ? null : nextTickOf(definition, row, now),
      };
    });
  }

  /**
   * Stops a schedule publishing in every process until `resume` (ticks due meanwhile are missed
   * ticks on resume, subject to the schedule's policy). `UNKNOWN_SCHEDULE` for a name neither
   * declared nor stored.
   *
   * @example
   * await bus.schedules.pause('nightly-report');
   */
  pause(name: string): Promise<void> {
    return this.#setPaused(name, true);
  }

  /**
   * Lets a paused schedule publish again.
   *
   * @example
   * await bus.schedules.resume('nightly-report');
   */
  resume(name: string): Promise<void> {
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

  async #setPaused(name: string, paused: boolean): Promise<void> {
    if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `a schedule name must be 1 to 200 characters (got ${String(name)})`,
        {
          value: name,
        },
      );
    }
    await this.#runner.sync();
    if (!(await this.#store.schedules.setPaused({ name, paused }))) {
      throw new BusError('UNKNOWN_SCHEDULE', `no schedule is named ${name}`, { value: name });
    }
  }
}
