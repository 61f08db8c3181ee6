import type { QueueStore } from './contract/store.js';
import { BusError } from './errors.js';
import { consoleLogger, type Logger } from './logger.js';
import { correlatedLogger } from './otel/log-correlation.js';
import { type QueueConfig, type ResolvedQueueConfig, validateQueueConfigs } from './queue-config.js';
import { globalRegistry, type Registry } from './registry.js';
import { noTelemetry, type Telemetry } from './telemetry.js';

/** Options of `createBus`. */
export interface BusOptions<TTx> {
  /** The driver: `postgresStore(db)`, `mysqlStore(db)` or bus-testing's `memoryStore()`. */
  store: QueueStore<TTx>;
  /** One configuration per queue that handlers use. */
  queues: QueueConfig[];
  /** Where handlers are looked up; decorated handlers land in `globalRegistry` (the default). */
  registry?: Registry;
  /**
   * Where bus reports claim, settle and handler failures. The default, `consoleLogger('warn')`,
   * prints errors and warnings one line each; `silentLogger` is the explicit way to drop them.
   */
  logger?: Logger;
  /** Hooks for metrics: told about every settled attempt and every rescue. */
  telemetry?: Telemetry;
  /** Ms between lease-expiry rescues (default 15 s); bounds how long a dead worker's rows wait. */
  rescueInterval?: number;
  /** Delete archive rows older than this many ms (default: keep them). */
  archiveRetention?: number | null;
  /** Identifies this process in `locked_by`; defaults to host, pid and a random suffix. */
  workerId?: string;
}

/** `BusOptions` checked, with defaults applied. */
export interface ResolvedBusOptions<TTx> {
  store: QueueStore<TTx>;
  queues: readonly ResolvedQueueConfig[];
  registry: Registry;
  logger: Logger;
  telemetry: Telemetry;
  rescueInterval: number;
  retention: number | null;
  workerId: string;
}

/**
 * Checks every option of `createBus` at once, so a bad configuration fails at start-up with an
 * `INVALID_CONFIG` that names the field, and applies the defaults.
 *
 * @example
 * const resolved = resolveBusOptions({ store, queues });
 */
export function resolveBusOptions<TTx>(options: BusOptions<TTx>): ResolvedBusOptions<TTx> {
  if (typeof options !== 'object' || options === null) {
    throw new BusError('INVALID_CONFIG', 'createBus needs an options object', { value: options });
  }
  const store = options.store;
  if (
    typeof store !== 'object' ||
    store === null ||
    typeof store.claim !== 'function' ||
    typeof store.listExpired !== 'function' ||
    typeof store.inspect !== 'object'
  ) {
    throw new BusError(
      'INVALID_CONFIG',
      'options.store must be a QueueStore of this bus-core version (a driver built for an older bus-core lacks listExpired and inspect)',
      { value: store },
    );
  }
  if ((options as { jsonPayload?: unknown }).jsonPayload !== undefined) {
    throw new BusError(
      'INVALID_CONFIG',
      'jsonPayload is an option of the store now (the JSON column is a table detail): postgresStore(db, { jsonPayload: true }) or mysqlStore(db, { jsonPayload: true })',
      { value: 'jsonPayload' },
    );
  }
  const logger = options.logger === undefined ? consoleLogger('warn') : options.logger;
  if (
    typeof logger !== 'object' ||
    logger === null ||
    (['debug', 'info', 'warn', 'error'] as const).some((level) => typeof logger[level] !== 'function')
  ) {
    throw new BusError(
      'INVALID_CONFIG',
      'logger must be an object with debug, info, warn and error functions',
      {
        value: logger,
      },
    );
  }
  const rescueInterval = options.rescueInterval ?? 15_000;
  if (!Number.isInteger(rescueInterval) || rescueInterval < 10 || rescueInterval > 3_600_000) {
    throw new BusError(
      'INVALID_CONFIG',
      `rescueInterval must be an integer from 10 to 3600000 ms (got ${rescueInterval})`,
      {
        value: rescueInterval,
      },
    );
  }
  const retention = options.archiveRetention ?? null;
  if (retention !== null && (!Number.isInteger(retention) || retention < 1000)) {
    throw new BusError(
      'INVALID_CONFIG',
      `archiveRetention must be null or an integer >= 1000 ms (got ${retention})`,
      {
        value: retention,
      },
    );
  }
  const telemetry = options.telemetry ?? noTelemetry;
  if (
    typeof telemetry !== 'object' ||
    (telemetry.settled !== undefined && typeof telemetry.settled !== 'function') ||
    (telemetry.rescued !== undefined && typeof telemetry.rescued !== 'function')
  ) {
    throw new BusError('INVALID_CONFIG', 'telemetry must be an object whose settled/rescued are functions', {
      value: telemetry,
    });
  }
  const workerId = options.workerId ?? defaultWorkerId();
  if (typeof workerId !== 'string' || workerId.length === 0 || workerId.length > 200) {
    throw new BusError('INVALID_CONFIG', 'workerId must be a string of 1-200 characters', {
      value: workerId,
    });
  }
  return {
    store,
    queues: validateQueueConfigs(options.queues),
    registry: options.registry ?? globalRegistry,
    // Trace and span ids join the fields of lines logged inside a run or a publish.
    logger: correlatedLogger(logger),
    telemetry,
    rescueInterval,
    retention,
    workerId,
  };
}

function defaultWorkerId(): string {
  const host = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
    ?.HOSTNAME;
  const pid = (globalThis as { process?: { pid?: number } }).process?.pid ?? 0;
  return `${host ?? 'worker'}:${pid}:${crypto.randomUUID().slice(0, 8)}`;
}
