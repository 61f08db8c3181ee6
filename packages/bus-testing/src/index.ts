export { type Clock, ManualClock, systemClock } from './clock.js';
export type { TestRunner } from './conformance/runner.js';
export type { ConformanceTarget } from './conformance/target.js';
export {
  assertPublished,
  type PublishedEvent,
  publishedEvents,
  type RunUntilIdleOptions,
  runUntilIdle,
} from './helpers.js';
export { MemoryStore, type MemoryStoreOptions, type MemoryTx, memoryStore } from './memory-store.js';
export { newEventRow } from './new-event-row.js';
export { waitFor } from './wait.js';
