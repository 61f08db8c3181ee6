import { BusError } from 'bus-core';

/**
 * The in-memory store's transaction: writes made through it apply at commit and vanish on
 * rollback, like a database's.
 */
export interface MemoryTx {
  readonly kind: 'memory-tx';
}

/** A write inside a transaction: checked, then applied, when the transaction commits. */
export interface Effect {
  /** Throws when the write can no longer be made (a row it settles changed hands meanwhile). */
  check(): void;
  apply(): void;
}

/** What a `MemoryTx` holds while it is open. */
export interface TxState extends MemoryTx {
  effects: Effect[];
  open: boolean;
}

/** Checks that `tx` is an open transaction of the memory store (`undefined`: none). */
export function txState(tx: MemoryTx | undefined): TxState | undefined {
  if (tx === undefined) return undefined;
  const state = tx as TxState;
  if (
    typeof state !== 'object' ||
    state === null ||
    state.kind !== 'memory-tx' ||
    !Array.isArray(state.effects)
  ) {
    throw new BusError('INVALID_ARGUMENT', 'not a transaction of this in-memory store', { value: tx });
  }
  if (!state.open) throw new BusError('INVALID_ARGUMENT', 'the transaction has already ended', { value: tx });
  return state;
}

/** Applies `effect` now, or at the commit of `tx`. */
export function write(tx: TxState | undefined, effect: Effect): void {
  if (tx === undefined) effect.apply();
  else tx.effects.push(effect);
}
