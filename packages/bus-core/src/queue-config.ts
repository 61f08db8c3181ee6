import { type ArchivePolicy, assertArchivePolicy } from './archive-policy.js';
import type { StoredLimits } from './contract/flow.js';
import { BusError } from './errors.js';
import { type QueueLimits, storedLimitsOf } from './flow/limits.js';
import { assertQueueName } from './handler.js';

/** Per-queue worker configuration (the guide's `DatabaseQueueConfiguration`). */
export interface QueueConfig {
  queueName: string;
  /** Handlers of this queue running at once in this process. */
  workers: number;
  /** Rows claimed per round trip at most. */
  batchSize: number;
  /** Milliseconds an idle queue waits before polling again (wake-ups cut it short). */
  sleepInterval: number;
  archivePolicy: ArchivePolicy;
  /** Lease length in ms (default 30 s); heartbeats renew it every third of it. */
  leaseDuration?: number;
  /**
   * Rows this process may hold claimed ahead of its free handler slots, handed to slots from
   * memory so that a claim is not needed per free slot (graphile-worker's `localQueue`).
   * `'auto'` (the default) holds about 100 ms of work at the handlers' measured speed, at most
   * two batches: whole batches for fast handlers, none for slow ones, whose rows would
   * otherwise wait here while another process sits idle. A number fixes it; `0` claims only for
   * free slots.
   */
  prefetch?: number | 'auto';
  /**
   * Flow-control limits held across every process (docs/flow-control.md), written to the
   * database when this process starts with limits that differ from the stored configuration's;
   * `bus.admin.setLimits` changes them at run time.
   */
  limits?: QueueLimits;
}

/** A queue config with defaults applied (`limits`: the stored form, `null` when not configured). */
export type ResolvedQueueConfig = Required<Omit<QueueConfig, 'limits'>> & { limits: StoredLimits | null };

/** Upper bounds that keep one process and one claim statement sane. */
export const QUEUE_LIMITS = Object.freeze({
  maxWorkers: 10_000,
  maxBatchSize: 1_000,
  maxSleepInterval: 86_400_000,
  minLeaseDuration: 1_000,
  maxLeaseDuration: 86_400_000,
  defaultLeaseDuration: 30_000,
  maxPrefetch: 10_000,
});

function integerIn(queue: string, field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new BusError(
      'INVALID_QUEUE_CONFIG',
      `queue ${queue}: ${field} must be an integer from ${min} to ${max} (got ${String(value)})`,
      { value },
    );
  }
  return value;
}

// Every option of QueueConfig, so an unknown one is refused.
const QUEUE_CONFIG_KEYS: ReadonlySet<string> = new Set<keyof QueueConfig>([
  'queueName',
  'workers',
  'batchSize',
  'sleepInterval',
  'archivePolicy',
  'leaseDuration',
  'prefetch',
  'limits',
]);

/**
 * Validates queue configurations at start-up: every field in range, names unique.
 *
 * @example
 * validateQueueConfigs([{ queueName: 'email', workers: 5, batchSize: 5, sleepInterval: 60_000, archivePolicy: 'failed' }]);
 */
export function validateQueueConfigs(configs: unknown): ResolvedQueueConfig[] {
  if (!Array.isArray(configs)) {
    throw new BusError('INVALID_CONFIG', 'queues must be an array of queue configurations', {
      value: configs,
    });
  }
  const seen = new Set<string>();
  return configs.map((raw: unknown) => {
    if (typeof raw !== 'object' || raw === null) {
      throw new BusError('INVALID_QUEUE_CONFIG', 'each queue configuration must be an object', {
        value: raw,
      });
    }
    const c = raw as Record<string, unknown>;
    assertQueueName(c.queueName, 'INVALID_QUEUE_CONFIG');
    const name = c.queueName as string;
    // A misspelt option (`sleepIntervall`, `concurrency`) would otherwise be ignored in silence.
    const unknown = Object.keys(c).filter((key) => !QUEUE_CONFIG_KEYS.has(key));
    if (unknown.length > 0) {
      throw new BusError(
        'INVALID_QUEUE_CONFIG',
        `queue ${name}: unknown option ${unknown.map((k) => JSON.stringify(k)).join(', ')} (the options are ${[...QUEUE_CONFIG_KEYS].join(', ')})`,
        { value: unknown },
      );
    }
    if (seen.has(name)) {
      throw new BusError('DUPLICATE_QUEUE', `queue ${name} is configured twice`, { value: name });
    }
    seen.add(name);
    assertArchivePolicy(c.archivePolicy, name);
    return {
      queueName: name,
      workers: integerIn(name, 'workers', c.workers, 1, QUEUE_LIMITS.maxWorkers),
      batchSize: integerIn(name, 'batchSize', c.batchSize, 1, QUEUE_LIMITS.maxBatchSize),
      sleepInterval: integerIn(name, 'sleepInterval', c.sleepInterval, 0, QUEUE_LIMITS.maxSleepInterval),
      archivePolicy: c.archivePolicy as ArchivePolicy,
      leaseDuration: integerIn(
        name,
        'leaseDuration',
        c.leaseDuration ?? QUEUE_LIMITS.defaultLeaseDuration,
        QUEUE_LIMITS.minLeaseDuration,
        QUEUE_LIMITS.maxLeaseDuration,
      ),
      prefetch:
        c.prefetch === undefined || c.prefetch === 'auto'
          ? 'auto'
          : integerIn(name, 'prefetch', c.prefetch, 0, QUEUE_LIMITS.maxPrefetch),
      limits: c.limits === undefined ? null : storedLimitsOf(name, c.limits),
    };
  });
}
