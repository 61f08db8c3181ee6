import { firstLine } from './errors.js';

/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/**
 * The logging seam: four methods taking a message and fields. pino's and console's methods fit
 * it (pino wants `(fields, msg)`: wrap it with `pinoLogger`).
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** A logger that says nothing: pass it as `logger` when even errors must not be printed. */
export const silentLogger: Logger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

/**
 * A logger that writes one line per message to the console, for apps without a logging library.
 * The default logger of a bus is `consoleLogger('warn')`: errors and warnings are never silent.
 *
 * @example
 * createBus({ store, queues, logger: consoleLogger('info') });
 */
export function consoleLogger(level: 'debug' | 'info' | 'warn' | 'error' = 'info'): Logger {
  const order = ['debug', 'info', 'warn', 'error'];
  const min = order.indexOf(level);
  const at =
    (name: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, fields?: LogFields): void => {
      if (order.indexOf(name) < min) return;
      console[name](`[bus] ${message}${formatFields(fields)}`);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

// ` key=value …` on one line: a stack trace shows its first line (the error's message), so one
// failure is one line in a terminal or a log collector.
function formatFields(fields: LogFields | undefined): string {
  if (fields === undefined) return '';
  let text = '';
  for (const [key, value] of Object.entries(fields)) {
    let shown: string;
    if (typeof value === 'string') shown = value.split('\n', 1)[0]!;
    else if (value instanceof Error) shown = firstLine(value);
    else {
      try {
        shown = JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(value);
      } catch {
        shown = String(value);
      }
    }
    text += ` ${key}=${shown}`;
  }
  return text;
}

/** The part of pino's interface bus needs. */
export interface PinoLike {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Adapts a pino logger (fields first) to bus's `Logger`.
 *
 * @example
 * createBus({ store, queues, logger: pinoLogger(pino()) });
 */
export function pinoLogger(pino: PinoLike): Logger {
  return {
    debug: (m, f) => pino.debug(f ?? {}, m),
    info: (m, f) => pino.info(f ?? {}, m),
    warn: (m, f) => pino.warn(f ?? {}, m),
    error: (m, f) => pino.error(f ?? {}, m),
  };
}
