import { describe, expect, it } from 'vitest';
import { BusError } from '../src/errors.js';
import { CONFLICT_TRIES, inBatches, retryConflicts } from '../src/store-retry.js';

describe('conflict retries (the one place bus retries a rolled-back store call)', () => {
  it('runs a call again after STORE_CONFLICT until it succeeds', async () => {
    let calls = 0;
    const result = await retryConflicts(async () => {
      calls++;
      if (calls < 3) throw new BusError('STORE_CONFLICT', 'deadlock');
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(calls).toBe(3);
  });

  it('gives up after its budget and rethrows the conflict', async () => {
    let calls = 0;
    await expect(
      retryConflicts(async () => {
        calls++;
        throw new BusError('STORE_CONFLICT', 'deadlock');
      }),
    ).rejects.toThrow(/STORE_CONFLICT/);
    expect(calls).toBe(CONFLICT_TRIES);
  });

  it('never retries any other failure', async () => {
    let calls = 0;
    await expect(
      retryConflicts(async () => {
        calls++;
        throw new BusError('STORE_FAILED', 'connection lost');
      }),
    ).rejects.toThrow(/STORE_FAILED/);
    expect(calls).toBe(1);
  });

  it('splits work into batches of the contract bound', () => {
    expect(inBatches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(inBatches([], 2)).toEqual([]);
  });
});
