import { isBusError } from './errors.js';

/** Tries of one store call on `STORE_CONFLICT` before its caller sees the error. */
export const CONFLICT_TRIES = 10;

/**
 * Runs one store call, again after a `STORE_CONFLICT` (the database rolled it back on a deadlock,
 * serialization failure or lock-wait timeout, so running it again is safe), with a random
 * growing pause so colliding calls drift apart. The only place bus retries a conflict: stores
 * never do, and callers do not retry a conflict that outlived this budget.
 *
 * @example
 * const rows = await retryConflicts(() => store.claim(params));
 */
export async function retryConflicts<T>(call: () => Promise<T>, tries = CONFLICT_TRIES): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= tries || !isConflict(error)) throw error;
      const cap = Math.min(5 * 2 ** attempt, 250);
      await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * cap));
    }
  }
}

/** Whether `error` is a conflict the database rolled back (retrying it is safe). */
export function isConflict(error: unknown): boolean {
  return isBusError(error) && error.code === 'STORE_CONFLICT';
}

/** `items` in runs of at most `size`, so no store call exceeds the contract's batch bound. */
export function inBatches<T>(items: readonly T[], size: number): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  return batches;
}
