import type { QueueOverview } from 'bus-core';
import { describe, expect, test } from 'vitest';
import { QueueCounts, type QueueCountsOptions } from '../src/queue-counts.js';

/** A clock and timers the test moves by hand: the spacing is checked without waiting. */
class FakeTime {
  now = 0;
  #timers = new Map<number, { at: number; run: () => void }>();
  #next = 1;
  setTimeout = (run: () => void, ms: number) => {
    const id = this.#next++;
    this.#timers.set(id, { at: this.now + ms, run });
    return { id, unref: () => {} };
  };
  clearTimeout = (timer: unknown) => {
    this.#timers.delete((timer as { id: number }).id);
  };
  get pending(): number {
    return this.#timers.size;
  }
  /** Moves the clock to `now + ms`, running each timer due on the way at its own time. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.#timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.now = Math.max(this.now, due[1].at);
      due[1].run();
    }
    this.now = end;
  }
}

/** A count the test ends by hand, with the time it should have taken. */
interface PendingRead {
  resolve(queues: QueueOverview[]): void;
  reject(error: unknown): void;
}

const row = (queue: string, available: number): QueueOverview => ({
  queue,
  available,
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

function setUp(options: Partial<QueueCountsOptions> = {}) {
  const time = new FakeTime();
  const reads: PendingRead[] = [];
  const counts = new QueueCounts({
    read: () =>
      new Promise((resolve, reject) => {
        reads.push({
          resolve: (queues) => resolve({ queues, countedAt: new Date(time.now) }),
          reject,
        });
      }),
    intervalMs: 5000,
    floorMs: 2000,
    idleMs: 60_000,
    now: () => time.now,
    setTimeout: time.setTimeout,
    clearTimeout: time.clearTimeout,
    ...options,
  });
  // Ends the latest count after `ms` of (fake) counting, and lets its continuation run.
  const finish = async (ms: number, queues: QueueOverview[] | Error) => {
    time.advance(ms);
    const read = reads.at(-1)!;
    if (queues instanceof Error) read.reject(queues);
    else read.resolve(queues);
    await flush();
  };
  return { time, reads, counts, finish };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('QueueCounts', () => {
  test('requests within the spacing share one count; the next waits max(interval, 9 × its duration)', async () => {
    const { time, reads, counts, finish } = setUp();
    counts.want();
    counts.want();
    expect(reads.length).toBe(1);
    expect(counts.state()).toMatchObject({ counted: undefined, counting: true });
    await finish(10, [row('email', 3)]);
    expect(counts.state().counted?.queues).toEqual([row('email', 3)]);
    expect(counts.state().counting).toBe(false);
    // A fast count: the interval (5 s) spaces them.
    counts.want();
    time.advance(4999);
    counts.want();
    expect(reads.length).toBe(1);
    time.advance(1);
    expect(reads.length).toBe(2);
    // A slow count (1 s): the next starts 9 s after it ended, however often the page asks.
    await finish(1000, [row('email', 4)]);
    for (let i = 0; i < 8; i++) {
      time.advance(1000);
      counts.want();
    }
    expect(reads.length).toBe(2);
    time.advance(999);
    expect(reads.length).toBe(2);
    time.advance(1);
    expect(reads.length).toBe(3);
  });

  test('concurrent waits for the first count share it, and a budget bounds the wait', async () => {
    const { time, reads, counts, finish } = setUp();
    counts.want();
    const waits = [counts.firstCount(150), counts.firstCount(150)];
    expect(reads.length).toBe(1);
    time.advance(150);
    await Promise.all(waits);
    // The budget passed: the count still runs, and the callers went on without it.
    expect(counts.state()).toMatchObject({ counted: undefined, counting: true });
    const third = counts.firstCount(150);
    await finish(20, [row('a', 1)]);
    await third;
    expect(counts.state().counted?.queues).toEqual([row('a', 1)]);
    expect(reads.length).toBe(1);
  });

  test('a failed count keeps the last good counts, says why, and the next follows the same spacing', async () => {
    const { time, reads, counts, finish } = setUp();
    counts.want();
    await finish(10, [row('email', 3)]);
    time.advance(5000);
    expect(reads.length).toBe(2);
    await finish(2000, new Error('connection refused'));
    expect(counts.state()).toMatchObject({ failure: 'connection refused', counting: false });
    expect(counts.state().counted?.queues).toEqual([row('email', 3)]);
    // 9 × 2 s after the failure, not sooner.
    counts.want();
    time.advance(17_999);
    expect(reads.length).toBe(2);
    time.advance(1);
    expect(reads.length).toBe(3);
    await finish(10, [row('email', 5)]);
    expect(counts.state()).toMatchObject({ failure: undefined });
    expect(counts.state().counted?.queues).toEqual([row('email', 5)]);
  });

  test('a read that throws at once is a failed count, not an unhandled rejection', async () => {
    const time = new FakeTime();
    const counts = new QueueCounts({
      read: () => {
        throw new Error('no pool');
      },
      intervalMs: 5000,
      floorMs: 2000,
      idleMs: 60_000,
      now: () => time.now,
      setTimeout: time.setTimeout,
      clearTimeout: time.clearTimeout,
    });
    counts.want();
    await counts.firstCount(150);
    expect(counts.state()).toMatchObject({ counted: undefined, failure: 'no pool', counting: false });
  });

  test('nobody asking for idleMs: no more counts and no timer left', async () => {
    const { time, reads, counts, finish } = setUp();
    counts.want();
    await finish(10, [row('email', 3)]);
    expect(counts.scheduled).toBe(true);
    // Counting goes on while the last request is less than a minute old ...
    for (let i = 0; i < 12; i++) {
      time.advance(5000);
      await finish(10, [row('email', i)]);
    }
    const counted = reads.length;
    expect(counted).toBeGreaterThanOrEqual(12);
    time.advance(120_000);
    // ... then stops, with nothing pending.
    expect(reads.length).toBe(counted);
    expect(counts.scheduled).toBe(false);
    expect(time.pending).toBe(0);
    // The next visit counts again at once (the spacing has long passed).
    counts.want();
    expect(reads.length).toBe(counted + 1);
  });

  test('a next count that would come after the idle window sets no timer until someone asks again', async () => {
    const { time, reads, counts, finish } = setUp();
    counts.want();
    // A 10 s count: the next may start 90 s after it, beyond a minute of nobody asking.
    await finish(10_000, [row('email', 3)]);
    expect(counts.scheduled).toBe(false);
    expect(time.pending).toBe(0);
    time.advance(40_000);
    counts.want();
    expect(counts.scheduled).toBe(true);
    time.advance(50_000);
    expect(reads.length).toBe(2);
  });

  test('markStale brings the next count forward to the floor, never under 9 × its duration', async () => {
    const { time, reads, counts, finish } = setUp();
    counts.want();
    await finish(10, [row('email', 3)]);
    counts.markStale();
    time.advance(1999);
    expect(reads.length).toBe(1);
    time.advance(1);
    expect(reads.length).toBe(2);
    // The stale mark is used up by the count that started after it: back to the interval.
    await finish(10, [row('email', 2)]);
    time.advance(4999);
    expect(reads.length).toBe(2);
    time.advance(1);
    expect(reads.length).toBe(3);
    // Marked while a count runs: the one after it comes at the floor (here 9 × 500 ms).
    counts.markStale();
    await finish(500, [row('email', 1)]);
    time.advance(4499);
    expect(reads.length).toBe(3);
    time.advance(1);
    expect(reads.length).toBe(4);
  });
});
