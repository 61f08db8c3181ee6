import assert from 'node:assert/strict';
import { encodePayload } from 'bus-core';
import { CONTRACT_LIMITS, type NewEventRow, type RescueDecision } from 'bus-core/driver';
import type { SuiteContext } from './context.js';
import { HOSTILE_STRINGS } from './payloads.js';
import {
  allArchived,
  allLive,
  archived,
  claim,
  claimFor,
  insert,
  live,
  row,
  sorted,
  untilExpired,
} from './support.js';

// A carrier as the core writes it (W3C traceparent and tracestate as JSON), and two others.
const TRACE_A =
  '{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"}';
const TRACE_B = '{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}';
const TRACE_C = '{"traceparent":"00-a3ce929d0e0e47364bf92f3577b34da6-b7ad6b7169203331-00"}';

/** `rows` with `traceContext` set only where `contexts` has a string or null (undefined: the key is absent). */
function traced(queue: string, contexts: readonly (string | null | undefined)[]): NewEventRow[] {
  return contexts.map((traceContext) =>
    row({ queue, maxRetries: 3, ...(traceContext === undefined ? {} : { traceContext }) }),
  );
}

/** What a row inserted with `traceContext` must give back: the text, or null when it had none. */
function expected(traceContext: string | null | undefined): string | null {
  return traceContext ?? null;
}

/**
 * The `trace_context` column: any text up to `maxTraceContextChars`, given back exactly by
 * `claim`, `listEvents` and, once settled or rescued into the archive, `listArchive`; `null` for a
 * row inserted without one.
 */
