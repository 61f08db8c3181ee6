import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../bus-testing/src/index.js';
import { BusError, defineEvent, type Logger, Registry } from '../src/index.js';
import { handlerClass, makeBus, queue } from './support.js';

// After a database outage the claim loop must come back within about a second of the database
// answering, however long the outage was: its retry delay doubles from 200 ms and stops at 1 s.

const Ping = defineEvent<{ n: number }>('claim-retry.ping');

describe('claim retries while the store is down', () => {
  it('resumes within ~1 s of the store answering after a 4 s outage, logging once, not once a second', async () => {
    const store = new MemoryStore();
    let down = true;
    const claims: number[] = [];
    const claim = store.claim.bind(store);
    store.claim = (params) => {
      claims.push(Date.now());
      if (down)
        return Promise.reject(new BusError('STORE_FAILED', 'memory claim failed: connection refused'));
      return claim(params);
    };
    const handledAt: number[] = [];
    const registry = new Registry();
    registry.register(
      Ping,
      handlerClass('claim-retry.handler', { queueName: 'q' }, () => void handledAt.push(Date.now())),
    );
    const errors: string[] = [];
    const infos: string[] = [];
    const logger: Logger = {
      debug() {},
      info: (message) => {
        if (message.startsWith('claims')) infos.push(message);
      },
      warn() {},
      error: (message) => void errors.push(message),
    };
    // A poll interval far longer than the outage: only the claim loop's retry brings it back.
    const bus = await makeBus({ store, registry, logger, queues: [queue('q', { sleepInterval: 60_000 })] });
    await bus.publish(Ping, { n: 1 });
    await bus.controller.startWorkers();
    await new Promise((resolve) => setTimeout(resolve, 4000));
    down = false;
    const back = Date.now();
    const deadline = back + 3000;
    while (handledAt.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(handledAt.length, 'the row to be handled after the outage').toBe(1);
    expect(handledAt[0]! - back).toBeLessThan(1300);
    // Retries are at most a second apart: no storm (about 6 in 4 s), and no long silence.
    const failedClaims = claims.filter((at) => at < back);
    expect(failedClaims.length).toBeGreaterThanOrEqual(4);
    expect(failedClaims.length).toBeLessThanOrEqual(10);
    for (let i = 1; i < failedClaims.length; i++) {
      expect(failedClaims[i]! - failedClaims[i - 1]!).toBeLessThan(1300);
    }
    // One line when claims start failing (then one every 30 failures), one when they resume.
    expect(errors.filter((m) => m.startsWith('claim failed'))).toHaveLength(1);
    expect(infos).toEqual(['claims resumed']);
  });
});
