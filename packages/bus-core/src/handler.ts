import { BusError } from './errors.js';
import type { PartitionKeyFunction } from './flow/partition-key.js';
import { type HandlerUniqueSettings, validateHandlerUnique } from './unique-key.js';

/** Per-handler settings, the guide's `EventQueueSettings`. */
export interface HandlerSettings {
  /** The queue the handler's rows go to; it needs a `QueueConfig` of the same name. */
  queueName: string;
  /** Retries after the first attempt; `maxRetries: 3` means up to 4 runs in all. */
  maxRetries: number;
  /** Milliseconds an attempt may run before its signal aborts and the attempt fails. */
  executionTimeout: number;
  /** Default priority of the handler's rows; lower runs first (default 0). */
  priority?: number;
  /**
   * Run the handler inside the transaction that settles its row (`ctx.tx`), so the handler's own
   * writes and the completion commit together (every store supports it: `store.transaction`).
   */
  transactional?: boolean;
  /**
   * Times a row may be put off by `throw snooze(ms)` (since published or redriven) before the
   * next snooze fails it for good with `SNOOZE_LIMIT` (default 100): a row cannot snooze forever
   * unnoticed.
   */
  maxSnoozes?: number;
  /** Derive a unique key from every payload this handler gets (docs/unique.md). */
  unique?: HandlerUniqueSettings;
  /**
   * The partition key of each row, from its payload (docs/flow-control.md): what per-key limits
   * and fairness count by. A publish's own `partitionKey` option wins.
   */
  partitionKey?: PartitionKeyFunction;
}

/** What a handler gets besides the event. */
export interface HandlerContext<TTx = unknown> {
  /**
   * Aborts at `executionTimeout`, on shutdown, when the worker loses the row's lease, and within
   * about a second when an operator cancels the row (reason: a `CANCELLED` BusError).
   */
  signal: AbortSignal;
  /** 1 on the first run, 2 on the first retry, … (a snooze gives its attempt back) */
  attempt: number;
  /** Times this row was snoozed so far (since published or redriven). */
  snoozes: number;
  /** The row id; with `handlerName`, a natural idempotency key. */
  id: string;
  eventName: string;
  handlerName: string;
  queue: string;
  maxRetries: number;
  /** When the event was published (database time). */
  createdAt: Date;
  /**
   * The row's partition key (from the handler's `partitionKey` setting or the publish option),
   * which per-key limits count it under; `null` when it has none.
   */
  partitionKey: string | null;
  /** The settling transaction, for `transactional` handlers; otherwise `undefined`. */
  tx: TTx | undefined;
}

/**
 * What a handler instance does: handle one event. Throwing (anything) fails the attempt, except
 * what `snooze`, `discard` and `cancelRun` return, which put the row off, fail it for good or
 * cancel it.
 */
export interface EventHandler<P, TTx = any> {
  handle(event: P, ctx: HandlerContext<TTx>): Promise<void> | void;
}

/**
 * A handler class: instances handle events, statics describe them, like the guide's
 * `IEventHandlerDatabase` with `settings()` and `calculate_scheduled_at()`.
 */
export interface HandlerClass<P = any, H extends EventHandler<P> = EventHandler<P>> {
  new (...args: any[]): H;
  /** Stable name stored in each row; never derived from the class name (minifiers rename). */
  readonly handlerName: string;
  readonly settings: HandlerSettings;
  /** Delay in ms before retry number `retry` (1 for the first retry). Defaults to `defaultBackoff`. */
  calculateScheduledAt?(retry: number): number;
}

/** A handler class whose instances can be built with `new C()`. */
export type ConstructibleHandlerClass<P> = HandlerClass<P> & (new () => EventHandler<P>);

/**
 * The backoff used when a handler has no `calculateScheduledAt`: 2^retry seconds, capped at one
 * hour, so a flapping dependency is not hammered.
 *
 * @example
 * defaultBackoff(1); // 2000
 */
export function defaultBackoff(retry: number): number {
  return Math.min(1000 * 2 ** Math.max(1, retry), 3_600_000);
}

const MAX_TIMER_MS = 2_147_483_647;
const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;

/** Checks a queue name; shared by handler settings and queue configuration. */
export function assertQueueName(
  name: unknown,
  code: 'INVALID_HANDLER' | 'INVALID_QUEUE_CONFIG' | 'INVALID_ARGUMENT',
): void {
  if (typeof name !== 'string' || !QUEUE_NAME.test(name)) {
    throw new BusError(
      code,
      `queueName must be 1-100 characters of letters, digits and . _ : - (got ${JSON.stringify(name)})`,
      { value: name },
    );
  }
}

/** Checks handler settings at registration so a bad handler fails at start-up, not at 3 a.m. */
export function validateHandlerSettings(handlerName: string, settings: unknown): HandlerSettings {
  const fail = (field: string, value: unknown, rule: string): never => {
    throw new BusError('INVALID_HANDLER', `handler ${handlerName}: settings.${field} ${rule}`, { value });
  };
  if (typeof settings !== 'object' || settings === null) return fail('', settings, 'must be an object');
  const s = settings as Record<string, unknown>;
  assertQueueName(s.queueName, 'INVALID_HANDLER');
  if (!Number.isInteger(s.maxRetries) || (s.maxRetries as number) < 0 || (s.maxRetries as number) > 10_000) {
    fail('maxRetries', s.maxRetries, 'must be an integer from 0 to 10000');
  }
  const timeout = s.executionTimeout;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0 || timeout > MAX_TIMER_MS) {
    fail('executionTimeout', timeout, `must be a number of milliseconds from 1 to ${MAX_TIMER_MS}`);
  }
  if (s.priority !== undefined) assertPriority(s.priority, 'INVALID_HANDLER');
  if (s.transactional !== undefined && typeof s.transactional !== 'boolean') {
    fail('transactional', s.transactional, 'must be a boolean');
  }
  if (
    s.maxSnoozes !== undefined &&
    (!Number.isInteger(s.maxSnoozes) || (s.maxSnoozes as number) < 0 || (s.maxSnoozes as number) > 1_000_000)
  ) {
    fail('maxSnoozes', s.maxSnoozes, 'must be an integer from 0 to 1000000');
  }
  validateHandlerUnique(handlerName, s.unique);
  if (s.partitionKey !== undefined && typeof s.partitionKey !== 'function') {
    fail('partitionKey', s.partitionKey, 'must be a function from the payload to a string');
  }
  return settings as HandlerSettings;
}

/** Priorities fit a 32-bit column on every database. */
export function assertPriority(value: unknown, code: 'INVALID_HANDLER' | 'INVALID_ARGUMENT'): void {
  if (!Number.isInteger(value) || (value as number) < -1_000_000 || (value as number) > 1_000_000) {
    throw new BusError(code, `priority must be an integer from -1000000 to 1000000 (got ${String(value)})`, {
      value,
    });
  }
}
