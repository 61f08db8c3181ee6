// The OpenTelemetry SDK a bench process registers when its system's opts ask (`otel`), before the
// bus is created, as an app would: `sdk` an SDK that exports nothing (spans are made and
// dropped, metrics aggregated and never read), `memory` in-memory exporters (spans batched, metrics
// read every second). Without `otel` no SDK is registered: the API's no-op.
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, InMemorySpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';

export function registerOtel(mode) {
  const spans = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({
    spanProcessors: mode === 'memory' ? [new BatchSpanProcessor({ exporter: spans })] : [],
  });
  const meterProvider = new MeterProvider({
    readers:
      mode === 'memory'
        ? [
            new PeriodicExportingMetricReader({
              exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
              exportIntervalMillis: 1000,
            }),
          ]
        : [],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  // Keep memory flat over a long drain: the exporter holds every span until reset.
  const timer = setInterval(() => spans.reset(), 5000);
  timer.unref();
}
