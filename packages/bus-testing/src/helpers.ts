import { type Bus, decodePayload, type EventDefinition, type QueueStore } from 'bus-core';
import { waitFor } from './wait.js';

/** Options of `runUntilIdle`. */
export interface RunUntilIdleOptions {
  /** Give up after this many ms (default 10 s). */
  timeoutMs?: number;
}

/**
 * Starts the bus's workers if needed and resolves once no row is due or running: "run
 * everything due and wait". Rows scheduled later stay (advance a `ManualClock` and call again).
 *
 * @example
 * await bus.publish(SendEmailEvent, { to: 'a@b.c', subject: 'Hi', body: '' });
 * await runUntilIdle(bus);
 * expect(mailer.sent).toHaveLength(1);
 */
export async function runUntilIdle(bus: Bus<any>, options: RunUntilIdleOptions = {}): Promise<void> {
  const running = bus.controller.running();
  if (Object.keys(running).length === 0) await bus.controller.startWorkers();
  bus.controller.wake();
  await waitFor(
    async () => {
      const counts = await bus.inspect.counts();
      const busy = Object.values(bus.controller.running()).some((n) => n > 0);
      if (busy || counts.some((c) => c.available > 0 || c.running > 0)) return false;
      // A count may call a row that just became due "scheduled" (on PostgreSQL its now() can
      // precede the commit of a retry due at once): ask the database's clock, read after the rows.
      const later = counts.filter((c) => c.scheduled > 0);
      if (later.length === 0) return true;
      const rows = (await Promise.all(later.map((c) => bus.inspect.events({ queue: c.queue })))).flat();
      const now = await bus.inspect.now();
      return rows.every((r) => r.lockedUntil === null && r.scheduledAt > now);
    },
    { timeoutMs: options.timeoutMs ?? 10_000, message: 'every due row to be handled' },
  );
}

/** A published event as tests see it: the row's facts and its decoded payload. */
export interface PublishedEvent<P> {
  id: string;
  queue: string;
  handlerName: string;
  payload: P;
  state: 'pending' | 'completed' | 'failed' | 'cancelled';
}

/**
 * Lists every row of `event` in the live table and the archive, with decoded payloads.
 *
 * @example
 * const sent = await publishedEvents(store, SendEmailEvent);
 */
export async function publishedEvents<P>(
  store: QueueStore<any>,
  event: EventDefinition<P>,
): Promise<PublishedEvent<P>[]> {
  const live = (await everyRow((afterId) => store.inspect.listEvents({ afterId, limit: PAGE }))).filter(
    (r) => r.eventName === event.name,
  );
  const archived = (await everyRow((afterId) => store.inspect.listArchive({ afterId, limit: PAGE }))).filter(
    (r) => r.eventName === event.name,
  );
  return [
    ...live.map((r) => ({
      id: r.id,
      queue: r.queue,
      handlerName: r.handlerName,
      payload: decodePayload(r.payload) as P,
      state: 'pending' as const,
    })),
    ...archived.map((r) => ({
      id: r.id,
      queue: r.queue,
      handlerName: r.handlerName,
      payload: decodePayload(r.payload) as P,
      state: r.status,
    })),
  ];
}

const PAGE = 10_000;

/** Every row a paged list call returns, following `afterId` from page to page. */
async function everyRow<R extends { id: string }>(page: (afterId: string | undefined) => Promise<R[]>) {
  const rows: R[] = [];
  let afterId: string | undefined;
  for (;;) {
    const next = await page(afterId);
    rows.push(...next);
    if (next.length < PAGE) return rows;
    afterId = next[next.length - 1]!.id;
  }
}

/**
 * Throws unless at least one `event` was published whose payload satisfies `match`; returns the
 * matching events.
 *
 * @example
 * await assertPublished(store, SendEmailEvent, (e) => e.to === 'user@example.com');
 */
export async function assertPublished<P>(
  store: QueueStore<any>,
  event: EventDefinition<P>,
  match: (payload: P) => boolean = () => true,
): Promise<PublishedEvent<P>[]> {
  const found = (await publishedEvents(store, event)).filter((e) => match(e.payload));
  if (found.length === 0) {
    throw new Error(
      `expected an event ${event.name} matching the predicate to have been published; none was`,
    );
  }
  return found;
}
