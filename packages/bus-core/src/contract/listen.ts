/** Params of `QueueStore.listen`. */
export interface ListenParams {
  /**
   * Called with a queue name when rows due now were inserted into it; with none, wake every queue
   * (after a reconnect, when notifications may have been lost).
   */
  onWake(queue?: string): void;
  /** Called when the listening connection failed; the store reconnects by itself. */
  onError(error: unknown): void;
}

/** A live `listen` subscription. */
export interface Subscription {
  /** Stops listening; resolves when the store holds nothing open for it. */
  close(): Promise<void>;
}
