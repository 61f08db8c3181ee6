import type { QueueLimits } from 'bus-core';

/**
 * A queue's flow-control limits in a few words, the same in the dashboard and the CLI
 * (e.g. `concurrency 5, 50 per 30s, 1 per key, fair`); `''` when it has none.
 *
 * @example
 * limitsText({ concurrency: 5, rate: { limit: 50, periodMs: 30_000 } }); // 'concurrency 5, 50 per 30s'
 */
export function limitsText(limits: QueueLimits | null | undefined): string {
  if (!limits) return '';
  const period = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);
  const parts: string[] = [];
  if (limits.concurrency !== undefined) parts.push(`concurrency ${limits.concurrency}`);
  if (limits.rate !== undefined) parts.push(`${limits.rate.limit} per ${period(limits.rate.periodMs)}`);
  if (limits.keyConcurrency !== undefined) parts.push(`${limits.keyConcurrency} per key`);
  if (limits.keyRate !== undefined)
    parts.push(`${limits.keyRate.limit} per ${period(limits.keyRate.periodMs)} per key`);
  if (limits.fair === true) parts.push('fair');
  return parts.join(', ');
}