export function traceContextTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  /** Asserts the trace context of every listed row of `ids` (live rows, or archived with `archive`). */
  async function assertListed(
    ids: readonly string[],
    contexts: readonly (string | null | undefined)[],
    where: 'live' | 'archive',
  ): Promise<void> {
    const listed =
      where === 'live'
        ? await s.store.inspect.listEvents({ ids: [...ids], limit: ids.length })
        : await s.store.inspect.listArchive({ ids: [...ids], limit: ids.length });
    const byId = new Map(listed.map((r) => [r.id, r.traceContext]));
    ids.forEach((id, n) => {
      assert.ok(byId.has(id), `row ${id} is in the ${where} table`);
      assert.equal(
        byId.get(id),
        expected(contexts[n]),
        `trace context of row ${n} (${id}) in the ${where} table`,
      );
    });
  }

  describe('trace context', () => {
    it('claim and listEvents give back the inserted trace context exactly; a row without one gives null', async () => {
      const contexts = [TRACE_A, undefined, null, TRACE_B];
      const ids = await insert(s.store, traced('q', contexts.slice(0, 3)));
      // The fourth row in a transaction: the same column, written through the caller's transaction.
      ids.push(
        ...(await s.store.transaction((tx) => s.store.insert({ rows: traced('q', contexts.slice(3)), tx }))),
      );
      await assertListed(ids, contexts, 'live');
      const claimed = await claim(s.store, 'q');
      assert.deepEqual(sorted(claimed.map((c) => c.id)), sorted(ids));
      for (const c of claimed) {
        const n = ids.indexOf(c.id);
        assert.equal(c.traceContext, expected(contexts[n]), `trace context of claimed row ${n}`);
      }
      await assertListed(ids, contexts, 'live');
    });

    it('settle: completed and failed rows keep their trace context in the archive; a retried row keeps it live', async () => {
      const contexts = [TRACE_A, TRACE_B, undefined, TRACE_C];
      const [done, failed, plain, retried] = (await insert(s.store, traced('q', contexts))) as [
        string,
        string,
        string,
        string,
      ];
      await claim(s.store, 'q');
      const { settled } = await s.store.settle({
        workerId: 'w',
        outcomes: [
          { kind: 'completed', id: done, attempt: 1, archive: true },
          { kind: 'failed', id: failed, attempt: 1, archive: true, error: 'for good' },
          { kind: 'completed', id: plain, attempt: 1, archive: true },
          { kind: 'retry', id: retried, attempt: 1, delayMs: 0, error: 'again' },
        ],
      });
      assert.equal(settled.length, 4);
      await assertListed([done, failed, plain], contexts.slice(0, 3), 'archive');
      await assertListed([retried], [TRACE_C], 'live');
      const [again] = await claim(s.store, 'q');
      assert.deepEqual([again?.id, again?.attempts, again?.traceContext], [retried, 2, TRACE_C]);
      await s.store.settle({
        workerId: 'w',
        outcomes: [{ kind: 'failed', id: retried, attempt: 2, archive: true, error: 'twice' }],
      });
      const last = await archived(s.store, retried);
      assert.deepEqual([last?.status, last?.traceContext], ['failed', TRACE_C]);
    });

    it('rescue: a failed decision archives the trace context; a retry decision keeps it on the row', async () => {
      const contexts = [TRACE_A, TRACE_B, null];
      const [failed, retried, plain] = (await insert(s.store, traced('q', contexts))) as [
        string,
        string,
        string,
      ];
      await claimFor(s.store, { queue: 'q', limit: 10, workerId: 'dead', leaseMs: 1 });
      await untilExpired(s.store, 'q', [failed, retried, plain]);
      const decisions: RescueDecision[] = [
        { kind: 'failed', id: failed, attempt: 1, workerId: 'dead', archive: true, error: 'expired' },
        { kind: 'retry', id: retried, attempt: 1, workerId: 'dead', delayMs: 0, error: 'expired' },
        { kind: 'failed', id: plain, attempt: 1, workerId: 'dead', archive: true, error: 'expired' },
      ];
      assert.deepEqual(sorted(await s.store.rescue({ decisions })), sorted([failed, retried, plain]));
      await assertListed([failed, plain], [TRACE_A, null], 'archive');
      assert.equal((await archived(s.store, failed))?.status, 'failed');
      await assertListed([retried], [TRACE_B], 'live');
      const [again] = await claim(s.store, 'q', 'fresh');
      assert.deepEqual([again?.id, again?.traceContext], [retried, TRACE_B]);
    });

    it('any text up to maxTraceContextChars comes back exactly: 1000 characters of unicode, garbage, quotes, backslashes, emoji', async () => {
      const max = CONTRACT_LIMITS.maxTraceContextChars;
      // Two- and three-byte characters, then emoji (surrogate pairs, ZWJ sequences) to the last unit.
      const unicode = `${'é'.repeat(300)}${'世'.repeat(300)}${'Ω'.repeat(190)}${'👩‍👩‍👧'.repeat(25)}${'🚀'.repeat(5)}`;
      const cases: [string, string][] = [
        [`${max} characters of mixed unicode ending in an emoji`, unicode],
        [`${max} three-byte characters`, '世界'.repeat(max / 2)],
        [`${max / 2} emoji (four bytes each)`, '🚀'.repeat(max / 2)],
        [`${max} ASCII characters`, 'x'.repeat(max)],
        ['not a traceparent', 'not a traceparent'],
        ['cut-off JSON', '{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f0'],
        ['a traceparent that is not JSON', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
        ['JSON of the wrong shape', '[{"traceparent":null},"\\u0000",1e999]'],
        ['empty text (not null)', ''],
        ['spaces only', '   '],
        ...HOSTILE_STRINGS.map((h): [string, string] => [`hostile ${JSON.stringify(h)}`, h]),
      ];
      for (const [what, text] of cases.slice(0, 4))
        assert.equal(text.length, max, `${what}: the limit exactly`);
      const texts = cases.map(([, text]) => text);
      const ids = await insert(s.store, traced('tc-text', texts));
      const check = (got: string | null | undefined, n: number, where: string) =>
        assert.equal(got, texts[n], `${cases[n]![0]}: ${where}`);
      const listedLive = new Map((await allLive(s.store, 'tc-text')).map((r) => [r.id, r.traceContext]));
      for (const [n, id] of ids.entries()) check(listedLive.get(id), n, 'listEvents');
      const claimed = await claim(s.store, 'tc-text');
      assert.equal(claimed.length, ids.length);
      for (const c of claimed) check(c.traceContext, ids.indexOf(c.id), 'claim');
      await s.store.settle({
        workerId: 'w',
        outcomes: claimed.map((c, n) =>
          n % 2 === 0
            ? { kind: 'completed' as const, id: c.id, attempt: 1, archive: true }
            : { kind: 'failed' as const, id: c.id, attempt: 1, archive: true, error: 'x' },
        ),
      });
      const listedArchive = new Map(
        (await allArchived(s.store, 'tc-text')).map((r) => [r.id, r.traceContext]),
      );
      for (const [n, id] of ids.entries()) check(listedArchive.get(id), n, 'listArchive');
    });

    it('rows of one insert keep their own trace contexts, over two queues and shared payloads', async () => {
      const payload = encodePayload({ shared: 'by every row of one event' });
      const contexts = Array.from({ length: 300 }, (_, n) =>
        n % 4 === 0
          ? undefined
          : n % 4 === 1
            ? null
            : `{"traceparent":"00-${n.toString(16).padStart(32, '0')}-${(n + 1).toString(16).padStart(16, '0')}-01"${n % 4 === 3 ? `,"tracestate":"n=${n} ü"` : ''}}`,
      );
      const rows = contexts.map((traceContext, n) => ({
        ...traced(n % 2 === 0 ? 'tc-even' : 'tc-odd', [traceContext])[0]!,
        payload,
        priority: -(n % 5),
      }));
      const ids = await insert(s.store, rows);
      await assertListed(ids, contexts, 'live');
      const claimed = [...(await claim(s.store, 'tc-even')), ...(await claim(s.store, 'tc-odd'))];
      assert.equal(claimed.length, 300);
      for (const c of claimed) {
        const n = ids.indexOf(c.id);
        assert.equal(c.traceContext, expected(contexts[n]), `trace context of claimed row ${n}`);
      }
      await s.store.settle({
        workerId: 'w',
        outcomes: claimed.map((c) => ({ kind: 'completed' as const, id: c.id, attempt: 1, archive: true })),
      });
      await assertListed(ids, contexts, 'archive');
      assert.equal(await live(s.store, ids[0]!), undefined);
    });
  });
}
