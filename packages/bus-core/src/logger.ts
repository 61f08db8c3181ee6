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

/** The default logger: says nothing, so a library never writes to stdout unasked. */
export const silentLogger: Logger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

/**
 * A logger that writes to the console, for apps without a logging library.
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
      console[name](`[bus] ${message}`, fields ?? '');
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
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
