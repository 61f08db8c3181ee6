import assert from 'node:assert/strict';
import {
  createBus,
  defineEvent,
  encodePayload,
  type HandlerSettings,
  type QueueStore,
  Registry,
} from 'bus-core';
import { isRowId, payloadJsonOf } from 'bus-core/driver';
import { runUntilIdle } from '../helpers.js';
import { newEventRow } from '../new-event-row.js';
import { assertBytes, assertSameInstant, untilPast } from './support.js';

// Store round trips that every store passes on any client it accepts: the drivers run them once
// per client option that changes how rows come back, and the conformance suite runs them too.

const QUEUE = 'opts';
// Quotes of both kinds, backslashes, braces, commas and NULL: what SQL literals and array
// literals must escape; unicode beyond the BMP for utf8mb4.
const EVENT = `opts.event 'single' "double", {braced} \\back\\slash NULL`;
const HANDLER = 'opts_handler,with_commas';
const WORKER = `w '1' "1"`;
// Snake-case keys, which a camel-casing client option must leave alone inside the JSON column.
const JSON_VALUE = { snake_key: 'v', nested_obj: { inner_key: [1, null, 'x'] } };
const ERROR_TEXT = `failed: 'single' "double" \\ back, {brace} NULL\n second line ü 🚀`;
// Trace contexts as the core writes them (a JSON carrier) and as anything else might (garbage):
// the trace_context column takes any text and gives it back exactly; the fourth row has none.
const TRACE_CONTEXTS = [
  '{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"congo=t61rcWkgMzE"}',
  `not a traceparent 'single' "double" \\ {brace}, NULL ü 🚀`,
  '{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}',
  undefined,
] as const;

/**
 * One pass over every store operation on empty tables, with hostile strings (quotes of both
 * kinds, backslashes, braces, commas, NULL, unicode) in every text column: insert, claim in
 * priority order, extend, a mixed settle with archive, list, count, retry, release, listExpired,
 * rescue, prune. The JSON column is checked when the store writes it (its `jsonPayload` option).
 * A driver runs it once per client option that changes how rows come back; the suite runs it too.
 *
 * @example
 * it('round trip on a rowsAsArray pool', () => storeRoundTrip(mysqlStore(drizzle(pool))));
 */
