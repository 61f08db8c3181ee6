import { describe, expect, it } from 'vitest';
import { ManualClock, memoryStore, runUntilIdle, waitFor } from '../../bus-testing/src/index.js';
import { createBus, defineEvent, Registry, type SettledInfo } from '../src/index.js';
import { GOOD_QUEUE, simpleHandler } from './support.js';

// The telemetry hooks see every settled attempt and every rescue.

describe('telemetry', () => {
  it('reports every settled attempt with its outcome, and rescues', async () => {
    const registry = new Registry();
    const Event = defineEvent<{ fail: boolean }>('telemetry.event');
    let runs = 0;
    registry.register(
      Event,
      simpleHandler('telemetry.handler', { maxRetries: 1 }, (p: { fail: boolean }) => {
        runs++;
        if (p.fail) throw new Error('nope');
      }),
    );
    const settled: SettledInfo[] = [];
    const rescued: number[] = [];
    const clock = new ManualClock();
    const store = memoryStore({ clock });
    const bus = createBus({
      store,
      registry,
      queues: [GOOD_QUEUE],
      rescueInterval: 20,
      telemetry: { settled: (s) => void settled.push(s), rescued: (n) => void rescued.push(n) },
    });
    await bus.init();
    await bus.publish(Event, { fail: false });
    const [failing] = await bus.publish(Event, { fail: true });
    await runUntilIdle(bus);
    clock.advance(60_000);
    await runUntilIdle(bus);
    await waitFor(() => settled.length === 3, { message: 'three settled attempts' });
    const summary = settled.map((s) => `${s.outcome}:${s.attempt}:${s.applied}`).sort();
    expect(summary).toEqual(['completed:1:true', 'failed:2:true', 'retry:1:true']);
    expect(settled.find((s) => s.outcome === 'failed')).toMatchObject({
      id: failing,
      queue: 'q',
      eventName: 'telemetry.event',
      handlerName: 'telemetry.handler',
    });
    expect(settled.find((s) => s.outcome === 'failed')!.error).toContain('nope');
    expect(runs).toBe(3);
    // A row whose worker died: its lease runs out and the rescuer reports it.
    await bus.publish(Event, { fail: false }, { delay: 10 * 60_000 });
    clock.advance(10 * 60_000);
    await store.claim({
      queue: 'q',
      limit: 1,
      workerId: 'dead',
      leaseMs: 1000,
      handlers: ['telemetry.handler'],
    });
    clock.advance(2000);
    await waitFor(() => rescued.includes(1), { message: 'the rescue to be reported' });
    await bus.controller.awaitTerminationWithTimeout(1000);
  });
});
