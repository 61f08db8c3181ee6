import assert from 'node:assert/strict';
import type { QueueCounts } from 'bus-core';
import { CONTRACT_LIMITS } from 'bus-core/driver';
import type { SuiteContext } from './context.js';
import {
  archivedAs,
  assertSameInstant,
  claim,
  claimFor,
  dbNow,
  held,
  insert,
  LONG_LEASE,
  live,
  numericOrder,
  row,
  untilExpired,
} from './support.js';

/** `inspect`: list filters (queue, ids, afterId, status, limit) in id order, every counter of countByQueue and its oldestAvailableAt. */
export function inspectTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('inspect.listEvents', () => {
    it('lists in id order and applies queue, ids, afterId and limit together', async () => {
      const ids = await insert(
        s.store,
        Array.from({ length: 24 }, (_, n) => row({ queue: n % 2 === 0 ? 'even' : 'odd', priority: n })),
      );
      const all = await s.store.inspect.listEvents({ limit: 100 });
      assert.deepEqual(
        all.map((r) => r.id),
        numericOrder(ids),
        'numeric id order',
      );
      const even = ids.filter((_, n) => n % 2 === 0);
      assert.deepEqual(
        (await s.store.inspect.listEvents({ queue: 'even', limit: 100 })).map((r) => r.id),
        even,
      );
      assert.deepEqual(
        (await s.store.inspect.listEvents({ queue: 'even', limit: 3 })).map((r) => r.id),
        even.slice(0, 3),
        'limit',
      );
      const picked = [ids[3]!, ids[0]!, ids[10]!, String(BigInt(ids[23]!) + 1_000_000n)];
      assert.deepEqual(
        (await s.store.inspect.listEvents({ ids: picked, limit: 100 })).map((r) => r.id),
        [ids[0], ids[3], ids[10]],
        'ids, in id order, a missing id matching nothing',
      );
      assert.deepEqual(
        (await s.store.inspect.listEvents({ ids: picked, queue: 'even', limit: 100 })).map((r) => r.id),
        [ids[0], ids[10]],
        'ids and queue',
      );
      assert.deepEqual(
        (await s.store.inspect.listEvents({ afterId: ids[20]!, limit: 100 })).map((r) => r.id),
        ids.slice(21),
        'afterId',
      );
      assert.deepEqual(
        (await s.store.inspect.listEvents({ afterId: ids[20]!, queue: 'odd', limit: 100 })).map((r) => r.id),
        [ids[21], ids[23]],
        'afterId and queue',
      );
      assert.deepEqual(await s.store.inspect.listEvents({ queue: 'nobody', limit: 100 }), []);
    });

    it('pages through every row with afterId', async () => {
      const ids = await insert(
        s.store,
        Array.from({ length: 23 }, () => row()),
      );
      const seen: string[] = [];
      let afterId: string | undefined;
      for (;;) {
        const page = await s.store.inspect.listEvents({ limit: 5, ...(afterId ? { afterId } : {}) });
        seen.push(...page.map((r) => r.id));
        if (page.length < 5) break;
        afterId = page[page.length - 1]!.id;
      }
      assert.deepEqual(seen, numericOrder(ids));
    });

    it('takes up to maxIds ids and maxListLimit rows', async () => {
      const ids = await insert(
        s.store,
        Array.from({ length: 1_000 }, () => row()),
      );
      assert.equal((await s.store.inspect.listEvents({ ids, limit: 10_000 })).length, 1_000);
      assert.equal((await s.store.inspect.listEvents({ limit: 10_000 })).length, 1_000);
    });
  });

  describe('inspect.listArchive', () => {
    it('applies queue, ids, afterId, status and limit, in id order', async () => {
      const done: string[] = [];
      const failed: string[] = [];
      for (let n = 0; n < 8; n++) {
        const queue = n < 4 ? 'a1' : 'a2';
        const c = await held(s.store, { queue });
        const outcome = n % 2 === 0 ? 'completed' : 'failed';
        await s.store.settle({
          workerId: 'w',
          outcomes: [
            outcome === 'completed'
              ? { kind: 'completed', id: c.id, attempt: 1, archive: true }
              : { kind: 'failed', id: c.id, attempt: 1, archive: true, error: `e${n}` },
          ],
        });
        (outcome === 'completed' ? done : failed).push(c.id);
      }
      const all = [...done, ...failed];
      const list = (p: Parameters<typeof s.store.inspect.listArchive>[0]) =>
        s.store.inspect.listArchive(p).then((rows) => rows.map((r) => r.id));
      assert.deepEqual(await list({ limit: 100 }), numericOrder(all));
      assert.deepEqual(await list({ status: 'completed', limit: 100 }), numericOrder(done));
      assert.deepEqual(await list({ status: 'failed', limit: 100 }), numericOrder(failed));
      assert.deepEqual(
        await list({ status: 'failed', queue: 'a2', limit: 100 }),
        numericOrder(failed).slice(2),
      );
      assert.deepEqual(await list({ status: 'completed', limit: 1 }), numericOrder(done).slice(0, 1));
      assert.deepEqual(await list({ ids: [done[0]!, failed[3]!], status: 'completed', limit: 100 }), [
        done[0],
      ]);
      const ordered = numericOrder(all);
      assert.deepEqual(await list({ afterId: ordered[5]!, limit: 100 }), ordered.slice(6));
      assert.deepEqual(await list({ queue: 'nobody', limit: 100 }), []);
    });
  });

  describe('inspect.countByQueue', () => {
    it('counts available, scheduled, running, retrying and archived rows per queue, in queue-name order', async () => {
      const zero = {
        available: 0,
        scheduled: 0,
        running: 0,
        retrying: 0,
        archivedCompleted: 0,
        archivedFailed: 0,
        archivedCancelled: 0,
      };
      // c-avail: 2 due rows; c-sched: 1 delayed; c-run: 2 leased (one past its lease end);
      // c-retry: one retry due now, one retry due later, one leased after a retry;
      // c-arch: 2 completed and 1 failed in the archive, nothing live.
      await insert(s.store, [
        row({ queue: 'c-avail' }),
        row({ queue: 'c-avail' }),
        row({ queue: 'c-sched', due: 3_600_000 }),
      ]);
      await held(s.store, { queue: 'c-run' }, 'w', 600_000);
      const lapsed = await held(s.store, { queue: 'c-run' }, 'w', 1);
      await untilExpired(s.store, 'c-run', [lapsed.id]);
      const [r1, r2, r3] = await insert(s.store, [
        row({ queue: 'c-retry', maxRetries: 5 }),
        row({ queue: 'c-retry', maxRetries: 5 }),
        row({ queue: 'c-retry', maxRetries: 5 }),
      ]);
      await claim(s.store, 'c-retry');
      await s.store.settle({
        workerId: 'w',
        outcomes: [
          { kind: 'retry', id: r1!, attempt: 1, delayMs: 0, error: 'e' },
          { kind: 'retry', id: r2!, attempt: 1, delayMs: 3_600_000, error: 'e' },
          { kind: 'retry', id: r3!, attempt: 1, delayMs: 0, error: 'e' },
        ],
      });
      const again = await claimFor(s.store, { queue: 'c-retry', limit: 1, workerId: 'w', leaseMs: 600_000 });
      assert.equal(again.length, 1);
      for (let n = 0; n < 3; n++) {
        const c = await held(s.store, { queue: 'c-arch' });
        await s.store.settle({
          workerId: 'w',
          outcomes: [
            n < 2
              ? { kind: 'completed', id: c.id, attempt: 1, archive: true }
              : { kind: 'failed', id: c.id, attempt: 1, archive: true, error: 'x' },
          ],
        });
      }
      const counts: QueueCounts[] = await s.store.inspect.countByQueue();
      assert.deepEqual(
        counts.map(({ oldestAvailableAt: _, ...c }) => c),
        [
          { queue: 'c-arch', ...zero, archivedCompleted: 2, archivedFailed: 1 },
          { queue: 'c-avail', ...zero, available: 2 },
          { queue: 'c-retry', ...zero, available: 1, scheduled: 1, running: 1, retrying: 3 },
          { queue: 'c-run', ...zero, running: 2 },
          { queue: 'c-sched', ...zero, scheduled: 1 },
        ],
      );
      // Only archived, only leased (one lease past its end), only delayed: nothing available.
      for (const queue of ['c-arch', 'c-run', 'c-sched']) {
        assert.equal(counts.find((c) => c.queue === queue)?.oldestAvailableAt, null, `oldest of ${queue}`);
      }
    });

    it('oldestAvailableAt: per queue, the earliest due time of the rows available now; null when none is', async () => {
      const now = await dbNow(s.store);
      const at = (ms: number) => new Date(now + ms);
      // o-mix: the oldest row is leased, the next oldest (priority 5: not the next claim) is the
      // oldest available; a delayed row and rows due later than it do not count.
      const [leased, oldest] = await insert(s.store, [
        row({ queue: 'o-mix', due: at(-300_000), priority: -10 }),
        row({ queue: 'o-mix', due: at(-120_000), priority: 5 }),
        row({ queue: 'o-mix', due: at(-60_000), priority: -1 }),
        row({ queue: 'o-mix' }),
        row({ queue: 'o-mix', due: 3_600_000 }),
      ]);
      // o-other: its own oldest, not o-mix's.
      const [otherOldest] = await insert(s.store, [
        row({ queue: 'o-other', due: at(-30_000) }),
        row({ queue: 'o-other' }),
      ]);
      // o-leased: every row leased, one of them past its lease end. o-later: every row delayed.
      await insert(s.store, [row({ queue: 'o-leased', due: at(-600_000) }), row({ queue: 'o-leased' })]);
      await insert(s.store, [
        row({ queue: 'o-later', due: 60_000 }),
        row({ queue: 'o-later', due: new Date(CONTRACT_LIMITS.maxDueTime) }),
      ]);
      const [lapsing] = await insert(s.store, [row({ queue: 'o-leased', due: at(-900_000) })]);
      const taken = await claimFor(s.store, { queue: 'o-mix', limit: 1, workerId: 'w', leaseMs: LONG_LEASE });
      assert.deepEqual(
        taken.map((c) => c.id),
        [leased],
      );
      await claimFor(s.store, { queue: 'o-leased', limit: 1, workerId: 'w', leaseMs: 1 });
      await untilExpired(s.store, 'o-leased', [lapsing!]);
      assert.equal((await claim(s.store, 'o-leased')).length, 2);
      // o-archived: counted for its archive, with nothing live.
      const done = await held(s.store, { queue: 'o-archived' });
      await s.store.settle({
        workerId: 'w',
        outcomes: [{ kind: 'completed', id: done.id, attempt: 1, archive: true }],
      });

      const oldestOf = async () =>
        new Map((await s.store.inspect.countByQueue()).map((c) => [c.queue, c.oldestAvailableAt]));
      const dueOf = async (id: string) => (await live(s.store, id))!.scheduledAt;
      const counts = await oldestOf();
      assert.deepEqual([...counts.keys()], ['o-archived', 'o-later', 'o-leased', 'o-mix', 'o-other']);
      assertSameInstant(counts.get('o-mix'), await dueOf(oldest!), 'oldest of o-mix');
      assertSameInstant(counts.get('o-other'), await dueOf(otherOldest!), 'oldest of o-other');
      for (const queue of ['o-archived', 'o-later', 'o-leased']) {
        assert.equal(counts.get(queue), null, `oldest of ${queue}`);
      }

      // Claimed away, then handed back: the row counts again, with the due time it had.
      const all = await claim(s.store, 'o-mix');
      assert.equal(all.length, 3);
      assert.equal((await oldestOf()).get('o-mix'), null, 'o-mix with every due row leased');
      const back = all.find((c) => c.id === oldest)!;
      await s.store.release({ workerId: 'w', events: [{ id: back.id, attempt: back.attempts }] });
      assertSameInstant((await oldestOf()).get('o-mix'), await dueOf(oldest!), 'o-mix after a release');
    });

    it('is empty on empty tables', async () => {
      assert.deepEqual(await s.store.inspect.countByQueue(), []);
    });
  });
}

