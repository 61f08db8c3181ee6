import assert from 'node:assert/strict';
import type { PauseRow } from 'bus-core/driver';
import type { SuiteContext } from './context.js';
import { assertWithin, timed, untilPast } from './support.js';

/** `admin.pause`/`resume` and `inspect.listPauses`: a queue or one handler, idempotent, the first pause time kept. */
export function pauseTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  /** The pauses of the queues this test uses (another test's leftovers are not its business). */
  const pausesOf = async (...queues: string[]): Promise<PauseRow[]> =>
    (await s.store.inspect.listPauses()).filter((p) => queues.includes(p.queue));

  describe('admin.pause / admin.resume', () => {
    it('pauses a queue once: a second pause changes nothing and keeps the first time', async () => {
      const { result, before, after } = await timed(s.store, () => s.store.admin.pause({ queue: 'pa' }));
      assert.equal(result, true);
      const [first] = await pausesOf('pa');
      assert.deepEqual([first?.queue, first?.handlerName], ['pa', null]);
      assertWithin(first?.pausedAt, before, after, 'pausedAt');
      await untilPast(s.store, first!.pausedAt.getTime() + 5);
      assert.equal(await s.store.admin.pause({ queue: 'pa', handlerName: null }), false);
      const [again] = await pausesOf('pa');
      assert.equal(again?.pausedAt.getTime(), first?.pausedAt.getTime(), 'the first pause time is kept');
      assert.equal(await s.store.admin.resume({ queue: 'pa' }), true);
      assert.equal(await s.store.admin.resume({ queue: 'pa' }), false);
      assert.deepEqual(await pausesOf('pa'), []);
    });

    it('a handler pause is its own: resuming it leaves the queue paused, and the other way round', async () => {
      assert.equal(await s.store.admin.pause({ queue: 'pb', handlerName: 'h.one' }), true);
      assert.equal(await s.store.admin.pause({ queue: 'pb' }), true);
      assert.equal(await s.store.admin.pause({ queue: 'pb', handlerName: 'h.two' }), true);
      assert.equal(await s.store.admin.pause({ queue: 'pc', handlerName: 'h.one' }), true);
      assert.deepEqual(
        (await pausesOf('pb', 'pc')).map((p) => [p.queue, p.handlerName]),
        [
          ['pb', null],
          ['pb', 'h.one'],
          ['pb', 'h.two'],
          ['pc', 'h.one'],
        ],
        'in (queue, handler) order, the whole queue first',
      );
      assert.equal(await s.store.admin.resume({ queue: 'pb', handlerName: 'h.one' }), true);
      assert.equal(await s.store.admin.resume({ queue: 'pb', handlerName: 'h.three' }), false);
      assert.deepEqual(
        (await pausesOf('pb')).map((p) => p.handlerName),
        [null, 'h.two'],
      );
      assert.equal(await s.store.admin.resume({ queue: 'pb' }), true);
      assert.deepEqual(
        (await pausesOf('pb', 'pc')).map((p) => [p.queue, p.handlerName]),
        [
          ['pb', 'h.two'],
          ['pc', 'h.one'],
        ],
      );
    });

    it('in a transaction: a rolled-back pause or resume leaves no trace', async () => {
      await s.store
        .transaction(async (tx) => {
          assert.equal(await s.store.admin.pause({ queue: 'pt', tx }), true);
          throw new Error('roll back');
        })
        .catch(() => undefined);
      assert.deepEqual(await pausesOf('pt'), []);
      await s.store.transaction(async (tx) => {
        await s.store.admin.pause({ queue: 'pt', handlerName: 'h', tx });
      });
      await s.store
        .transaction(async (tx) => {
          assert.equal(await s.store.admin.resume({ queue: 'pt', handlerName: 'h', tx }), true);
          throw new Error('roll back');
        })
        .catch(() => undefined);
      assert.deepEqual(
        (await pausesOf('pt')).map((p) => p.handlerName),
        ['h'],
      );
    });

    it('takes queue and handler names with quotes, wildcards and unicode as they are', async () => {
      const queue = `it's "q" %_ Grüße 🚀`;
      const handlerName = `h'% _\\`;
      assert.equal(await s.store.admin.pause({ queue, handlerName }), true);
      assert.equal(await s.store.admin.pause({ queue: `it's "q" %_ Grüße 🚀`, handlerName: 'h' }), true);
      const mine = await pausesOf(queue);
      assert.deepEqual(
        mine.map((p) => p.handlerName),
        ['h', handlerName],
      );
      assert.equal(await s.store.admin.resume({ queue, handlerName }), true);
    });
  });
}
