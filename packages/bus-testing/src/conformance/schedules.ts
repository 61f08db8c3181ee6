import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { SuiteContext } from './context.js';
import { dbNow } from './support.js';

/** `schedules`: the shared state of recurring schedules. */
export function scheduleTests(s: SuiteContext): void {
  const { describe, it } = s.runner;
  const name = () => `s-${randomUUID().slice(0, 8)}`;
  const rowOf = async (n: string) => (await s.store.schedules.list()).find((r) => r.name === n);

  describe('schedules', () => {
    it('sync creates missing schedules anchored at now and moves the anchor on a new signature', async () => {
      const a = name();
      const before = await dbNow(s.store);
      await s.store.schedules.sync({ schedules: [{ name: a, signature: 'every 1000' }] });
      const created = await rowOf(a);
      assert.ok(created);
      assert.equal(created.paused, false);
      assert.equal(created.lastTickAt, null);
      assert.equal(created.signature, 'every 1000');
      assert.ok(
        created.anchorAt.getTime() >= before - 1000 &&
          created.anchorAt.getTime() <= (await dbNow(s.store)) + 1000,
      );
      await s.store.schedules.recordTick({
        name: a,
        tickAt: new Date(created.anchorAt.getTime() + 1),
        nextTickAt: null,
        signature: 'every 1000',
      });
      await s.store.schedules.sync({ schedules: [{ name: a, signature: 'every 1000' }] });
      assert.equal(
        (await rowOf(a))!.anchorAt.getTime(),
        created.anchorAt.getTime(),
        'same signature: unchanged',
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
      await s.store.schedules.sync({ schedules: [{ name: a, signature: 'every 2000' }] });
      const changed = await rowOf(a);
      assert.equal(changed!.signature, 'every 2000');
      assert.ok(changed!.anchorAt.getTime() >= created.anchorAt.getTime());
      assert.equal(changed!.lastTickAt?.getTime(), created.anchorAt.getTime() + 1, 'the last tick is kept');
    });

    it('recordTick moves the last tick forward only, and not for a paused or other-signature schedule', async () => {
      const a = name();
      await s.store.schedules.sync({ schedules: [{ name: a, signature: 'sig' }] });
      const t = new Date(Date.UTC(2030, 0, 1));
      const next = new Date(t.getTime() + 1000);
      const record = (tickAt: Date, signature = 'sig') =>
        s.store.schedules.recordTick({ name: a, tickAt, nextTickAt: next, signature });
      assert.equal(await record(t), true);
      assert.equal(await record(t), false, 'the same tick again');
      assert.equal(await record(new Date(t.getTime() - 1000)), false, 'an older tick');
      assert.equal(await record(next, 'other'), false, 'another signature');
      const row = await rowOf(a);
      assert.equal(row!.lastTickAt?.getTime(), t.getTime());
      assert.equal(row!.nextTickAt?.getTime(), next.getTime());
      assert.equal(await s.store.schedules.setPaused({ name: a, paused: true }), true);
      assert.equal((await rowOf(a))!.paused, true);
      assert.equal(await record(next), false, 'paused');
      assert.equal(await s.store.schedules.setPaused({ name: a, paused: false }), true);
      assert.equal(await record(next), true);
      assert.equal(await s.store.schedules.setPaused({ name: name(), paused: true }), false, 'unknown');
      assert.equal(
        await s.store.schedules.recordTick({ name: name(), tickAt: t, nextTickAt: null, signature: 'sig' }),
        false,
        'unknown schedule',
      );
    });

    it('lets one of several concurrent transactions record a tick', async () => {
      const a = name();
      await s.store.schedules.sync({ schedules: [{ name: a, signature: 'sig' }] });
      const tickAt = new Date(Date.UTC(2030, 0, 1));
      const results = await Promise.all(
        Array.from({ length: 6 }, () =>
          s.store.transaction(async (tx) => {
            const ok = await s.store.schedules.recordTick({
              name: a,
              tickAt,
              nextTickAt: null,
              signature: 'sig',
              tx,
            });
            await new Promise((resolve) => setTimeout(resolve, 5));
            return ok;
          }),
        ),
      );
      assert.equal(results.filter(Boolean).length, 1, JSON.stringify(results));
    });
  });
}
