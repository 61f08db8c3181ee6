/** Params of `QueueStore.prune`. */
export interface PruneParams {
  /** Archive rows that finished more than this many ms before the database's now: an integer >= 0. */
  olderThanMs: number;
  /** Rows deleted at most: an integer from 1 to 10 000. */
  limit: number;
}
