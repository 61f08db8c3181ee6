/** What `Telemetry.settled` reports about one row's attempt. */
export interface SettledInfo {
  id: string;
  queue: string;
  eventName: string;
  handlerName: string;
  attempt: number;
  /**
   * `retry`: failed, will run again; `failed`: failed for good; `snooze`: put off without using
   * an attempt; `cancelled`: the handler cancelled the run; `released`: handed back at shutdown.
   */
  outcome: 'completed' | 'retry' | 'failed' | 'snooze' | 'cancelled' | 'released';
  /** Whether the write took effect; `false` when the row was no longer leased to this worker. */
  applied: boolean;
  /** Milliseconds from claim to the end of the handler run. */
  durationMs: number;
  /** The error text for `retry`, `failed` and `cancelled`. */
  error?: string;
}

/**
 * The metrics seam: called after the fact, never awaited, so a slow exporter cannot slow the
 * workers. Counters for dashboards, or exact tallies in tests, without parsing log lines.
 *
 * @example
 * createBus({ store, queues, telemetry: { settled: (s) => metrics.increment(`bus.${s.outcome}`, { queue: s.queue }) } });
 */
export interface Telemetry {
  /** A row's attempt ended and its outcome was written (or refused by the fence). */
  settled?(info: SettledInfo): void;
  /** Rows whose lease had expired were made due again. */
  rescued?(count: number): void;
}

/** The default: reports nothing. */
export const noTelemetry: Telemetry = Object.freeze({});
