import { afterEach, expect } from 'vitest';
import { MemoryStore } from '../../bus-testing/src/index.js';
import {
  type Bus,
  type BusError,
  type BusOptions,
  createBus,
  type HandlerContext,
  type HandlerSettings,
  isBusError,
  type QueueConfig,
  type Registry,
} from '../src/index.js';

// What bus-core's own tests share: buses on a memory store (imported from bus-testing's source by
// path, since bus-core cannot depend on bus-testing), shut down after each test.

type Handle<P> = (payload: P, ctx: HandlerContext<any>) => unknown;

/** A handler class around a closure, so each test owns its handler's state. */
export function handlerClass<P>(
  handlerName: string,
  settings: Partial<HandlerSettings> & { queueName: string },
  handle: Handle<P>,
  calculateScheduledAt?: (retry: number) => number,
) {
  return class {
    static readonly handlerName = handlerName;
    static readonly settings: HandlerSettings = { maxRetries: 0, executionTimeout: 10_000, ...settings };
    static readonly calculateScheduledAt = calculateScheduledAt;
    handle(payload: P, ctx: HandlerContext<any>): Promise<void> {
      return Promise.resolve(handle(payload, ctx)).then(() => undefined);
    }
  };
}

/** A queue configuration with test-friendly defaults (short polls, archive everything). */
export function queue(queueName: string, over: Partial<QueueConfig> = {}): QueueConfig {
  return { queueName, workers: 4, batchSize: 10, sleepInterval: 20, archivePolicy: 'all', ...over };
}

const buses: Bus<any>[] = [];

afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.controller.awaitTerminationWithTimeout(2000)));
});

/** A started-up (init) bus on `store` (default: a fresh memory store), shut down after the test. */
export async function makeBus(
  options: Omit<BusOptions<any>, 'store'> & { registry: Registry; store?: BusOptions<any>['store'] },
): Promise<Bus<any>> {
  const bus = createBus<any>({ rescueInterval: 100, ...options, store: options.store ?? new MemoryStore() });
  buses.push(bus);
  await bus.init();
  return bus;
}

/** Registers a bus made elsewhere for shutdown after the test. */
export function track<B extends Bus<any>>(bus: B): B {
  buses.push(bus);
  return bus;
}

/** The archived row `id` of `store`, or undefined. */
export async function archiveOf(store: MemoryStore, id: string) {
  return (await store.inspect.listArchive({ ids: [id], limit: 1 }))[0];
}

/** The live row `id` of `store`, or undefined. */
export async function liveOf(store: MemoryStore, id: string) {
  return (await store.inspect.listEvents({ ids: [id], limit: 1 }))[0];
}

/** Every live row of `store`. */
export function liveRows(store: MemoryStore) {
  return store.inspect.listEvents({ limit: 10_000 });
}

/** Every archived row of `store`. */
export function archivedRows(store: MemoryStore) {
  return store.inspect.listArchive({ limit: 10_000 });
}

/** Asserts that `fn` throws a BusError with `code` (and `value`, when given). */
export function expectBusError(fn: () => unknown, code: string, value?: unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(isBusError(thrown), `expected a BusError ${code}, got ${String(thrown)}`).toBe(true);
  expect((thrown as BusError).code).toBe(code);
  if (value !== undefined) expect((thrown as BusError).value).toEqual(value);
}

/** Asserts that `p` rejects with a BusError with `code` (and `value`, when given). */
export async function expectRejects(p: Promise<unknown>, code: string, value?: unknown): Promise<void> {
  const thrown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBusError(thrown), `expected a BusError ${code}, got ${String(thrown)}`).toBe(true);
  expect((thrown as BusError).code).toBe(code);
  if (value !== undefined) expect((thrown as BusError).value).toEqual(value);
}

/** A valid queue configuration, for tests that change one field of it. */
export const GOOD_QUEUE: QueueConfig = {
  queueName: 'q',
  workers: 2,
  batchSize: 10,
  sleepInterval: 10,
  archivePolicy: 'all',
};

/** A handler class named `name` on queue `q` (1 s timeout, no retries) unless `settings` say otherwise. */
export function simpleHandler(
  name: string,
  settings: Partial<HandlerSettings> = {},
  handle: (p: any) => unknown = () => {},
) {
  return class {
    static readonly handlerName = name;
    static readonly settings: HandlerSettings = {
      queueName: 'q',
      maxRetries: 0,
      executionTimeout: 1000,
      ...settings,
    };
    async handle(p: unknown): Promise<void> {
      await handle(p);
    }
  };
}
