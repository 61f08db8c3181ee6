// Types of soak.mjs for the test suites that run it at a small size.

/** Latency percentiles (ms) of the calls measured. */
export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
}

/** One drain's figures. */
export interface DrainFigures {
  rowsPerS: number;
  claim: LatencySummary;
  prune?: LatencySummary & { rowsPerS: number; deleted: number };
}

/** What the soak measured per driver. */
export interface SoakReport {
  size: { archived: number; live: number; drain: number };
  pruneTargetPerS: number;
  drivers: Record<
    string,
    {
      empty: DrainFigures;
      big: DrainFigures;
      withPrune: DrainFigures & { prune: NonNullable<DrainFigures['prune']> };
      fillSeconds: number;
    }
  >;
}

/** Runs the soak (see soak.mjs). */
export function soak(options?: {
  scale?: number;
  drivers?: ('postgres' | 'mysql')[];
  drain?: number;
  database?: string;
  keep?: boolean;
  urls?: { postgres?: string; mysql?: string };
  log?: (what: string, figures: unknown) => void;
}): Promise<SoakReport>;
