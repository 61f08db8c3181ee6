/** A row a worker holds, named by its id and the attempt it holds. */
export interface HeldEvent {
  id: string;
  /** `ClaimedEvent.attempts` of the claim that leased it: at least 1. */
  attempt: number;
}

/** Params of `QueueStore.extendLeases`. */
export interface ExtendLeasesParams {
  workerId: string;
  /** 1 to `maxBatch` rows, each id once. */
  events: HeldEvent[];
  /** The new lease: an integer number of ms (at least 1) after the database's now. */
  leaseMs: number;
}

/** Params of `QueueStore.release`. */
export interface ReleaseParams {
  workerId: string;
  /** 1 to `maxBatch` rows, each id once. */
  events: HeldEvent[];
}

/** Params of `QueueStore.checkLeases`. */
export interface CheckLeasesParams {
  workerId: string;
  /** 1 to `maxBatch` rows, each id once. */
  events: HeldEvent[];
}
