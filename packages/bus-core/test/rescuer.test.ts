import { describe, expect, it } from 'vitest';
import type { ExpiredEvent } from '../src/contract/rescue.js';
import { rescueDecision } from '../src/rescuer.js';

const expired = (attempts: number, maxRetries: number): ExpiredEvent => ({
  id: '5',
  queue: 'q',
  eventName: 'e',
  handlerName: 'h',
  attempts,
  maxRetries,
  workerId: 'w-1',
});

describe('rescue decisions (decided by the core, applied by the store)', () => {
  it('makes a row with tries left due again at once, fenced on its holder and attempt', () => {
    expect(rescueDecision(expired(1, 2), 'failed')).toMatchObject({
      kind: 'retry',
      id: '5',
      attempt: 1,
      workerId: 'w-1',
      delayMs: 0,
    });
    expect(rescueDecision(expired(2, 2), 'failed').kind).toBe('retry');
    expect(rescueDecision(expired(3, 2), 'failed').kind).toBe('failed');
  });

  it('fails a row whose last try lost its lease, archived as the queue policy says', () => {
    const decision = rescueDecision(expired(4, 3), 'failed');
    expect(decision).toMatchObject({ kind: 'failed', attempt: 4, workerId: 'w-1', archive: true });
    expect(decision.error).toMatch(/^\[RETRIES_EXHAUSTED\] lease expired on attempt 4/);
    expect(rescueDecision(expired(1, 0), 'completed')).toMatchObject({ kind: 'failed', archive: false });
  });
});
