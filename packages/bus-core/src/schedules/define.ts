import { Cron } from 'croner';
import { CONTRACT_LIMITS } from '../contract/limits.js';
import { BusError } from '../errors.js';
import type { EventDefinition } from '../event.js';

/**
 * What to do with ticks missed while no process ran the schedule (every process down, a long
 * deploy): ticks older than `graceMs` at the time a process looks. `skip`: none of them;
 * `last` (the default): only the latest; `{ backfill: n }`: the latest `n`, oldest first.
 */
export type MissedTickPolicy = 'skip' | 'last' | { backfill: number };

/** A recurring publish declared in code (`bus.schedule(defineSchedule({...}))`). */
export interface ScheduleOptions<P> {
  /** Stable name: the key of its state in the database (1 to 200 letters, digits, `. _ : -`). */
  name: string;
  /** The event published at each tick (its handlers fan out as for any publish). */
  event: EventDefinition<P>;
  /** A cron expression of 5 fields, or 6 with seconds first (croner syntax). */
  cron?: string;
  /** The cron expression's time zone (IANA name; default `UTC`); DST as Vixie cron does. */
  timezone?: string;
  /** Or a fixed interval in ms (at least 1000): ticks at every multiple of it since the epoch. */
  every?: number;
  /** The payload, or a function of the tick's time (the payload must be msgpack-encodable). */
  payload: P | ((tick: Date) => P);
  /** Missed ticks (older than `graceMs`): default `last`. */
  missed?: MissedTickPolicy;
  /** A tick due less than this long ago is on time and always published (default 60 000 ms). */
  graceMs?: number;
}

/** A checked schedule: its tick arithmetic and what it publishes. */
export interface ScheduleDefinition<P = unknown> {
  readonly name: string;
  readonly event: EventDefinition<P>;
  /** The expression, time zone or interval as one text: a change moves the schedule's anchor. */
  readonly signature: string;
  readonly missed: MissedTickPolicy;
  readonly graceMs: number;
  /** The payload for one tick. */
  payloadAt(tick: Date): P;
  /** The first tick strictly after `after`, or `null`. */
  nextAfter(after: Date): Date | null;
  /** Up to `n` ticks at or before `at`, newest first. */
  latestAtOrBefore(at: Date, n: number): Date[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;
const DEFAULT_GRACE_MS = 60_000;
const MAX_BACKFILL = 1000;

/**
 * Checks a schedule (cron syntax, time zone, interval, policies) and returns its definition;
 * every mistake is `INVALID_SCHEDULE` naming the field.
 *
 * @example
 * const nightly = defineSchedule({ name: 'nightly-report', event: ReportEvent, cron: '0 0 3 * * *', timezone: 'Europe/Berlin', payload: (tick) => ({ day: tick.toISOString() }) });
 */
export function defineSchedule<P>(options: ScheduleOptions<P>): ScheduleDefinition<P> {
  const fail = (field: string, value: unknown, rule: string): never => {
    const name = typeof options?.name === 'string' ? options.name : '?';
    throw new BusError('INVALID_SCHEDULE', `schedule ${name}: ${field} ${rule}`, { value });
  };
  if (typeof options !== 'object' || options === null) fail('options', options, 'must be an object');
  for (const key of Object.keys(options)) {
    if (!['name', 'event', 'cron', 'timezone', 'every', 'payload', 'missed', 'graceMs'].includes(key)) {
      fail(key, key, 'is not an option');
    }
  }
  const { name, event, cron, timezone, every } = options;
  if (typeof name !== 'string' || !NAME.test(name)) {
    fail('name', name, `must match ${NAME}`);
  }
  if (typeof event !== 'object' || event === null || typeof event.name !== 'string') {
    fail('event', event, 'must be an event definition from defineEvent()');
  }
  if (!('payload' in options)) fail('payload', undefined, 'is required (a value or a function of the tick)');
  if ((cron === undefined) === (every === undefined))
    fail('cron/every', cron ?? every, 'needs exactly one of cron or every');
  const missed = options.missed ?? 'last';
  if (
    missed !== 'skip' &&
    missed !== 'last' &&
    !(
      typeof missed === 'object' &&
      missed !== null &&
      Number.isInteger((missed as { backfill: unknown }).backfill) &&
      missed.backfill >= 1 &&
      missed.backfill <= MAX_BACKFILL
    )
  ) {
    fail('missed', missed, `must be 'skip', 'last' or { backfill: 1 to ${MAX_BACKFILL} }`);
  }
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  if (!Number.isInteger(graceMs) || graceMs < 0 || graceMs > CONTRACT_LIMITS.maxDelayMs) {
    fail('graceMs', graceMs, 'must be an integer number of ms, 0 or more');
  }
  const payload = options.payload;
  const payloadAt = (tick: Date): P =>
    typeof payload === 'function' ? (payload as (tick: Date) => P)(tick) : payload;

  if (every !== undefined) {
    if (timezone !== undefined) fail('timezone', timezone, 'applies to cron only');
    if (!Number.isInteger(every) || every < 1000 || every > CONTRACT_LIMITS.maxDelayMs) {
      fail('every', every, `must be an integer number of ms from 1000 to ${CONTRACT_LIMITS.maxDelayMs}`);
    }
    return Object.freeze({
      name,
      event,
      signature: `every ${every}`,
      missed,
      graceMs,
      payloadAt,
      nextAfter: (after: Date) => new Date((Math.floor(after.getTime() / every) + 1) * every),
      latestAtOrBefore: (at: Date, n: number) => {
        const last = Math.floor(at.getTime() / every) * every;
        return Array.from({ length: n }, (_, i) => new Date(last - i * every)).filter(
          (d) => d.getTime() >= 0,
        );
      },
    });
  }
  if (typeof cron !== 'string' || cron.trim().length === 0) fail('cron', cron, 'must be a cron expression');
  const zone = timezone ?? 'UTC';
  if (typeof zone !== 'string') fail('timezone', zone, 'must be an IANA time zone name');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    fail('timezone', zone, 'is not a time zone this runtime knows (an IANA name such as Europe/Berlin)');
  }
  let pattern: Cron;
  try {
    pattern = new Cron(cron as string, { timezone: zone, paused: true });
    pattern.nextRun(new Date(0));
  } catch (cause) {
    fail(
      'cron',
      cron,
      `is not a valid cron expression: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    throw cause;
  }
  if (pattern.nextRun() === null) fail('cron', cron, 'never fires again');
  return Object.freeze({
    name,
    event,
    signature: `cron ${(cron as string).trim()} ${zone}`,
    missed,
    graceMs,
    payloadAt,
    nextAfter: (after: Date) => pattern.nextRun(after),
    // previousRuns is strictly before its reference: 1 ms later includes `at` itself.
    latestAtOrBefore: (at: Date, n: number) => pattern.previousRuns(n, new Date(at.getTime() + 1)),
  });
}
