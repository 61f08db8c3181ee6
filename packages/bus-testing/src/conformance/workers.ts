import assert from 'node:assert/strict';
import type { SuiteContext } from './context.js';
import { assertSameInstant, assertWithin, dbNow, timed, untilPast } from './support.js';

/** `admin.recordWorker`/`removeWorker` and `inspect.listWorkers`: heartbeats upserted, listed by how recent. */
export function workerTests(s: SuiteContext): void {
  const { describe, it } = s.runner;
  const ALL = { seenWithinMs: 86_400_000 };

  describe('admin.recordWorker / removeWorker, inspect.listWorkers', () => {
    it('records a worker (started and last seen now), updates it on the next heartbeat, and removes it', async () => {
      const info = 'host "a" pid 1 — ünïcode';
      const { before, after } = await timed(s.store, () =>
        s.store.admin.recordWorker({ workerId: 'wk-1', queues: ['email', `it's %_`], info }),
      );
      const [first] = (await s.store.inspect.listWorkers(ALL)).filter((w) => w.workerId === 'wk-1');
      assert.deepEqual([first?.queues, first?.info], [['email', `it's %_`], info]);
      assertWithin(first?.startedAt, before, after, 'startedAt');
      assertWithin(first?.lastSeenAt, before, after, 'lastSeenAt');
      await untilPast(s.store, first!.lastSeenAt.getTime() + 5);
      const beat = await timed(s.store, () =>
        s.store.admin.recordWorker({ workerId: 'wk-1', queues: [], info: 'restarted' }),
      );
      const [second] = (await s.store.inspect.listWorkers(ALL)).filter((w) => w.workerId === 'wk-1');
      assert.deepEqual([second?.queues, second?.info], [[], 'restarted']);
      assertSameInstant(second?.startedAt, first!.startedAt, 'startedAt kept');
      assertWithin(second?.lastSeenAt, beat.before, beat.after, 'lastSeenAt moved');
      await s.store.admin.removeWorker({ workerId: 'wk-1' });
      await s.store.admin.removeWorker({ workerId: 'wk-1' });
      await s.store.admin.removeWorker({ workerId: 'never-there' });
      assert.deepEqual(
        (await s.store.inspect.listWorkers(ALL)).filter((w) => w.workerId === 'wk-1'),
        [],
      );
    });

    it('lists only workers seen within seenWithinMs of the database clock, by worker id', async () => {
      await s.store.admin.recordWorker({ workerId: 'wk-old', queues: ['q'], info: 'old' });
      const [old] = (await s.store.inspect.listWorkers(ALL)).filter((w) => w.workerId === 'wk-old');
      await untilPast(s.store, old!.lastSeenAt.getTime() + 1_000);
      await s.store.admin.recordWorker({ workerId: 'wk-b', queues: ['q'], info: 'b' });
      await s.store.admin.recordWorker({ workerId: 'wk-a', queues: ['q'], info: 'a' });
      const mine = (ids: { workerId: string }[]) =>
        ids.map((w) => w.workerId).filter((id) => id.startsWith('wk-'));
      assert.deepEqual(mine(await s.store.inspect.listWorkers(ALL)), ['wk-a', 'wk-b', 'wk-old']);
      // A window that ends half a second after the old heartbeat, measured now: only the fresh two.
      const window = (await dbNow(s.store)) - old!.lastSeenAt.getTime() - 500;
      assert.deepEqual(mine(await s.store.inspect.listWorkers({ seenWithinMs: window })), ['wk-a', 'wk-b']);
    });
  });
}
