import { BusError, type HandlerContext } from 'bus-core';
import { describe, expect, it } from 'vitest';
import { Tally } from '../src/tally.js';

function ctx(id: string, attempt: number, abort?: unknown): HandlerContext {
  const controller = new AbortController();
  if (abort !== undefined) controller.abort(abort);
  return {
    signal: controller.signal,
    attempt,
    id,
    eventName: 'user.send-email',
    handlerName: 'demo.send-email',
    queue: 'email',
    maxRetries: 3,
    snoozes: 0,
    createdAt: new Date(),
    partitionKey: null,
    tx: undefined,
  };
}

describe("the demo's tally", () => {
  it('counts completions, retries and failures for good', async () => {
    const tally = new Tally();
    await tally.track(ctx('1', 1), async () => {});
    await expect(tally.track(ctx('2', 1), () => Promise.reject(new Error('451')))).rejects.toThrow('451');
    await expect(tally.track(ctx('2', 4), () => Promise.reject(new Error('451')))).rejects.toThrow('451');
    expect(tally.snapshot('email')).toEqual({
      completed: 1,
      failedAttempts: 2,
      failedForGood: 1,
      handedBack: 0,
      refused: 0,
    });
  });

  it('does not count a run bus gave up on (shutdown, lost lease) as done', async () => {
    const tally = new Tally();
    const shutdown = new BusError('HANDLER_ABORTED', 'shutting down');
    await expect(tally.track(ctx('1', 1, shutdown), async () => {})).rejects.toBe(shutdown);
    const timeout = new BusError('HANDLER_TIMEOUT', 'too slow');
    await expect(tally.track(ctx('2', 4, timeout), async () => {})).rejects.toBe(timeout);
    expect(tally.snapshot('email')).toMatchObject({
      completed: 0,
      handedBack: 1,
      failedAttempts: 1,
      failedForGood: 1,
    });
  });

  it('takes back a run whose outcome bus refused to record', async () => {
    const tally = new Tally();
    await tally.track(ctx('1', 1), async () => {});
    await expect(tally.track(ctx('2', 4), () => Promise.reject(new Error('x')))).rejects.toThrow();
    tally.refused('1', 1);
    tally.refused('2', 4);
    tally.refused('3', 1); // never ran here: ignored
    expect(tally.snapshot('email')).toEqual({
      completed: 0,
      failedAttempts: 0,
      failedForGood: 0,
      handedBack: 0,
      refused: 2,
    });
  });
});
