import { encodePayload, type NewEventRow } from 'bus-core';

/**
 * A row for `QueueStore.insert` with harmless defaults, for tests that drive a store directly
 * (the conformance suite, a driver's own store tests).
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
    payloadJson: null,
    maxRetries: 0,
    priority: 0,
    delayMs: 0,
    runAt: null,
    ...over,
  };
}
