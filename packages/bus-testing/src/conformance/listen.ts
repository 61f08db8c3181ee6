import assert from 'node:assert/strict';
import { waitFor } from '../wait.js';
import type { SuiteContext } from './context.js';
import { assertBusError, rejection, row } from './support.js';

/**
 * `listen`: with `capabilities.notify`, a subscriber is woken for inserts due now, at commit and
 * not before, and not for delayed or rolled-back rows; without it, `listen` rejects UNSUPPORTED.
 */
export function listenTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('listen', () => {
    it('rejects with UNSUPPORTED when the store has no notify, else wakes subscribers for rows due now', async () => {
      const listen = s.store.listen({ onWake: () => {}, onError: () => {} });
      if (!s.store.capabilities.notify) {
        assertBusError(await rejection(listen), 'UNSUPPORTED');
        return;
      }
      await (await listen).close();
      const woken: (string | undefined)[] = [];
      const errors: unknown[] = [];
      const sub = await s.store.listen({
        onWake: (queue) => void woken.push(queue),
        onError: (error) => void errors.push(error),
      });
      try {
        await s.store.insert({ rows: [row({ queue: 'plain' })] });
        await waitFor(() => woken.includes('plain'), { message: 'a wake-up for an insert due now' });

        // Before the commit nothing may arrive: the transaction stays open for a while after its
        // insert (a window in which a premature wake-up would be seen), then commits.
        let committing = false;
        const early: (string | undefined)[] = [];
        await s.store.transaction(async (tx) => {
          await s.store.insert({ tx, rows: [row({ queue: 'in-tx' }), row({ queue: 'in-tx-2' })] });
          await new Promise((resolve) => setTimeout(resolve, 200));
          early.push(...woken.filter((q) => q === 'in-tx' || q === 'in-tx-2'));
          committing = true;
        });
        assert.ok(committing);
        assert.deepEqual(early, [], 'no wake-up before the commit');
        await waitFor(() => woken.includes('in-tx') && woken.includes('in-tx-2'), {
          message: 'wake-ups at the commit',
        });

        await s.store
          .transaction(async (tx) => {
            await s.store.insert({ tx, rows: [row({ queue: 'rolled-back' })] });
            throw new Error('roll back');
          })
          .catch(() => undefined);
        await s.store.insert({ rows: [row({ queue: 'delayed', due: 60_000 })] });
        await s.store.insert({ rows: [row({ queue: 'last' })] });
        await waitFor(() => woken.includes('last'), { message: 'the last wake-up' });
        assert.ok(!woken.includes('rolled-back'), 'no wake-up for a rolled-back insert');
        assert.ok(!woken.includes('delayed'), 'no wake-up for a row due later');
        assert.deepEqual(errors, []);
      } finally {
        await sub.close();
      }
    });
  });
}
