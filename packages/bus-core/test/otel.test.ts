import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, waitFor } from '../../bus-testing/src/index.js';
import { encodePayload } from '../src/codec.js';
import { defineEvent, Registry } from '../src/index.js';
import { QueueGauges } from '../src/otel/metrics.js';
import { histogramCount, pointsOf, registerTestSdk, sumOf } from './otel-sdk.js';
import { archivedRows, handlerClass, makeBus, queue } from './support.js';

let sdk: ReturnType<typeof registerTestSdk>;
beforeAll(() => {
  sdk = registerTestSdk();
});
afterAll(async () => {
  await sdk.shutdown();
});
beforeEach(() => sdk.reset());

describe('OpenTelemetry (memory store, SDK with in-memory exporters)', () => {
  it('a publish inside a request span and its handler run form one trace: send, then process as its child', async () => {
    const store = new MemoryStore();
    const Event = defineEvent<{ n: number }>('otel.signup');
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass('otel.welcome', { queueName: 'q' }, () => {}),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    let requestTraceId = '';
    const [id] = await sdk.tracer.startActiveSpan('POST /signup', async (span) => {
      requestTraceId = span.spanContext().traceId;
      try {
        return await bus.publish(Event, { n: 1 });
      } finally {
        span.end();
      }
    });
    await bus.controller.startWorkers();
    await waitFor(() => sdk.spans().find((s) => s.name === 'process otel.signup'), {
      message: 'process span',
    });
    const send = sdk.spans().find((s) => s.name === 'send otel.signup')!;
    const run = sdk.spans().find((s) => s.name === 'process otel.signup')!;
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.spanContext().traceId).toBe(requestTraceId);
    expect(send.attributes).toMatchObject({
      'messaging.system': 'bus',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'otel.signup',
    });
    expect(run.kind).toBe(SpanKind.CONSUMER);
    expect(run.spanContext().traceId).toBe(requestTraceId);
    expect(run.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
    expect(run.links.map((l) => l.context.spanId)).toEqual([send.spanContext().spanId]);
    expect(run.attributes).toMatchObject({
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': 'q',
      'messaging.message.id': id,
      'bus.handler.name': 'otel.welcome',
      'bus.attempt': 1,
      'bus.outcome': 'completed',
    });
    expect(run.status.code).not.toBe(SpanStatusCode.ERROR);
  });

  it('a retry is a second process span of the same trace, with attempt 2; the failed one has an error status', async () => {
    const store = new MemoryStore();
    const Event = defineEvent<{ n: number }>('otel.flaky');
    const registry = new Registry();
    let runs = 0;
    registry.register(
      Event,
      handlerClass(
        'otel.flaky-handler',
        { queueName: 'q', maxRetries: 2 },
        () => {
          runs++;
          if (runs === 1) throw new Error('first run fails');
        },
        () => 0,
      ),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    await sdk.tracer.startActiveSpan('job', async (span) => {
      await bus.publish(Event, { n: 1 });
      span.end();
    });
    await bus.controller.startWorkers();
    await waitFor(() => sdk.spans().filter((s) => s.name === 'process otel.flaky').length === 2, {
      message: 'two process spans',
    });
    const runsSpans = sdk.spans().filter((s) => s.name === 'process otel.flaky');
    const [first, second] = [...runsSpans].sort(
      (a, b) => Number(a.attributes['bus.attempt']) - Number(b.attributes['bus.attempt']),
    );
    expect(first!.attributes).toMatchObject({ 'bus.attempt': 1, 'bus.outcome': 'retry' });
    expect(first!.status.code).toBe(SpanStatusCode.ERROR);
    expect(first!.events.map((e) => e.name)).toContain('exception');
    const exception = first!.events.find((e) => e.name === 'exception')!;
    expect(exception.attributes).toMatchObject({
      'exception.type': 'Error',
      'exception.message': 'first run fails',
    });
    expect(String(exception.attributes?.['exception.stacktrace'])).toMatch(/otel\.test\.ts/);
    expect(first!.status.message).toBe('first run fails');
    expect(second!.attributes).toMatchObject({ 'bus.attempt': 2, 'bus.outcome': 'completed' });
    expect(second!.spanContext().traceId).toBe(first!.spanContext().traceId);
  });

  it('lines logged about a run carry its trace and span ids', async () => {
    const store = new MemoryStore();
    const Event = defineEvent<{ n: number }>('otel.logged');
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass(
        'otel.logged-handler',
        { queueName: 'q', maxRetries: 1 },
        () => {
          throw new Error('logged failure');
        },
        () => 0,
      ),
    );
    const lines: { message: string; fields?: Record<string, unknown> }[] = [];
    const push = (message: string, fields?: Record<string, unknown>) => void lines.push({ message, fields });
    const bus = await makeBus({
      store,
      registry,
      queues: [queue('q')],
      logger: { debug: push, info: push, warn: push, error: push },
    });
    await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    await waitFor(() => lines.find((l) => l.message === 'row failed for good'), {
      message: 'the failure logged',
    });
    const retry = lines.find((l) => l.message === 'attempt failed; will retry')!;
    const run = sdk
      .spans()
      .find((s) => s.name === 'process otel.logged' && s.attributes['bus.attempt'] === 1)!;
    expect(retry.fields).toMatchObject({
      trace_id: run.spanContext().traceId,
      span_id: run.spanContext().spanId,
    });
    expect(lines.find((l) => l.message === 'workers started')?.fields?.trace_id).toBeUndefined();
  });

  it('a publish in a transaction that rolls back leaves no process span', async () => {
    const store = new MemoryStore();
    const Event = defineEvent<{ n: number }>('otel.rolled-back');
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass('otel.rb', { queueName: 'q' }, () => {}),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q')] });
    await expect(
      store.transaction(async (tx) => {
        await bus.publishTxn(tx, Event, { n: 1 });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    const Marker = defineEvent<{ n: number }>('otel.marker');
    registry.register(
      Marker,
      handlerClass('otel.marker-handler', { queueName: 'q' }, () => {}),
    );
    await bus.publish(Marker, { n: 2 });
    await bus.controller.startWorkers();
    await waitFor(() => sdk.spans().find((s) => s.name === 'process otel.marker'), { message: 'marker ran' });
    expect(sdk.spans().filter((s) => s.name === 'process otel.rolled-back')).toEqual([]);
  });

  it('a row with a malformed trace context (written by hand) runs, in a new trace', async () => {
    const store = new MemoryStore();
    const Event = defineEvent<{ n: number }>('otel.garbage');
    const registry = new Registry();
    let ran = 0;
    registry.register(
      Event,
      handlerClass('otel.garbage-handler', { queueName: 'q' }, () => void ran++),
    );
    // One slot: each row starts from the end of the previous run, inside its span's context.
    const bus = await makeBus({ store, registry, queues: [queue('q', { workers: 1, batchSize: 5 })] });
    const texts = [
      null,
      'not json',
      null,
      '{"traceparent":"00-zz-yy-01"}',
      '[1,2]',
      '{"traceparent":"00-00000000000000000000000000000000-0000000000000000-01"}',
      '"x"',
    ];
    await store.insert({
      rows: texts.map((traceContext) => ({
        queue: 'q',
        eventName: 'otel.garbage',
        handlerName: 'otel.garbage-handler',
        payload: encodePayload({ n: 1 }),
        maxRetries: 0,
        priority: 0,
        due: 0,
        traceContext,
      })),
    });
    await bus.controller.startWorkers();
    await waitFor(() => archivedRows(store).then((rows) => rows.length === texts.length), {
      message: 'all archived',
    });
    expect(ran).toBe(texts.length);
    expect((await archivedRows(store)).every((r) => r.status === 'completed')).toBe(true);
    const spans = sdk.spans().filter((s) => s.name === 'process otel.garbage');
    expect(spans).toHaveLength(texts.length);
    for (const span of spans) expect(span.parentSpanContext).toBeUndefined();
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(texts.length);
  });

  it('metrics after a drain of N rows: N published, started and completed, N durations; gauges report depth', async () => {
    const store = new MemoryStore();
    const Event = defineEvent<{ n: number }>('otel.metrics');
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass('otel.metrics-handler', { queueName: 'mq' }, () => {}),
    );
    const Waiting = defineEvent<{ n: number }>('otel.waiting');
    registry.register(
      Waiting,
      handlerClass('otel.waiting-handler', { queueName: 'idle' }, () => {}),
    );
    const bus = await makeBus({ store, registry, queues: [queue('mq'), queue('idle')] });
    const N = 25;
    const before = await sdk.collect();
    const base = sumOf(before, 'bus.runs', {
      'messaging.consumer.group.name': 'mq',
      'bus.outcome': 'completed',
    });
    await bus.publishBatch(
      Event,
      Array.from({ length: N }, (_, n) => ({ n })),
    );
    await bus.publishBatch(Waiting, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    await bus.controller.startWorkers({ queues: ['mq'] });
    await waitFor(
      async () => (await bus.inspect.counts()).find((c) => c.queue === 'mq')?.archivedCompleted === N,
      {
        message: 'drained',
      },
    );
    await waitFor(
      async () =>
        sumOf(await sdk.collect(), 'bus.runs', {
          'messaging.consumer.group.name': 'mq',
          'bus.outcome': 'completed',
        }) -
          base ===
        N,
      { message: 'N completed runs counted' },
    );
    const after = await sdk.collect();
    const where = { 'messaging.consumer.group.name': 'mq', 'messaging.destination.name': 'otel.metrics' };
    expect(sumOf(after, 'messaging.client.sent.messages', where)).toBe(N);
    expect(sumOf(after, 'messaging.client.consumed.messages', where)).toBe(N);
    expect(histogramCount(after, 'messaging.process.duration', where)).toBe(N);
    expect(histogramCount(after, 'bus.claim_to_start.duration', where)).toBe(N);
    expect(histogramCount(after, 'bus.publish_to_start.duration', where)).toBe(N);
    expect(sumOf(after, 'messaging.client.sent.messages', { 'messaging.consumer.group.name': 'idle' })).toBe(
      3,
    );
    await bus.controller.awaitTerminationWithTimeout(2000);
  });

  it('queue gauges: a slow count spaces out the next one (at most a tenth of the time counting)', async () => {
    let reads = 0;
    const readMs = 200;
    const gauges = new QueueGauges(
      ['q'],
      async () => {
        reads += 1;
        await new Promise((resolve) => setTimeout(resolve, readMs));
        return { counts: [], now: new Date() };
      },
      50,
      (error) => {
        throw error;
      },
    );
    try {
      await gauges.refresh();
      const counted = Date.now();
      // Collections every 50 ms for a second, well past the 50 ms interval: no new count before
      // 9 × 200 ms (COUNT_SPACING).
      while (Date.now() - counted < 1000) {
        await sdk.collect();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(reads).toBe(1);
      await waitFor(
        async () => {
          await sdk.collect();
          return reads === 2;
        },
        { message: 'the next count once the spacing has passed', timeoutMs: 5000, intervalMs: 50 },
      );
    } finally {
      gauges.close();
    }
  });

  it('queue gauges: depth by state and the oldest ready row age, for the queues this process works', async () => {
    const store = new MemoryStore();
    const Event = defineEvent<{ n: number }>('otel.depth');
    const registry = new Registry();
    let release: () => void = () => {};
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    registry.register(
      Event,
      handlerClass('otel.depth-handler', { queueName: 'deep' }, () => blocked),
    );
    const bus = await makeBus({
      store,
      registry,
      queues: [queue('deep', { workers: 1, batchSize: 1, prefetch: 0 }), queue('unworked')],
    });
    await bus.publishBatch(Event, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    await bus.publish(Event, { n: 5 }, { delay: 600_000 });
    await bus.controller.startWorkers({ queues: ['deep'] });
    const gauge = async (name: string, state?: string) => {
      const points = pointsOf(await sdk.collect(), name).filter(
        (p) =>
          p.attributes['messaging.consumer.group.name'] === 'deep' &&
          (state === undefined || p.attributes['bus.state'] === state),
      );
      return points.at(-1)?.value;
    };
    // One row runs (blocked), three wait, one is due in ten minutes.
    await waitFor(
      async () =>
        (await gauge('bus.queue.depth', 'running')) === 1 &&
        (await gauge('bus.queue.depth', 'available')) === 3,
      { message: 'the gauges to show 1 running and 3 available', timeoutMs: 20_000 },
    );
    expect(await gauge('bus.queue.depth', 'scheduled')).toBe(1);
    expect(await gauge('bus.queue.oldest_ready_age')).toBeGreaterThanOrEqual(0);
    const unworked = pointsOf(await sdk.collect(), 'bus.queue.depth').filter(
      (p) => p.attributes['messaging.consumer.group.name'] === 'unworked',
    );
    expect(unworked).toEqual([]);
    release();
    await bus.controller.awaitTerminationWithTimeout(2000);
  });
});
