import { describe, it } from 'vitest';
import { memoryStore } from '../../bus-testing/src/index.js';
import { createBus, defineEvent, type QueueConfig, Registry } from '../src/index.js';
import { expectBusError, expectRejects, GOOD_QUEUE, simpleHandler } from './support.js';

// Queue and bus options are checked where they are given: createBus and init.

describe('queue configuration is validated at start-up', () => {
  const cases: [string, unknown, string, unknown][] = [
    ['0 workers', [{ ...GOOD_QUEUE, workers: 0 }], 'INVALID_QUEUE_CONFIG', 0],
    ['fractional workers', [{ ...GOOD_QUEUE, workers: 1.5 }], 'INVALID_QUEUE_CONFIG', 1.5],
    ['batch size 0', [{ ...GOOD_QUEUE, batchSize: 0 }], 'INVALID_QUEUE_CONFIG', 0],
    ['batch size above the cap', [{ ...GOOD_QUEUE, batchSize: 5000 }], 'INVALID_QUEUE_CONFIG', 5000],
    ['negative sleep interval', [{ ...GOOD_QUEUE, sleepInterval: -1 }], 'INVALID_QUEUE_CONFIG', -1],
    [
      'NaN sleep interval',
      [{ ...GOOD_QUEUE, sleepInterval: Number.NaN }],
      'INVALID_QUEUE_CONFIG',
      Number.NaN,
    ],
    ['negative lease', [{ ...GOOD_QUEUE, leaseDuration: -5 }], 'INVALID_QUEUE_CONFIG', -5],
    ['a word for prefetch', [{ ...GOOD_QUEUE, prefetch: 'lots' }], 'INVALID_QUEUE_CONFIG', 'lots'],
    ['negative prefetch', [{ ...GOOD_QUEUE, prefetch: -1 }], 'INVALID_QUEUE_CONFIG', -1],
    ['fractional prefetch', [{ ...GOOD_QUEUE, prefetch: 2.5 }], 'INVALID_QUEUE_CONFIG', 2.5],
    ['prefetch above the cap', [{ ...GOOD_QUEUE, prefetch: 10_001 }], 'INVALID_QUEUE_CONFIG', 10_001],
    [
      'unknown archive policy',
      [{ ...GOOD_QUEUE, archivePolicy: 'sometimes' }],
      'INVALID_QUEUE_CONFIG',
      'sometimes',
    ],
    ['duplicate queue names', [GOOD_QUEUE, { ...GOOD_QUEUE }], 'DUPLICATE_QUEUE', 'q'],
    [
      'a queue name with spaces',
      [{ ...GOOD_QUEUE, queueName: 'my queue' }],
      'INVALID_QUEUE_CONFIG',
      'my queue',
    ],
    ['not an array', 'q', 'INVALID_CONFIG', 'q'],
    ['a null entry', [null], 'INVALID_QUEUE_CONFIG', null],
    [
      'a misspelt option',
      [{ ...GOOD_QUEUE, sleepIntervall: 100 }],
      'INVALID_QUEUE_CONFIG',
      ['sleepIntervall'],
    ],
    [
      "another queue's option name",
      [{ ...GOOD_QUEUE, concurrency: 5 }],
      'INVALID_QUEUE_CONFIG',
      ['concurrency'],
    ],
  ];
  it.each(cases)('%s', (_name, queues, code, value) => {
    expectBusError(() => createBus({ store: memoryStore(), queues: queues as QueueConfig[] }), code, value);
  });

  it('a handler whose queue has no configuration fails init with QUEUE_NOT_CONFIGURED', async () => {
    const registry = new Registry();
    registry.register(
      defineEvent<object>('cfg.event'),
      simpleHandler('cfg.handler', { queueName: 'missing' }),
    );
    const bus = createBus({ store: memoryStore(), registry, queues: [GOOD_QUEUE] });
    await expectRejects(bus.init(), 'QUEUE_NOT_CONFIGURED', 'missing');
  });

  it('bad bus options fail at createBus', () => {
    expectBusError(
      () => createBus({ store: memoryStore(), queues: [GOOD_QUEUE], rescueInterval: 0 }),
      'INVALID_CONFIG',
      0,
    );
    expectBusError(() => createBus({ store: {} as never, queues: [GOOD_QUEUE] }), 'INVALID_CONFIG');
    expectBusError(
      () => createBus({ store: memoryStore(), queues: [GOOD_QUEUE], archiveRetention: -1 }),
      'INVALID_CONFIG',
      -1,
    );
    expectBusError(
      () => createBus({ store: memoryStore(), queues: [GOOD_QUEUE], telemetry: 5 as never }),
      'INVALID_CONFIG',
      5,
    );
    const badHook = { settled: 'count me' };
    expectBusError(
      () => createBus({ store: memoryStore(), queues: [GOOD_QUEUE], telemetry: badHook as never }),
      'INVALID_CONFIG',
      badHook,
    );
  });
});
