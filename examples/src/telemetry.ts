// telemetry.ts: load it before anything else (`node --import ./dist/telemetry.js dist/main.js`),
// so the SDK is registered before the first publish. bus itself only uses @opentelemetry/api.
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';

const sdk = new NodeSDK({
  serviceName: 'signup-service',
  // OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318) says where both go.
  traceExporter: new OTLPTraceExporter(),
  metricReaders: [new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter() })],
});
sdk.start();

process.once('SIGTERM', () => {
  void sdk.shutdown();
});
