import type { ClaimedEvent } from './contract/claim.js';

/**
 * A row this process holds a lease on, from its claim to its settle; every stage of a queue's
 * pipeline (claim loop, buffer, attempt, lease keeper, settler) sees the same object.
 */
export interface HeldRow {
  readonly row: ClaimedEvent;
  /** Local time (ms) the lease surely lasts until: when the claim or last heartbeat was sent, plus the lease. */
  leaseUntil: number;
  /** When a handler slot took it (local ms); `undefined` while it waits in the buffer. */
  startedAt: number | undefined;
  /** When this process received the row from its claim (local ms), for the claim-to-start metric. */
  claimedAt: number;
  /** Lost its lease or handed back: whatever its run returns must not be written. */
  detached: boolean;
  /** Made on the first read of `ctx.signal`: most handlers never read it, and it is costly. */
  controller: AbortController | undefined;
  /** Why the run was aborted (timeout, shutdown, lease lost); `undefined` while it is not. */
  reason: unknown;
  /** Ends the pending invocation of this row with the abort reason. */
  onAbort: ((reason: unknown) => void) | undefined;
}

/** A freshly claimed row, leased until `leaseUntil`. */
export function heldRow(row: ClaimedEvent, leaseUntil: number): HeldRow {
  return {
    row,
    leaseUntil,
    startedAt: undefined,
    claimedAt: Date.now(),
    detached: false,
    controller: undefined,
    reason: undefined,
    onAbort: undefined,
  };
}

/** Aborts the row's run (once): its signal fires and its pending invocation rejects with `reason`. */
export function abortRun(held: HeldRow, reason: unknown): void {
  if (held.reason !== undefined) return;
  held.reason = reason;
  held.controller?.abort(reason);
  held.onAbort?.(reason);
}

/** The row's AbortSignal, made on first use (already aborted if the run was). */
export function signalOf(held: HeldRow): AbortSignal {
  if (held.controller === undefined) {
    held.controller = new AbortController();
    if (held.reason !== undefined) held.controller.abort(held.reason);
  }
  return held.controller.signal;
}
