import { type Context, context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { CONTRACT_LIMITS } from '../contract/limits.js';

// W3C trace context: version 00, 32 hex trace id and 16 hex span id (not all zeros), flags.
const TRACEPARENT = /^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * The active trace context as the text a row carries in `trace_context` (the propagator's
 * carrier as JSON, e.g. `{"traceparent":"00-…-01"}`), or `null` when no span is active or no
 * propagator is registered (no SDK: the API's no-op), so a publish without tracing writes NULL.
 *
 * @example
 * const traceContext = injectTraceContext(); // inside a request's span
 */
export function injectTraceContext(active: Context = context.active()): string | null {
  if (trace.getSpanContext(active) === undefined) return null;
  const carrier: Record<string, string> = {};
  propagation.inject(active, carrier);
  if (typeof carrier.traceparent !== 'string') return null;
  const text = JSON.stringify(carrier);
  return text.length <= CONTRACT_LIMITS.maxTraceContextChars
    ? text
    : JSON.stringify({ traceparent: carrier.traceparent });
}

/**
 * The publisher's context from a row's `trace_context`, or `undefined` when the row has none or
 * the text is not a valid carrier (written by hand, truncated, another tool's format): a bad
 * value never fails the run, it only starts a new trace.
 *
 * @example
 * const parent = extractTraceContext(row.traceContext);
 */
export function extractTraceContext(text: string | null | undefined): Context | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > CONTRACT_LIMITS.maxTraceContextChars) {
    return undefined;
  }
  let carrier: unknown;
  try {
    carrier = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof carrier !== 'object' || carrier === null || Array.isArray(carrier)) return undefined;
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(carrier)) if (typeof value === 'string') fields[key] = value;
  if (fields.traceparent === undefined || !TRACEPARENT.test(fields.traceparent)) return undefined;
  const extracted = propagation.extract(ROOT_CONTEXT, fields);
  return trace.getSpanContext(extracted) === undefined ? undefined : extracted;
}
