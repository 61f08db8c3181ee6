import {
  type Attributes,
  type BatchObservableResult,
  type Meter,
  type MeterProvider,
  metrics,
} from '@opentelemetry/api';
import type { QueueCounts } from '../contract/inspect.js';
import { MESSAGING_SYSTEM } from './spans.js';

/** Durations in seconds, with buckets from 1 ms to 10 min (the conventions' unit for durations). */
const SECONDS = {
  unit: 's',
  advice: {
    explicitBucketBoundaries: [
      0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600,
    ],
  },
};

function createInstruments(meter: Meter) {
  return {
    published: meter.createCounter('messaging.client.sent.messages', {
      description: 'Rows published (one per handler of an event).',
    }),
    started: meter.createCounter('messaging.client.consumed.messages', {
      description: 'Handler runs started (each attempt counts).',
    }),
    ended: meter.createCounter('bus.runs', {
      description: 'Handler runs by outcome (bus.outcome: completed, retry, failed).',
    }),
    rescued: meter.createCounter('bus.rescued', {
      description: 'Rows whose lease expired, by what the rescuer decided (bus.outcome: retry or failed).',
    }),
    duration: meter.createHistogram('messaging.process.duration', {
      ...SECONDS,
      description: 'Handler run time, from start to the end of the handler.',
    }),
    claimToStart: meter.createHistogram('bus.claim_to_start.duration', {
      ...SECONDS,
      description: 'Time a claimed row waited in the prefetch buffer before a handler slot took it.',
    }),
    publishToStart: meter.createHistogram('bus.publish_to_start.duration', {
      ...SECONDS,
      description: 'Time from publish (database time) to the start of the run (this host): queueing delay.',
    }),
  };
}

let current:
  | { provider: MeterProvider; meter: Meter; instruments: ReturnType<typeof createInstruments> }
  | undefined;

// The metrics API has no proxy: a meter taken before the app registers its SDK would stay a
// no-op. So the instruments follow the global provider, rebuilt when it changes (one pointer
// comparison per record otherwise).
function meterState() {
  const provider = metrics.getMeterProvider();
  if (current?.provider !== provider) {
    const meter = provider.getMeter('bus');
    current = { provider, meter, instruments: createInstruments(meter) };
  }
  return current;
}

function instruments() {
  return meterState().instruments;
}

/** What identifies a row in metric attributes: few values each, so cardinality stays low. */
export interface RowLabels {
  queue: string;
  eventName: string;
  handlerName: string;
}

function attributes(row: RowLabels, extra?: Attributes): Attributes {
  return {
    'messaging.system': MESSAGING_SYSTEM,
    'messaging.consumer.group.name': row.queue,
    'messaging.destination.name': row.eventName,
    'bus.handler.name': row.handlerName,
    ...extra,
  };
}

/** Counts rows published: one call per publish, per handler's queue. */
export function recordPublished(row: RowLabels, count: number): void {
  instruments().published.add(count, attributes(row));
}

/** Counts a run's start and its waits (claim to start, publish to start). */
export function recordStarted(
  row: RowLabels,
  waits: { claimToStartMs: number; publishToStartMs: number },
): void {
  const labels = attributes(row);
  const { started, claimToStart, publishToStart } = instruments();
  started.add(1, labels);
  claimToStart.record(Math.max(0, waits.claimToStartMs) / 1000, labels);
  publishToStart.record(Math.max(0, waits.publishToStartMs) / 1000, labels);
}

/** Counts a run's end by outcome, and its duration. */
export function recordEnded(row: RowLabels, outcome: string, durationMs: number): void {
  const labels = attributes(row, { 'bus.outcome': outcome });
  const { ended, duration } = instruments();
  ended.add(1, labels);
  duration.record(Math.max(0, durationMs) / 1000, labels);
}

/** Counts rows the rescuer decided about. */
export function recordRescued(row: RowLabels, outcome: 'retry' | 'failed'): void {
  instruments().rescued.add(1, attributes(row, { 'bus.outcome': outcome }));
}

/**
 * A count that took `d` ms is not read again for `COUNT_SPACING × d` ms (when that is longer than
 * the interval): each process spends at most a tenth of its time counting, however big the tables.
 */
export const COUNT_SPACING = 9;

/**
 * The queue gauges of one process (depth by state, age of the oldest ready row), read from
 * `countByQueue` at most once per `intervalMs` however often the SDK collects: a scrape storm
 * costs no queries. `countByQueue` reads every live and archived row, so on big tables a read
 * that took long spaces the next one out (`COUNT_SPACING`). Collection never waits for the
 * database; it reports the last counts and starts a refresh when they are stale.
 */
export class QueueGauges {
  // Taken at startWorkers, by which time an app has registered its SDK.
  readonly #meter = meterState().meter;
  readonly #depth = this.#meter.createObservableGauge('bus.queue.depth', {
    description: 'Live rows per queue and state (available, scheduled, running).',
  });
  readonly #age = this.#meter.createObservableGauge('bus.queue.oldest_ready_age', {
    unit: 's',
    description: 'How long the oldest row that is due now has waited, per queue (0 when none).',
  });
  #counts: { at: number; rows: QueueCounts[]; now: number; tookMs: number } | undefined;
  #refreshing: Promise<void> | undefined;
  readonly #callback = (result: BatchObservableResult) => this.#observe(result);

  constructor(
    private readonly queues: readonly string[],
    private readonly read: () => Promise<{ counts: QueueCounts[]; now: Date }>,
    private readonly intervalMs: number,
    private readonly onError: (error: unknown) => void,
  ) {
    this.#meter.addBatchObservableCallback(this.#callback, [this.#depth, this.#age]);
  }

  /** Stops reporting (at shutdown). */
  close(): void {
    this.#meter.removeBatchObservableCallback(this.#callback, [this.#depth, this.#age]);
  }

  /** Reads the counts now (the first collection, and tests). */
  async refresh(): Promise<void> {
    const started = Date.now();
    this.#refreshing ??= this.read()
      .then(({ counts, now }) => {
        const at = Date.now();
        this.#counts = { at, rows: counts, now: now.getTime(), tookMs: at - started };
      })
      .catch(this.onError)
      .finally(() => {
        this.#refreshing = undefined;
      });
    await this.#refreshing;
  }

  #observe(result: BatchObservableResult): void {
    const counts = this.#counts;
    const staleAfter = counts === undefined ? 0 : Math.max(this.intervalMs, COUNT_SPACING * counts.tookMs);
    if (counts === undefined || Date.now() - counts.at >= staleAfter) void this.refresh();
    if (counts === undefined) return;
    for (const queue of this.queues) {
      const row = counts.rows.find((c) => c.queue === queue);
      const base = { 'messaging.system': MESSAGING_SYSTEM, 'messaging.consumer.group.name': queue };
      for (const state of ['available', 'scheduled', 'running'] as const) {
        result.observe(this.#depth, row?.[state] ?? 0, { ...base, 'bus.state': state });
      }
      const oldest = row?.oldestAvailableAt;
      result.observe(this.#age, oldest ? Math.max(0, counts.now - oldest.getTime()) / 1000 : 0, base);
    }
  }
}
