import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, waitFor } from '../../bus-testing/src/index.js';
import { type ArchivePolicy, decodePayload, defineEvent, Registry, shouldArchive } from '../src/index.js';
import { archiveOf, handlerClass, makeBus, queue } from './support.js';

// Each queue's archive policy decides which finished rows the archive keeps.

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});

describe('archive policy', () => {
  const cases: [ArchivePolicy, 'completed' | 'failed'][] = [];
  for (const policy of ['all', 'none', 'failed', 'completed'] as const) {
    cases.push([policy, 'completed'], [policy, 'failed']);
  }
  it.each(cases)('policy %s, outcome %s', async (policy, outcome) => {
    const Event = defineEvent<{ n: number }>('archive.event');
    const registry = new Registry();
    registry.register(
      Event,
      handlerClass('archive.handler', { queueName: 'q' }, () => {
        if (outcome === 'failed') throw new Error('handler says no');
      }),
    );
    const bus = await makeBus({ store, registry, queues: [queue('q', { archivePolicy: policy })] });
    const [id] = await bus.publish(Event, { n: 1 });
    await bus.controller.startWorkers();
    await waitFor(async () => (await store.inspect.listEvents({ ids: [id!], limit: 1 })).length === 0, {
      message: 'row settled',
    });
    const archived = await archiveOf(store, id!);
    if (shouldArchive(policy, outcome)) {
      expect(archived).toMatchObject({
        id,
        status: outcome,
        attempts: 1,
        handlerName: 'archive.handler',
      });
      expect(decodePayload(archived!.payload)).toEqual({ n: 1 });
      expect(archived!.finishedAt).toBeInstanceOf(Date);
      if (outcome === 'failed') expect(archived!.lastError).toContain('handler says no');
    } else {
      expect(archived).toBeUndefined();
    }
  });
});