/** The list filters of job control: names, errorContains, state, newestFirst paging, snoozes. */
export function inspectFilterTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('inspect: name, error, state filters and newest-first paging', () => {
    it('listEvents: eventName, handlerName and errorContains (plain text: %, _ and \\ are literal)', async () => {
      const ids = await insert(s.store, [
        row({ eventName: 'e.one', handlerName: 'h.one' }),
        row({ eventName: 'e.two', handlerName: 'h.one' }),
        row({ eventName: 'e.one', handlerName: 'h.two' }),
      ]);
      const list = async (filter: object) =>
        (await s.store.inspect.listEvents({ limit: 100, ...filter })).map((r) => r.id);
      assert.deepEqual(await list({ eventName: 'e.one' }), [ids[0], ids[2]]);
      assert.deepEqual(await list({ handlerName: 'h.one' }), [ids[0], ids[1]]);
      assert.deepEqual(await list({ eventName: 'e.one', handlerName: 'h.one' }), [ids[0]]);
      assert.deepEqual(await list({ eventName: 'E.ONE' }), []);
      const errors = ['50% done_now', 'path C:\\temp\\x', '5000 done now', 'Grüße 🚀 at 50%'];
      const failing: string[] = [];
      for (const error of errors) {
        const c = await held(s.store, { queue: 'ie' });
        await s.store.settle({
          workerId: 'w',
          outcomes: [{ kind: 'retry', id: c.id, attempt: 1, delayMs: 0, error }],
        });
        failing.push(c.id);
      }
      const inQueue = async (errorContains: string) => list({ queue: 'ie', errorContains });
      assert.deepEqual(await inQueue('0% done_'), [failing[0]]);
      assert.deepEqual(await inQueue('0_ done'), [], '_ is not a wildcard');
      assert.deepEqual(await inQueue('5%0'), [], '% is not a wildcard');
      assert.deepEqual(await inQueue(':\\temp\\'), [failing[1]], 'backslashes are literal');
      assert.deepEqual(await inQueue('50%'), [failing[0], failing[3]]);
      assert.deepEqual(await inQueue('grüße'), [], 'case-sensitive');
      assert.deepEqual(await inQueue('Grüße 🚀'), [failing[3]]);
      assert.deepEqual(
        await list({ errorContains: 'done' }),
        [failing[0], failing[2]],
        'rows without an error never match',
      );
    });

    it('listEvents by state, judged by the database clock: available, scheduled, running (an expired lease too)', async () => {
      const [available, scheduled] = await insert(s.store, [
        row({ queue: 'st' }),
        row({ queue: 'st', due: 3_600_000 }),
      ]);
      const [running, expired] = await insert(s.store, [
        row({ queue: 'st', handlerName: 'st.run' }),
        row({ queue: 'st', handlerName: 'st.exp' }),
      ]);
      await claimFor(s.store, {
        queue: 'st',
        limit: 1,
        workerId: 'w',
        leaseMs: LONG_LEASE,
        handlers: ['st.run'],
      });
      await claimFor(s.store, { queue: 'st', limit: 1, workerId: 'w', leaseMs: 1, handlers: ['st.exp'] });
      await untilExpired(s.store, 'st', [expired!]);
      const list = async (state: string) =>
        (await s.store.inspect.listEvents({ queue: 'st', state: state as 'available', limit: 100 })).map(
          (r) => r.id,
        );
      assert.deepEqual(await list('available'), [available]);
      assert.deepEqual(await list('scheduled'), [scheduled]);
      assert.deepEqual(await list('running'), [running, expired]);
    });

    it('newestFirst: descending ids, afterId then means smaller ids; both lists', async () => {
      const ids = numericOrder(
        await insert(
          s.store,
          Array.from({ length: 7 }, () => row({ queue: 'nf' })),
        ),
      );
      const page = async (afterId?: string) =>
        (
          await s.store.inspect.listEvents({
            queue: 'nf',
            newestFirst: true,
            limit: 3,
            ...(afterId === undefined ? {} : { afterId }),
          })
        ).map((r) => r.id);
      const first = await page();
      assert.deepEqual(first, [ids[6], ids[5], ids[4]]);
      const second = await page(first[2]);
      assert.deepEqual(second, [ids[3], ids[2], ids[1]]);
      assert.deepEqual(await page(second[2]), [ids[0]]);
      assert.deepEqual(await page(ids[0]), []);

      const done: string[] = [];
      for (let n = 0; n < 4; n++)
        done.push(await archivedAs(s.store, n % 2 === 0 ? 'failed' : 'cancelled', { queue: 'nfa' }));
      const archivedPage = async (filter: object) =>
        (await s.store.inspect.listArchive({ queue: 'nfa', newestFirst: true, limit: 2, ...filter })).map(
          (r) => r.id,
        );
      assert.deepEqual(await archivedPage({}), [done[3], done[2]]);
      assert.deepEqual(await archivedPage({ afterId: done[2] }), [done[1], done[0]]);
      assert.deepEqual(await archivedPage({ status: 'cancelled' }), [done[3], done[1]]);
      assert.deepEqual(
        (await s.store.inspect.listArchive({ queue: 'nfa', newestFirst: false, limit: 10 })).map((r) => r.id),
        done,
        'newestFirst false is the default order',
      );
    });

    it('listArchive: eventName, handlerName, errorContains and status cancelled', async () => {
      const a = await archivedAs(s.store, 'failed', { eventName: 'ea', handlerName: 'ha' }, 'disk 100% full');
      const b = await archivedAs(
        s.store,
        'cancelled',
        { eventName: 'eb', handlerName: 'ha' },
        'operator: 100_%',
      );
      const c = await archivedAs(s.store, 'completed', { eventName: 'ea', handlerName: 'hb' });
      const list = async (filter: object) =>
        (await s.store.inspect.listArchive({ limit: 100, ...filter })).map((r) => r.id);
      assert.deepEqual(await list({ eventName: 'ea' }), [a, c]);
      assert.deepEqual(await list({ handlerName: 'ha' }), [a, b]);
      assert.deepEqual(await list({ errorContains: '100%' }), [a]);
      assert.deepEqual(await list({ errorContains: '100_' }), [b]);
      assert.deepEqual(await list({ status: 'cancelled', handlerName: 'ha' }), [b]);
    });

    it('listEvents reports snoozes', async () => {
      const c = await held(s.store);
      await s.store.settle({
        workerId: 'w',
        outcomes: [{ kind: 'snooze', id: c.id, attempt: 1, delayMs: 0 }],
      });
      const [listed] = await s.store.inspect.listEvents({ ids: [c.id], limit: 1 });
      assert.deepEqual([listed?.snoozes, listed?.attempts], [1, 0]);
      const [fresh] = await insert(s.store, [row()]);
      assert.equal((await s.store.inspect.listEvents({ ids: [fresh!], limit: 1 }))[0]?.snoozes, 0);
    });
  });
}
