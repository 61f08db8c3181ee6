import { trace } from '@opentelemetry/api';
import type { LogFields, Logger } from '../logger.js';

/**
 * The bus's logger with `trace_id` and `span_id` added to the fields of every line written while
 * a sampled span is active (a handler run, a publish), so logs and traces join in the backend.
 * Without an SDK no span is ever active and the fields are left alone.
 *
 * @example
 * const logger = correlatedLogger(consoleLogger('warn'));
 */
export function correlatedLogger(logger: Logger): Logger {
  const withTrace = (fields: LogFields | undefined): LogFields | undefined => {
    const span = trace.getActiveSpan()?.spanContext();
    if (span === undefined || !trace.isSpanContextValid(span)) return fields;
    return { ...fields, trace_id: span.traceId, span_id: span.spanId };
  };
  return {
    debug: (message, fields) => logger.debug(message, withTrace(fields)),
    info: (message, fields) => logger.info(message, withTrace(fields)),
    warn: (message, fields) => logger.warn(message, withTrace(fields)),
    error: (message, fields) => logger.error(message, withTrace(fields)),
  };
}
