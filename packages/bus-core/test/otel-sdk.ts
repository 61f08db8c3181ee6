import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  type DataPoint,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';

/** A metric reader a test collects on demand. */
class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/**
 * The OpenTelemetry SDK registered globally with in-memory exporters, as a user's app would
 * register its own: spans land in `spans()`, metrics in `collect()`. Used by the telemetry tests
 * of bus-core and of both drivers (worker processes register it too).
 */
export function registerTestSdk() {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  return {
    tracer: trace.getTracer('test'),
    spans: (): ReadableSpan[] => exporter.getFinishedSpans(),
    reset: () => exporter.reset(),
    async collect(): Promise<ResourceMetrics> {
      const { resourceMetrics } = await reader.collect();
      return resourceMetrics;
    },
    async shutdown(): Promise<void> {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/** The data points of metric `name` in a collection, with their attributes. */
export function pointsOf(collected: ResourceMetrics, name: string): DataPoint<unknown>[] {
  const points: DataPoint<unknown>[] = [];
  for (const scope of collected.scopeMetrics) {
    for (const metric of scope.metrics)
      if (metric.descriptor.name === name) points.push(...(metric.dataPoints as DataPoint<unknown>[]));
  }
  return points;
}

/** The sum of a counter's points whose attributes include `where`. */
export function sumOf(collected: ResourceMetrics, name: string, where: Record<string, unknown> = {}): number {
  return pointsOf(collected, name)
    .filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + (typeof p.value === 'number' ? p.value : 0), 0);
}

/** The total count of a histogram's points whose attributes include `where`. */
export function histogramCount(
  collected: ResourceMetrics,
  name: string,
  where: Record<string, unknown> = {},
): number {
  return pointsOf(collected, name)
    .filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + ((p.value as { count?: number }).count ?? 0), 0);
}
