import { describe, expect, it } from 'vitest';
import { queueOverviews } from '../src/index.js';

// The one merge behind `bus.admin.queues()` and the dashboard's queues screen: what a user reads
// on either is every queue any part names, in byte order, its counts or zeros, its pauses and
// limits from the parts given (the dashboard gives fresh pauses over older counts).

const counts = (queue: string, available: number) => ({
  queue,
  available,
  scheduled: 1,
  running: 2,
  retrying: 0,
  archivedCompleted: 3,
  archivedFailed: 0,
  archivedCancelled: 0,
  oldestAvailableAt: new Date(0),
});

describe('queueOverviews', () => {
  it('lists every queue a part names, in byte order, with zeros where no counts are', () => {
    const rows = queueOverviews({
      names: ['configured'],
      counts: [counts('b', 5)],
      pauses: [{ queue: 'paused-only', handlerName: null }],
      limits: [{ queue: 'Z-limited', limits: { concurrency: 3 } }],
      workers: [{ queues: ['a', 'b'] }],
    });
    expect(rows.map((r) => r.queue)).toEqual(['Z-limited', 'a', 'b', 'configured', 'paused-only']);
    const a = rows.find((r) => r.queue === 'a')!;
    expect(a).toEqual({
      queue: 'a',
      available: 0,
      scheduled: 0,
      running: 0,
      retrying: 0,
      archivedCompleted: 0,
      archivedFailed: 0,
      archivedCancelled: 0,
      oldestAvailableAt: null,
      paused: false,
      pausedHandlers: [],
      limits: null,
    });
    expect(rows.find((r) => r.queue === 'b')).toMatchObject({
      available: 5,
      running: 2,
      archivedCompleted: 3,
    });
    expect(rows.find((r) => r.queue === 'Z-limited')?.limits).toEqual({ concurrency: 3 });
  });

  it('takes pauses and limits from their parts, not from what the counts carry', () => {
    // Counts taken earlier (the dashboard's background counts) say paused; the pauses now say not.
    const stale = { ...counts('q', 1), paused: true, pausedHandlers: ['h'], limits: { concurrency: 9 } };
    const [row] = queueOverviews({
      counts: [stale],
      pauses: [
        { queue: 'q', handlerName: 'send' },
        { queue: 'q', handlerName: 'bill' },
      ],
      limits: [],
      workers: [],
    });
    expect(row).toMatchObject({
      queue: 'q',
      available: 1,
      paused: false,
      pausedHandlers: ['send', 'bill'],
      limits: null,
    });
    expect(row).not.toHaveProperty('counted');
  });
});
