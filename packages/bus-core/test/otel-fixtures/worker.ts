// The worker process of both drivers' telemetry tests, bundled by process.ts (from source) and
// run with plain `node`. It registers its own OpenTelemetry SDK with in-memory exporters (the
// harness bus-core's tests use), works the queues of BUS_OTEL_WORKER, and answers the test's IPC
// requests with its finished spans and its collected metrics. Each driver's fixtures/otel-worker.ts
// calls runOtelWorker with its store.
import { createBus, type Logger, type QueueStore, Registry } from '../../src/index.js';
import { registerTestSdk } from '../otel-sdk.js';
import {
  HANDLERS,
  handlerClass,
  type MetricsRecord,
  type OtelReply,
  type OtelRequest,
  type OtelWorkerConfig,
  QUEUES,
  type SpanRecord,
} from './protocol.js';

const send = (message: OtelReply) => process.send?.(message);

/** A driver's store for the worker process, and how to close its connections. */
export interface OtelWorkerStore {
  store: QueueStore<any>;
  close(): Promise<void>;
}

/**
 * The worker process's body, the same for every driver: `open` makes the driver's store from the
 * configuration the test passed (BUS_OTEL_WORKER).
 */
export function runOtelWorker(open: (config: OtelWorkerConfig) => OtelWorkerStore): void {
  main(open).catch((error) => {
    console.error('otel worker failed', error);
    process.exit(1);
  });
}

async function main(open: (config: OtelWorkerConfig) => OtelWorkerStore): Promise<void> {
  // Before the bus exists, as an app registers its SDK first.
  const sdk = registerTestSdk();
  const config = JSON.parse(process.env.BUS_OTEL_WORKER ?? '{}') as OtelWorkerConfig;
  const { store, close } = open(config);
  // Counts the gauges' reads, so the test sees how often a collection queried the database: the
  // bus gets the store behind proxies whose inspect.countByQueue counts. The proxies forward to
  // the store's own objects (frozen, with private fields), methods bound to them.
  let countReads = 0;
  const forward = <T extends object>(target: T, own: Record<string | symbol, unknown>): T =>
    new Proxy({} as T, {
      get(_, key) {
        if (key in own) return own[key];
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
      has: (_, key) => key in own || key in target,
    });
  const inspect = forward(store.inspect, {
    countByQueue: () => {
      countReads++;
      return store.inspect.countByQueue();
    },
  });
  const counted = forward(store, { inspect });

  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const registry = new Registry();
  registry.register(
    HANDLERS.signup.event,
    handlerClass(HANDLERS.signup, () => {
      // A span the handler starts: a child of its process span.
      sdk.tracer.startSpan('send welcome email').end();
    }),
  );
  registry.register(
    HANDLERS.flaky.event,
    handlerClass(HANDLERS.flaky, (_payload, ctx) => {
      if (ctx.attempt === 1) throw new Error('first attempt fails');
    }),
  );
  registry.register(
    HANDLERS.blocked.event,
    handlerClass(HANDLERS.blocked, async (_payload, ctx) => {
      send({ type: 'blocked', eventId: ctx.id });
      await released;
    }),
  );
  for (const spec of [HANDLERS.rolledBack, HANDLERS.marker, HANDLERS.garbage, HANDLERS.drain, HANDLERS.later])
    registry.register(spec.event, handlerClass(spec));

  const errors: string[] = [];
  const warnings: string[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (message, fields) => void warnings.push(`${message} ${JSON.stringify(fields ?? {})}`),
    error: (message, fields) => void errors.push(`${message} ${JSON.stringify(fields ?? {})}`),
  };
  const bus = createBus({
    store: counted,
    registry,
    logger,
    rescueInterval: 500,
    workerId: `otel-${process.pid}`,
    queues: QUEUES,
  });
  await bus.init();
  await bus.controller.startWorkers({ queues: config.queues });

  const spans = (): SpanRecord[] =>
    sdk.spans().map((s) => ({
      name: s.name,
      kind: s.kind,
      traceId: s.spanContext().traceId,
      spanId: s.spanContext().spanId,
      parentSpanId: s.parentSpanContext?.spanId,
      attributes: { ...s.attributes },
      links: s.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId })),
      status: {
        code: s.status.code,
        ...(s.status.message === undefined ? {} : { message: s.status.message }),
      },
      events: s.events.map((e) => e.name),
    }));
  const metrics = async (): Promise<MetricsRecord> => {
    const collected = await sdk.collect();
    return {
      scopeMetrics: collected.scopeMetrics.map((scope) => ({
        metrics: scope.metrics.map((metric) => ({
          descriptor: { name: metric.descriptor.name },
          dataPoints: metric.dataPoints.map((p) => ({ attributes: { ...p.attributes }, value: p.value })),
        })),
      })),
    };
  };

  process.on('message', async (request: OtelRequest) => {
    switch (request?.type) {
      case 'spans':
        send({ type: 'spans', id: request.id, spans: spans() });
        break;
      case 'metrics':
        send({ type: 'metrics', id: request.id, metrics: await metrics(), countReads, warnings });
        break;
      case 'release':
        release();
        send({ type: 'release', id: request.id });
        break;
      case 'stop': {
        release();
        bus.controller.shutdown();
        const clean = await bus.controller.awaitTerminationWithTimeout(10_000);
        await sdk.shutdown();
        await close();
        process.send?.({ type: 'stop', id: request.id, clean, errors, warnings } satisfies OtelReply, () =>
          process.exit(0),
        );
        break;
      }
    }
  });
  // The test process went away without stopping this one (killed, crashed): do not linger.
  process.once('disconnect', () => process.exit(2));
  send({ type: 'ready', pid: process.pid });
}
