import {
  type Attributes,
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { ClaimedEvent } from '../contract/claim.js';
import { extractTraceContext, injectTraceContext } from './propagation.js';

/** The tracer of bus; the user's SDK (or none: the API's no-op) decides where spans go. */
const tracer = trace.getTracer('bus');

/** The messaging system name in every span and metric attribute set (semantic conventions). */
export const MESSAGING_SYSTEM = 'bus';

/**
 * Runs a publish inside its `send` span (producer; `messaging.destination.name` = the event),
 * giving `fn` the trace context to write into each row: the handler runs of these rows become
 * children of this span. A failed publish ends the span with an error status.
 *
 * @example
 * await publishSpan('user.signed-up', 1, (traceContext) => store.insert({ rows }));
 */
export async function publishSpan<T>(
  eventName: string,
  messages: number,
  fn: (traceContext: string | null) => Promise<T>,
): Promise<T> {
  const attributes: Attributes = {
    'messaging.system': MESSAGING_SYSTEM,
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'publish',
    'messaging.destination.name': eventName,
  };
  if (messages !== 1) attributes['messaging.batch.message_count'] = messages;
  return tracer.startActiveSpan(
    `send ${eventName}`,
    { kind: SpanKind.PRODUCER, attributes },
    async (span) => {
      try {
        return await fn(injectTraceContext());
      } catch (error) {
        fail(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/**
 * Runs one attempt of a row inside its `process` span (consumer): a child of the publishing
 * span carried in the row (same trace), with a link to it as the conventions ask for messages,
 * and the attempt number, so each retry is a span of its own in that trace.
 *
 * @example
 * const result = await processSpan(row, (span) => runAttempt(held, deps));
 */
export function processSpan<T>(row: ClaimedEvent, fn: (span: Span) => Promise<T>): Promise<T> {
  // Without a valid parent, the root: the context active here is whatever started this run (the
  // previous run's span, when a freed slot takes the next row), and must not become its parent.
  const parent = extractTraceContext(row.traceContext) ?? ROOT_CONTEXT;
  const parentSpan = trace.getSpanContext(parent);
  const span = tracer.startSpan(
    `process ${row.eventName}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': MESSAGING_SYSTEM,
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': row.eventName,
        'messaging.consumer.group.name': row.queue,
        'messaging.message.id': row.id,
        'bus.handler.name': row.handlerName,
        'bus.attempt': row.attempts,
      },
      links: parentSpan === undefined ? [] : [{ context: parentSpan }],
    },
    parent,
  );
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await fn(span);
    } catch (error) {
      // `fn` ends the span when it returns; a throw (never expected) must not leave it open.
      fail(span, error);
      span.end();
      throw error;
    }
  });
}

/** Marks a span failed with the error (`exception` event and error status). */
export function fail(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message.split('\n', 1)[0] : String(error),
  });
}
