import { fileURLToPath } from 'node:url';
import type { SpanContext } from '@opentelemetry/api';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { type Bus, createBus, Registry } from 'bus-core';
import { waitFor } from 'bus-testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bundleOtelWorker,
  type OtelWorker,
  startOtelWorker,
} from '../../bus-core/test/otel-fixtures/process.js';
import {
  BlockedEvent,
  DrainEvent,
  FlakyEvent,
  GarbageEvent,
  HANDLERS,
  handlerClass,
  LaterEvent,
  MarkerEvent,
  type MetricsRecord,
  type OtelWorkerConfig,
  QUEUES,
  RolledBackEvent,
  SignupEvent,
  type SpanRecord,
} from '../../bus-core/test/otel-fixtures/protocol.js';
import { histogramCount, pointsOf, registerTestSdk, sumOf } from '../../bus-core/test/otel-sdk.js';
import { type PgTx, postgresStore } from '../src/index.js';
import { createTestSchema, PG_URL, type TestSchema } from './helpers.js';

// OpenTelemetry across processes on PostgreSQL (postgres.js): this process registers the SDK and
// publishes; a worker process with an SDK of its own runs the handlers and sends its finished spans
// and its metrics over IPC. The trace context travels only in the rows' trace_context column.

let t: TestSchema;
let sdk: ReturnType<typeof registerTestSdk>;
let bundle: Awaited<ReturnType<typeof bundleOtelWorker>>;
let bus: Bus<PgTx>;
/** The worker of the span tests (queues `tel` and `serial`). */
let worker: OtelWorker;
const started: OtelWorker[] = [];

function config(queues: string[]): OtelWorkerConfig {
  return { url: PG_URL, schema: t.schema, queues };
}

beforeAll(async () => {
  sdk = registerTestSdk();
  [t, bundle] = await Promise.all([
    createTestSchema('otel'),
    bundleOtelWorker(fileURLToPath(new URL('./fixtures/otel-worker.ts', import.meta.url))),
  ]);
  const registry = new Registry();
  for (const spec of Object.values(HANDLERS)) registry.register(spec.event, handlerClass(spec));
  // Publishes only: the same handler names and queues as the worker's registry, no workers.
  bus = createBus({ store: postgresStore(t.db, { listen: false }), registry, queues: QUEUES });
  await bus.init();
  worker = await startOtelWorker(bundle.file, config(['tel', 'serial']));
  started.push(worker);
});

afterAll(async () => {
  try {
    // The span tests' worker shuts down cleanly, having logged no error.
    if (worker) {
      const { clean, errors, warnings } = await worker.stop();
      expect({ clean, errors }).toEqual({ clean: true, errors: [] });
      // Only the flaky handler's first attempt.
      expect(warnings.filter((w) => !w.startsWith('attempt failed; will retry'))).toEqual([]);
    }
  } finally {
    for (const w of started) w.kill();
    bundle?.cleanup();
    await t?.drop();
    await sdk?.shutdown();
  }
});

/** Runs `fn` inside an active span `name` of this process, as a request handler would. */
async function inSpan<T>(name: string, fn: () => Promise<T>): Promise<{ result: T; span: SpanContext }> {
  return sdk.tracer.startActiveSpan(name, async (span) => {
    try {
      return { result: await fn(), span: span.spanContext() };
    } finally {
      span.end();
    }
  });
}

/** This process's `send` span of the trace `traceId`. */
function sendSpan(event: string, traceId: string) {
  const span = sdk.spans().find((s) => s.name === `send ${event}` && s.spanContext().traceId === traceId);
  expect(span, `send ${event} in trace ${traceId}`).toBeDefined();
  return span!;
}

/** Waits until the worker has finished `count` spans matching `match`, and returns them. */
async function workerSpans(
  w: OtelWorker,
  match: (s: SpanRecord) => boolean,
  count: number,
  message: string,
): Promise<SpanRecord[]> {
  return waitFor(
    async () => {
      const spans = (await w.spans()).filter(match);
      return spans.length >= count ? spans : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 50, message },
  );
}

interface ArchivedRow {
  id: string;
  status: string;
  attempts: number;
  trace_context: string | null;
}

