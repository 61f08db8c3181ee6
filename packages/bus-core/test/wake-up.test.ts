import { describe, expect, it } from 'vitest';
import { memoryStore, waitFor } from '../../bus-testing/src/index.js';
import { createBus, defineEvent, Registry } from '../src/index.js';
import { GOOD_QUEUE, simpleHandler } from './support.js';

// On a store without notify, the bus's own wake-ups pick up what this process published.

describe('wake-up', () => {
  it('a transactional publish is picked up within moments, not after sleepInterval, on a store without notify', async () => {
    const registry = new Registry();
    const Event = defineEvent<{ n: number }>('wake.txn');
    const got: number[] = [];
    registry.register(
      Event,
      simpleHandler('wake.handler', {}, (p: { n: number }) => void got.push(p.n)),
    );
    const store = memoryStore();
    expect(store.capabilities.notify).toBe(false);
    const bus = createBus({ store, registry, queues: [{ ...GOOD_QUEUE, sleepInterval: 60_000 }] });
    await bus.init();
    await bus.controller.startWorkers();
    // Let the runner's first (empty) claim pass, so it sleeps its 60 s interval.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await store.transaction(async (tx) => {
      await bus.publishTxn(tx, Event, { n: 1 });
      // The commit comes later than the publish call, as in a real transaction.
      await new Promise((resolve) => setTimeout(resolve, 30));
    });
    await waitFor(() => got.length === 1, {
      timeoutMs: 3000,
      message: 'the committed event to run well before 60 s',
    });
    await bus.controller.awaitTerminationWithTimeout(1000);
  });
});
