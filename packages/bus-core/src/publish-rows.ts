import { encodePayload } from './codec.js';
import type { NewEventRow } from './contract/insert.js';
import { CONTRACT_LIMITS } from './contract/limits.js';
import { BusError } from './errors.js';
import { partitionKeyOf } from './flow/partition-key.js';
import type { RegisteredHandler } from './registry.js';
import type { UniqueOptions } from './unique-key.js';

/** Options of one publish. */
export interface PublishOptions {
  /** Run no earlier than this many ms from now (database time). */
  delay?: number;
  /** Run no earlier than this instant; wins over `delay`. */
  runAt?: Date;
  /** Lower runs first; defaults to the handler's `settings.priority` or 0. */
  priority?: number;
  /** Return `[]` instead of throwing `NO_HANDLER` when no handler is registered for the event. */
  allowNoHandler?: boolean;
  /** Make the rows unique on a key (docs/unique.md); a duplicate resolves with the existing row's id. */
  unique?: UniqueOptions;
  /**
   * The rows' partition key for flow control (docs/flow-control.md), for every handler; wins over
   * the handlers' `settings.partitionKey`.
   */
  partitionKey?: string;
}

const { maxDelayMs, minDueTime, maxDueTime } = CONTRACT_LIMITS;

/**
 * When published rows are due, as the contract's one `due` field: ms after the database's now,
 * or an absolute instant. Bad values are `INVALID_ARGUMENT` here, before any store sees them.
 *
 * @example
 * dueOf({ delay: 5000 }); // 5000
 */
export function dueOf(options: PublishOptions): number | Date {
  const { delay, runAt } = options;
  if (runAt !== undefined) {
    if (!(runAt instanceof Date) || !(runAt.getTime() >= minDueTime && runAt.getTime() <= maxDueTime)) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `runAt must be a valid Date between 1970 and 9999 (got ${String(runAt)})`,
        { value: runAt },
      );
    }
    return new Date(runAt.getTime());
  }
  if (delay === undefined) return 0;
  if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0 || delay > maxDelayMs) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `delay must be a number of ms from 0 to ${maxDelayMs} (got ${String(delay)})`,
      { value: delay },
    );
  }
  return Math.round(delay);
}

/**
 * The fan-out: one row per payload and handler, each in its handler's queue with its retry
 * settings. Payloads are encoded once and shared by their rows.
 *
 * @example
 * publishRows('user.signed-up', handlers, [{ id: 1 }], { due: 0 });
 */
export function publishRows(
  eventName: string,
  handlers: readonly RegisteredHandler[],
  payloads: readonly unknown[],
  options: { due: number | Date; priority: number | undefined; partitionKey?: string | undefined },
): NewEventRow[] {
  const rows: NewEventRow[] = [];
  for (const payload of payloads) {
    const bytes = encodePayload(payload);
    for (const handler of handlers) {
      rows.push({
        queue: handler.settings.queueName,
        eventName,
        handlerName: handler.name,
        payload: bytes,
        maxRetries: handler.settings.maxRetries,
        priority: options.priority ?? handler.settings.priority ?? 0,
        due: options.due,
      });
      const key = partitionKeyOf(handler.name, handler.settings.partitionKey, payload, options.partitionKey);
      if (key !== null) rows[rows.length - 1]!.partitionKey = key;
    }
  }
  return rows;
}