/** The archived rows of `ids`, once all of them are archived. */
function archivedOnce(ids: string[], message: string): Promise<ArchivedRow[]> {
  return waitFor(
    async () => {
      const rows = await t.client<ArchivedRow[]>`SELECT id::text AS id, status, attempts, trace_context
        FROM bus_events_archive WHERE id = ANY(${ids}::int8[]) ORDER BY id`;
      return rows.length === ids.length ? rows : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 50, message },
  );
}

/** A worker's metrics as the harness reads them (the JSON keeps the fields `pointsOf` reads). */
const asCollection = (m: MetricsRecord) => m as unknown as ResourceMetrics;

describe('OpenTelemetry across processes (PostgreSQL)', () => {
  it('a publish inside a request span and its run in a worker process form one trace: request → send → process', async () => {
    const {
      result: [id],
      span: request,
    } = await inSpan('POST /signup', () => bus.publish(SignupEvent, { email: 'ada@example.com' }));
    const send = sendSpan('otel.signup', request.traceId);
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.parentSpanContext?.spanId).toBe(request.spanId);

    const [run] = await workerSpans(worker, (s) => s.name === 'process otel.signup', 1, 'the process span');
    expect(run!.kind).toBe(SpanKind.CONSUMER);
    expect(run!.traceId).toBe(request.traceId);
    expect(run!.parentSpanId).toBe(send.spanContext().spanId);
    expect(run!.links).toEqual([{ traceId: request.traceId, spanId: send.spanContext().spanId }]);
    expect(run!.attributes).toEqual({
      'messaging.system': 'bus',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 'otel.signup',
      'messaging.consumer.group.name': 'tel',
      'messaging.message.id': id,
      'bus.handler.name': 'otel.welcome',
      'bus.attempt': 1,
      'bus.outcome': 'completed',
    });
    expect(run!.status.code).not.toBe(SpanStatusCode.ERROR);
    // The handler's own span is a child of its run, in the request's trace.
    const [child] = await workerSpans(
      worker,
      (s) => s.name === 'send welcome email',
      1,
      "the handler's span",
    );
    expect(child).toMatchObject({ traceId: request.traceId, parentSpanId: run!.spanId });
    // What carried it: the send span's traceparent, in the row (copied to the archive).
    const [row] = await archivedOnce([id!], 'the row archived');
    expect(row).toMatchObject({ status: 'completed', attempts: 1 });
    expect(JSON.parse(row!.trace_context!)).toEqual({
      traceparent: `00-${request.traceId}-${send.spanContext().spanId}-01`,
    });
  });

  it('a handler that fails once: two process spans of the trace, attempts 1 (error, retry) and 2', async () => {
    const {
      result: [id],
      span: job,
    } = await inSpan('nightly job', () => bus.publish(FlakyEvent, { n: 1 }));
    const send = sendSpan('otel.flaky', job.traceId);
    const spans = await workerSpans(
      worker,
      (s) => s.name === 'process otel.flaky' && s.traceId === job.traceId,
      2,
      'two process spans',
    );
    expect(spans).toHaveLength(2);
    const [first, second] = spans.sort(
      (a, b) => Number(a.attributes['bus.attempt']) - Number(b.attributes['bus.attempt']),
    );
    expect(first!.attributes).toMatchObject({
      'bus.attempt': 1,
      'bus.outcome': 'retry',
      'messaging.message.id': id,
    });
    expect(first!.status.code).toBe(SpanStatusCode.ERROR);
    expect(first!.status.message).toContain('first attempt fails');
    expect(first!.events).toContain('exception');
    expect(second!.attributes).toMatchObject({
      'bus.attempt': 2,
      'bus.outcome': 'completed',
      'messaging.message.id': id,
    });
    expect(second!.status.code).not.toBe(SpanStatusCode.ERROR);
    expect(second!.spanId).not.toBe(first!.spanId);
    for (const span of [first!, second!]) {
      expect(span.parentSpanId).toBe(send.spanContext().spanId);
      expect(span.links).toEqual([{ traceId: job.traceId, spanId: send.spanContext().spanId }]);
    }
    const [row] = await archivedOnce([id!], 'the row archived');
    expect(row).toMatchObject({ status: 'completed', attempts: 2 });
  });

  it('a publishTxn whose transaction rolls back: no row and no process span; a later marker runs', async () => {
    const { span: request } = await inSpan('POST /order', async () => {
      await expect(
        t.db.transaction(async (tx) => {
          await bus.publishTxn(tx, RolledBackEvent, { n: 1 });
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
    });
    // The publish did run (inside the transaction), in the request's trace.
    sendSpan('otel.rolled-back', request.traceId);
    const [markerId] = await bus.publish(MarkerEvent, { n: 2 });
    await workerSpans(
      worker,
      (s) => s.name === 'process otel.marker' && s.attributes['messaging.message.id'] === markerId,
      1,
      'the marker run',
    );
    await archivedOnce([markerId!], 'the marker archived');
    expect((await worker.spans()).filter((s) => s.name === 'process otel.rolled-back')).toEqual([]);
    const [rows] = await t.client<{ n: number }[]>`SELECT
      (SELECT count(*) FROM bus_events WHERE event_name = 'otel.rolled-back')
      + (SELECT count(*) FROM bus_events_archive WHERE event_name = 'otel.rolled-back') AS n`;
    expect(Number(rows!.n)).toBe(0);
  });

  it('metrics of a drain of N rows in the worker process; gauges report the depth of its queues', async () => {
    const N = 40;
    const w = await startOtelWorker(bundle.file, config(['drain', 'blocked', 'later']));
    started.push(w);
    const drainIds = await bus.publishBatch(
      DrainEvent,
      Array.from({ length: N }, (_, n) => ({ n })),
    );
    const blockedIds = await bus.publishBatch(BlockedEvent, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    await bus.publishBatch(LaterEvent, [{ n: 1 }, { n: 2 }, { n: 3 }], { delay: 600_000 });
    await waitFor(() => w.blocked.length === 1, { timeoutMs: 15_000, message: 'a blocked handler started' });
    await archivedOnce(drainIds, `${N} drain rows archived`);

    // The first collection starts the gauges' read of the database; the next ones report it.
    const firstCollection = Date.now();
    const { metrics } = await waitFor(
      async () => {
        const answer = await w.metrics();
        if (answer.warnings.length > 0) throw new Error(`the worker warned: ${answer.warnings.join('; ')}`);
        return pointsOf(asCollection(answer.metrics), 'bus.queue.depth').length > 0 ? answer : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 50, message: 'the gauges reported' },
    );
    const m = asCollection(metrics);
    const drain = { 'messaging.consumer.group.name': 'drain', 'messaging.destination.name': 'otel.drain' };
    expect(sumOf(m, 'messaging.client.consumed.messages', drain)).toBe(N);
    expect(sumOf(m, 'bus.runs', { ...drain, 'bus.outcome': 'completed' })).toBe(N);
    expect(sumOf(m, 'bus.runs', drain)).toBe(N);
    expect(histogramCount(m, 'messaging.process.duration', drain)).toBe(N);
    expect(histogramCount(m, 'bus.claim_to_start.duration', drain)).toBe(N);
    expect(histogramCount(m, 'bus.publish_to_start.duration', drain)).toBe(N);
    // The worker published nothing; this process counted the rows it published.
    expect(sumOf(m, 'messaging.client.sent.messages')).toBe(0);
    expect(sumOf(await sdk.collect(), 'messaging.client.sent.messages', drain)).toBe(N);
    // One blocked run started and has not ended.
    const blocked = { 'messaging.consumer.group.name': 'blocked' };
    expect(sumOf(m, 'messaging.client.consumed.messages', blocked)).toBe(1);
    expect(sumOf(m, 'bus.runs', blocked)).toBe(0);

    const gauge = (name: string, queue: string, state?: string) => {
      const points = pointsOf(m, name).filter(
        (p) =>
          p.attributes['messaging.consumer.group.name'] === queue &&
          (state === undefined || p.attributes['bus.state'] === state),
      );
      expect(points, `${name} ${queue} ${state ?? ''}`).toHaveLength(1);
      return points[0]!.value;
    };
    expect(gauge('bus.queue.depth', 'blocked', 'running')).toBe(1);
    expect(gauge('bus.queue.depth', 'blocked', 'available')).toBe(3);
    expect(gauge('bus.queue.depth', 'blocked', 'scheduled')).toBe(0);
    expect(gauge('bus.queue.depth', 'later', 'scheduled')).toBe(3);
    expect(gauge('bus.queue.depth', 'later', 'available')).toBe(0);
    expect(gauge('bus.queue.depth', 'later', 'running')).toBe(0);
    for (const state of ['available', 'scheduled', 'running'])
      expect(gauge('bus.queue.depth', 'drain', state)).toBe(0);
    const age = gauge('bus.queue.oldest_ready_age', 'blocked') as number;
    expect(age).toBeGreaterThan(0);
    expect(age).toBeLessThan(120);
    expect(gauge('bus.queue.oldest_ready_age', 'later')).toBe(0);
    // Only the queues this process works.
    expect(
      pointsOf(m, 'bus.queue.depth').filter((p) => p.attributes['messaging.consumer.group.name'] === 'tel'),
    ).toEqual([]);

    // A scrape storm reads the database once per 10 s, not once per collection.
    for (let i = 0; i < 20; i++) await w.metrics();
    const { countReads } = await w.metrics();
    expect(Date.now() - firstCollection, 'the collections took less than the 10 s interval').toBeLessThan(
      10_000,
    );
    expect(countReads).toBe(1);

    await w.release();
    await archivedOnce(blockedIds, 'the blocked rows archived after the release');
    expect(await w.stop()).toEqual({ clean: true, errors: [], warnings: [] });
  });

  it('rows whose trace_context was overwritten by hand with garbage run, are archived completed, in traces of their own', async () => {
    const { result: ids, span: imported } = await inSpan('import', () =>
      bus.publishBatch(
        GarbageEvent,
        Array.from({ length: 9 }, (_, n) => ({ n })),
        { delay: 3_600_000 },
      ),
    );
    const send = sendSpan('otel.garbage', imported.traceId).spanContext();
    const traceparent = `00-${send.traceId}-${send.spanId}-01`;
    const garbage = [
      'not json',
      '{"traceparent":"00-zz-yy-01"}',
      '[1,2]',
      '"x"',
      '{"traceparent":"00-00000000000000000000000000000000-0000000000000000-01"}',
      // Right shape, but upper-case hex or version ff: not W3C trace context.
      JSON.stringify({ traceparent: traceparent.toUpperCase() }),
      JSON.stringify({ traceparent: traceparent.replace(/^00/, 'ff') }),
      `{"traceparent":"${traceparent}"`,
      // A valid traceparent in a text longer than any the bus writes.
      JSON.stringify({ traceparent, pad: 'x'.repeat(1000) }),
    ];
    expect(ids).toHaveLength(garbage.length);
    // Until now each row carries the import's context; hand-written UPDATEs replace it, then make the rows due.
    const before = await t.client<{ trace_context: string }[]>`SELECT trace_context FROM bus_events
      WHERE id = ANY(${ids}::int8[])`;
    expect(before.map((r) => JSON.parse(r.trace_context))).toEqual(ids.map(() => ({ traceparent })));
    for (const [i, text] of garbage.entries()) {
      await t.client`UPDATE bus_events SET trace_context = ${text} WHERE id = ${ids[i]!}`;
    }
    // All due at once: the worker claims them together, and on the one slot of `serial` each
    // starts as the run before it ends (a run without a valid parent must not inherit that one).
    await t.client`UPDATE bus_events SET scheduled_at = now() WHERE id = ANY(${ids}::int8[])`;

    const rows = await archivedOnce(ids, 'the garbage rows archived');
    const byId = new Map(ids.map((id, i) => [id, garbage[i]!]));
    for (const row of rows) {
      expect(row).toMatchObject({ status: 'completed', attempts: 1 });
      expect(row.trace_context).toBe(byId.get(row.id));
    }
    const spans = await workerSpans(
      worker,
      (s) => s.name === 'process otel.garbage',
      garbage.length,
      'a process span per garbage row',
    );
    expect(spans.map((s) => s.attributes['messaging.message.id']).sort()).toEqual([...ids].sort());
    // Each in a new trace: no parent, no link, a trace id of its own (not the import's, not another run's).
    const parented = spans
      .filter((s) => s.parentSpanId !== undefined || s.links.length > 0)
      .map((s) => ({
        traceContext: byId.get(String(s.attributes['messaging.message.id'])),
        parent: s.parentSpanId,
      }));
    expect(parented).toEqual([]);
    expect(new Set(spans.map((s) => s.traceId)).size).toBe(garbage.length);
    for (const span of spans) {
      expect(span.traceId).not.toBe(imported.traceId);
      expect(span.attributes['bus.outcome']).toBe('completed');
      expect(span.status.code).not.toBe(SpanStatusCode.ERROR);
    }
  });
});
