import { encodePayload } from 'bus-core';
import type { NewEventRow } from 'bus-core/driver';

/**
 * A row for `QueueStore.insert` with harmless defaults (queue `q`, due at once), for tests that
 * drive a store directly (the conformance suite, a driver's own store tests).
 *
 * @example
 * await store.insert({ rows: [newEventRow({ queue: 'email', priority: -1 })] });
 */
export function newEventRow(over: Partial<NewEventRow> = {}): NewEventRow {
  return {
    queue: 'q',
    eventName: 'test.event',
    handlerName: 'test.handler',
    payload: encodePayload({ n: 0 }),
    maxRetries: 0,
    priority: 0,
    due: 0,
    ...over,
  };
}