export async function storeRoundTrip<TTx>(store: QueueStore<TTx>): Promise<void> {
  const dbNow = (await store.now()).getTime();
  assert.ok(Math.abs(dbNow - Date.now()) < 5_000, 'the database clock is close to the host clock');
  const payloads = [0, 1, 2, 3].map((n) => encodePayload(n === 0 ? JSON_VALUE : { n, text: `p${n} ü` }));
  const rows = payloads.map((payload, n) =>
    newEventRow({
      queue: QUEUE,
      eventName: EVENT,
      handlerName: HANDLER,
      payload,
      maxRetries: 3,
      priority: n === 3 ? 0 : -n,
      due: n === 3 ? 3_600_000 : 0,
      ...(TRACE_CONTEXTS[n] === undefined ? {} : { traceContext: TRACE_CONTEXTS[n] }),
    }),
  );
  const ids = await store.insert({ rows });
  assert.equal(ids.length, 4);
  for (const id of ids) assert.ok(isRowId(id), `${id} is a row id`);

  const claimed = await store.claim({
    queue: QUEUE,
    limit: 10,
    workerId: WORKER,
    leaseMs: 30_000,
    handlers: [HANDLER],
  });
  // Priority order: -2, -1, 0 (the fourth row is not due).
  assert.deepEqual(
    claimed.map((c) => c.id),
    [ids[2], ids[1], ids[0]],
  );
  for (const c of claimed) {
    const n = ids.indexOf(c.id);
    assert.deepEqual(
      [c.queue, c.eventName, c.handlerName, c.attempts, c.maxRetries, c.priority],
      [QUEUE, EVENT, HANDLER, 1, 3, n === 0 ? 0 : -n],
    );
    assertBytes(c.payload, payloads[n]!, `payload of row ${n}`);
    assert.equal(c.payload.constructor, Uint8Array);
    assert.ok(Math.abs(c.createdAt.getTime() - dbNow) < 5_000, 'createdAt in database time');
    assert.equal(c.traceContext, TRACE_CONTEXTS[n], `trace context of claimed row ${n}`);
  }
  const held = claimed.map((c) => ({ id: c.id, attempt: c.attempts }));
  assert.deepEqual(
    (await store.extendLeases({ workerId: WORKER, events: held, leaseMs: 60_000 })).sort(),
    ids.slice(0, 3).sort(),
  );

  const settled = await store.settle({
    workerId: WORKER,
    outcomes: [
      { id: ids[0]!, attempt: 1, kind: 'completed', archive: true },
      { id: ids[1]!, attempt: 1, kind: 'failed', archive: true, error: ERROR_TEXT },
      { id: ids[2]!, attempt: 1, kind: 'retry', delayMs: 0, error: ERROR_TEXT },
    ],
  });
  assert.deepEqual(settled.settled.sort(), ids.slice(0, 3).sort());

  const archived = await store.inspect.listArchive({ queue: QUEUE, limit: 10 });
  assert.deepEqual(
    archived.map((a) => [a.id, a.status, a.lastError, a.attempts, a.traceContext]),
    [
      [ids[0], 'completed', null, 1, TRACE_CONTEXTS[0]],
      [ids[1], 'failed', ERROR_TEXT, 1, TRACE_CONTEXTS[1]],
    ],
  );
  const json = archived[0]!.payloadJson;
  if (json !== null) assert.deepEqual(json, JSON.parse(payloadJsonOf(payloads[0]!)), 'the JSON column');
  assertBytes(archived[0]!.payload, payloads[0]!, 'archived payload');
  assert.equal(archived[0]!.eventName, EVENT);
  assert.ok(archived[0]!.finishedAt.getTime() >= archived[0]!.createdAt.getTime());
  assert.ok(Math.abs(archived[0]!.finishedAt.getTime() - dbNow) < 5_000, 'finishedAt in database time');
  assert.deepEqual(
    (await store.inspect.listArchive({ ids: [ids[1]!], status: 'failed', limit: 10 })).map((a) => a.id),
    [ids[1]],
  );

  const live = await store.inspect.listEvents({ queue: QUEUE, limit: 10 });
  assert.deepEqual(
    live.map((e) => [e.id, e.attempts, e.lastError, e.lockedBy, e.lockedUntil, e.traceContext]),
    [
      [ids[2], 1, ERROR_TEXT, null, null, TRACE_CONTEXTS[2]],
      [ids[3], 0, null, null, null, null],
    ],
  );
  // Database time, read back as UTC whatever the client's time zone or date parsing say.
  assert.ok(Math.abs(live[1]!.scheduledAt.getTime() - dbNow - 3_600_000) < 5_000, 'due in an hour');
  if (live[1]!.payloadJson !== null) {
    assert.deepEqual(live[1]!.payloadJson, JSON.parse(payloadJsonOf(payloads[3]!)));
  }
  const counts = await store.inspect.countByQueue();
  assert.deepEqual(
    counts.map(({ oldestAvailableAt: _, ...c }) => c),
    [
      {
        queue: QUEUE,
        available: 1,
        scheduled: 1,
        running: 0,
        retrying: 1,
        archivedCompleted: 1,
        archivedFailed: 1,
        archivedCancelled: 0,
      },
    ],
  );
  // The one available row is the retry due at once: the oldest is its due time.
  assertSameInstant(counts[0]?.oldestAvailableAt, live[0]!.scheduledAt, 'oldestAvailableAt');

  // The retry comes back with its attempt counted; release hands it back uncounted.
  const [again] = await store.claim({
    queue: QUEUE,
    limit: 10,
    workerId: 'w2',
    leaseMs: 30_000,
    handlers: [HANDLER],
  });
  assert.deepEqual([again?.id, again?.attempts], [ids[2], 2]);
  assert.deepEqual(await store.release({ workerId: 'w2', events: [{ id: ids[2]!, attempt: 2 }] }), [ids[2]]);
  assert.equal((await store.inspect.listEvents({ ids: [ids[2]!], limit: 1 }))[0]?.attempts, 1);
  assert.deepEqual(await store.listExpired({ queues: [QUEUE], limit: 10 }), []);
  assert.deepEqual(
    await store.rescue({
      decisions: [
        { kind: 'retry', id: ids[2]!, attempt: 1, workerId: 'w2', delayMs: 0, error: 'not expired' },
      ],
    }),
    [],
  );
  await untilPast(store, archived[1]!.finishedAt);
  assert.equal(await store.prune({ olderThanMs: 0, limit: 10 }), 2);

  // A plain completion without archive (one statement on MariaDB: DELETE … RETURNING).
  const [plain] = await store.claim({
    queue: QUEUE,
    limit: 1,
    workerId: 'w3',
    leaseMs: 30_000,
    handlers: [HANDLER],
  });
  assert.deepEqual(
    await store.settle({
      workerId: 'w3',
      outcomes: [{ id: plain!.id, attempt: plain!.attempts, kind: 'completed', archive: false }],
    }),
    { settled: [plain!.id] },
  );
}

