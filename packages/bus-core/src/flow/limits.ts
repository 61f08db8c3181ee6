import type { StoredLimits } from '../contract/flow.js';
import { BusError } from '../errors.js';

/** A rate: at most `limit` starts in any sliding window of `periodMs`. */
export interface RateLimit {
  /** Starts per window at most: an integer from 1 to 1,000,000. */
  limit: number;
  /** The window in ms: an integer from 1 to 86,400,000 (a day). */
  periodMs: number;
}

/**
 * Flow-control limits of one queue, held across every process (docs/flow-control.md). Set them in
 * the queue configuration (`QueueConfig.limits`) or at run time (`bus.admin.setLimits`).
 */
export interface QueueLimits {
  /** Rows of the queue running at once across all processes at most. */
  concurrency?: number;
  /** Rows of one partition key running at once at most; `1` runs each key's rows one at a time. */
  keyConcurrency?: number;
  /** Starts of the queue's rows per sliding window at most. */
  rate?: RateLimit;
  /** Starts of one partition key's rows per sliding window at most. */
  keyRate?: RateLimit;
  /** Take rows round-robin across partition keys (implied by `keyConcurrency` and `keyRate`). */
  fair?: boolean;
}

/** The bounds of every limit. */
export const FLOW_LIMITS = Object.freeze({
  maxConcurrency: 1_000_000,
  maxRate: 1_000_000,
  maxRatePeriodMs: 86_400_000,
});

const KEYS: ReadonlySet<string> = new Set<keyof QueueLimits>([
  'concurrency',
  'keyConcurrency',
  'rate',
  'keyRate',
  'fair',
]);

function count(queue: string, field: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new BusError(
      'INVALID_LIMITS',
      `queue ${queue}: limits.${field} must be an integer from 1 to ${max} (got ${String(value)})`,
      { value },
    );
  }
  return value;
}

function rate(queue: string, field: string, value: unknown): [number, number] {
  if (typeof value !== 'object' || value === null) {
    throw new BusError('INVALID_LIMITS', `queue ${queue}: limits.${field} must be { limit, periodMs }`, {
      value,
    });
  }
  const r = value as Record<string, unknown>;
  const extra = Object.keys(r).filter((k) => k !== 'limit' && k !== 'periodMs');
  if (extra.length > 0) {
    throw new BusError(
      'INVALID_LIMITS',
      `queue ${queue}: limits.${field} has unknown option ${extra.join(', ')}`,
      {
        value,
      },
    );
  }
  return [
    count(queue, `${field}.limit`, r.limit, FLOW_LIMITS.maxRate),
    count(queue, `${field}.periodMs`, r.periodMs, FLOW_LIMITS.maxRatePeriodMs),
  ];
}

/**
 * Checks limits from a queue configuration or an operator and turns them into the stored form;
 * a bad value is `INVALID_LIMITS` naming the queue and the field.
 *
 * @example
 * storedLimitsOf('mail', { concurrency: 5, rate: { limit: 50, periodMs: 30_000 } });
 */
export function storedLimitsOf(queue: string, limits: unknown): StoredLimits {
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) {
    throw new BusError('INVALID_LIMITS', `queue ${queue}: limits must be an object`, { value: limits });
  }
  const l = limits as Record<string, unknown>;
  const unknown = Object.keys(l).filter((k) => !KEYS.has(k));
  if (unknown.length > 0) {
    throw new BusError(
      'INVALID_LIMITS',
      `queue ${queue}: unknown limit ${unknown.map((k) => JSON.stringify(k)).join(', ')} (the limits are ${[...KEYS].join(', ')})`,
      { value: unknown },
    );
  }
  if (l.fair !== undefined && typeof l.fair !== 'boolean') {
    throw new BusError('INVALID_LIMITS', `queue ${queue}: limits.fair must be a boolean`, { value: l.fair });
  }
  const [rateLimit, ratePeriodMs] = l.rate === undefined ? [null, null] : rate(queue, 'rate', l.rate);
  const [keyRateLimit, keyRatePeriodMs] =
    l.keyRate === undefined ? [null, null] : rate(queue, 'keyRate', l.keyRate);
  return {
    concurrency:
      l.concurrency === undefined
        ? null
        : count(queue, 'concurrency', l.concurrency, FLOW_LIMITS.maxConcurrency),
    keyConcurrency:
      l.keyConcurrency === undefined
        ? null
        : count(queue, 'keyConcurrency', l.keyConcurrency, FLOW_LIMITS.maxConcurrency),
    rateLimit,
    ratePeriodMs,
    keyRateLimit,
    keyRatePeriodMs,
    fair: l.fair === true,
  };
}

/**
 * The public form of stored limits (what `bus.admin.limits()` shows).
 *
 * @example
 * queueLimitsOf(storedLimitsOf('mail', { concurrency: 5 })); // { concurrency: 5 }
 */
export function queueLimitsOf(stored: StoredLimits): QueueLimits {
  const out: QueueLimits = {};
  if (stored.concurrency !== null) out.concurrency = stored.concurrency;
  if (stored.keyConcurrency !== null) out.keyConcurrency = stored.keyConcurrency;
  if (stored.rateLimit !== null) out.rate = { limit: stored.rateLimit, periodMs: stored.ratePeriodMs! };
  if (stored.keyRateLimit !== null)
    out.keyRate = { limit: stored.keyRateLimit, periodMs: stored.keyRatePeriodMs! };
  if (stored.fair) out.fair = true;
  return out;
}

/**
 * The signature a configuration's limits are stored with: equal limits, equal text.
 *
 * @example
 * limitsSignature(storedLimitsOf('mail', { concurrency: 5 }));
 */
export function limitsSignature(stored: StoredLimits): string {
  const s = stored;
  return `v1:${[s.concurrency, s.keyConcurrency, s.rateLimit, s.ratePeriodMs, s.keyRateLimit, s.keyRatePeriodMs, s.fair].join(',')}`;
}