const LoadEvent = defineEvent<{ n: number; name: string }>('opts.bus-event');

/**
 * A bus on the store: a handler that fails its first attempt, archive policy `completed`, rows
 * published in a batch and in a transaction; every row ends archived as completed on attempt 2.
 *
 * @example
 * it('a bus on a camel-case client', () => busRoundTrip(postgresStore(drizzle(camelClient))));
 */
export async function busRoundTrip<TTx>(store: QueueStore<TTx>): Promise<void> {
  const runs = new Map<number, number>();
  class FlakyHandler {
    static readonly handlerName = 'opts.flaky';
    static readonly settings: HandlerSettings = {
      queueName: 'opts-bus',
      maxRetries: 2,
      executionTimeout: 5_000,
    };
    static calculateScheduledAt(): number {
      return 0;
    }
    handle(event: { n: number }): void {
      const run = (runs.get(event.n) ?? 0) + 1;
      runs.set(event.n, run);
      if (run === 1) throw new Error('first attempt fails');
    }
  }
  const registry = new Registry();
  registry.register(LoadEvent, FlakyHandler);
  const bus = createBus<TTx>({
    store,
    registry,
    queues: [
      { queueName: 'opts-bus', workers: 4, batchSize: 4, sleepInterval: 50, archivePolicy: 'completed' },
    ],
  });
  await bus.init();
  try {
    await bus.publishBatch(LoadEvent, [
      { n: 1, name: 'one' },
      { n: 2, name: 'two' },
    ]);
    await store.transaction((tx) => bus.publishTxn(tx, LoadEvent, { n: 3, name: 'three' }));
    await runUntilIdle(bus, { timeoutMs: 15_000 });
    const archived = await store.inspect.listArchive({ queue: 'opts-bus', limit: 10 });
    assert.deepEqual(
      archived.map((a) => [a.status, a.attempts]),
      [
        ['completed', 2],
        ['completed', 2],
        ['completed', 2],
      ],
    );
    assert.deepEqual(await store.inspect.listEvents({ queue: 'opts-bus', limit: 10 }), []);
    assert.deepEqual([...runs.entries()].sort(), [
      [1, 2],
      [2, 2],
      [3, 2],
    ]);
  } finally {
    bus.controller.shutdown();
    await bus.controller.awaitTerminationWithTimeout(5_000);
  }
}
