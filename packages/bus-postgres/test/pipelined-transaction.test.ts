import { isBusError } from 'bus-core';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Statements } from '../src/run.js';
import { createTestSchema, type TestSchema } from './helpers.js';

// The limited claim's transaction (Statements.pipelinedTransaction): BEGIN sent with the first
// statements and COMMIT, when asked, behind the last one, on a reserved connection of the pool.
// What a user would check: what it wrote is there exactly when it succeeded, a failure comes
// back as the statement's own error with nothing written, and the connection goes back to the
// pool clean (no transaction left open on it for the next user).

let t: TestSchema;
let statements: Statements;

beforeAll(async () => {
  // One connection: every call below reuses the connection the transaction had reserved.
  t = await createTestSchema('pipelined', { max: 1 });
  await t.client.unsafe('CREATE TABLE marks (n int PRIMARY KEY)');
  statements = new Statements(t.db, 5_000);
});

afterAll(async () => {
  await t?.drop();
});

const marks = async (): Promise<number[]> =>
  (await t.client.unsafe('SELECT n FROM marks ORDER BY n')).map((r) => Number(r.n));
const insertMark = (tx: Parameters<Parameters<Statements['pipelinedTransaction']>[0]>[0], n: number) =>
  statements.rows('mark', sql`INSERT INTO marks (n) VALUES (${n}::int4) RETURNING n::text`, tx);
// Whether the pool's connection is inside a transaction: now() is the transaction's start, so two
// statements of one transaction see the same now(); outside one, each statement has its own.
const inTransaction = async (): Promise<boolean> => {
  const [row] = await t.client.unsafe(
    'SELECT (now() <> statement_timestamp()) OR (txid_current_if_assigned() IS NOT NULL) AS open',
  );
  return row?.open === true;
};

describe('Statements.pipelinedTransaction on postgres.js', () => {
  it('commits every statement, in call order, when COMMIT is sent right behind the last one', async () => {
    await t.client.unsafe('TRUNCATE marks');
    const out = await statements.pipelinedTransaction(async (tx, commitNow) => {
      const first = insertMark(tx, 1);
      const second = insertMark(tx, 2);
      commitNow();
      return (await Promise.all([first, second])).flat().length;
    });
    expect(out).toBe(2);
    expect(await marks()).toEqual([1, 2]);
    expect(await inTransaction()).toBe(false);
  });

  it('a failing statement fails the call with its own error and writes nothing, COMMIT sent or not', async () => {
    for (const early of [false, true]) {
      await t.client.unsafe('TRUNCATE marks');
      const attempt = statements.pipelinedTransaction(async (tx, commitNow) => {
        const first = insertMark(tx, 1);
        // The same key again: a unique violation.
        const second = insertMark(tx, 1);
        if (early) commitNow();
        await Promise.all([first, second]);
        return 'unreachable';
      });
      const error = await attempt.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isBusError(error), String(error)).toBe(true);
      expect(String((error as Error).message)).toMatch(/mark/);
      expect(await marks(), `early COMMIT: ${early}`).toEqual([]);
      expect(await inTransaction()).toBe(false);
    }
  });

  it('an error thrown between statements rolls back what was written before it', async () => {
    await t.client.unsafe('TRUNCATE marks');
    const error = await statements
      .pipelinedTransaction(async (tx) => {
        await insertMark(tx, 7);
        throw new Error('the policy gave up');
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((error as Error).message).toBe('the policy gave up');
    expect(await marks()).toEqual([]);
    expect(await inTransaction()).toBe(false);
  });

  it('no connection free within the statement timeout: STORE_TIMEOUT, nothing ran, and the late connection goes back to the pool', async () => {
    await t.client.unsafe('TRUNCATE marks');
    const short = new Statements(t.db, 200);
    // The pool's only connection, held elsewhere.
    const held = await t.client.reserve();
    let ran = false;
    const startedAt = Date.now();
    const error = await short
      .pipelinedTransaction(async () => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(isBusError(error, 'STORE_TIMEOUT'), String(error)).toBe(true);
    expect(String((error as Error).message)).toMatch(/no connection was free within 200 ms/);
    expect(Date.now() - startedAt).toBeLessThan(2_000);
    expect(ran).toBe(false);
    held.release();
    // The reservation that came too late is handed back: the pool serves the next caller.
    expect(await marks()).toEqual([]);
    expect(await inTransaction()).toBe(false);
  });

  it('holds a row lock from its first statement to its COMMIT: a second one waits, then sees the first one committed', async () => {
    await t.client.unsafe('TRUNCATE marks');
    await t.client.unsafe('INSERT INTO marks (n) VALUES (0)');
    // Two connections for two transactions at once.
    const other = await createTestSchema('pipelined2', { max: 2 });
    try {
      await other.client.unsafe(`CREATE TABLE marks (n int PRIMARY KEY)`);
      await other.client.unsafe('INSERT INTO marks (n) VALUES (0)');
      const two = new Statements(other.db, 5_000);
      const lock = (tx: Parameters<Parameters<Statements['pipelinedTransaction']>[0]>[0]) =>
        two.rows('lock', sql`SELECT n::text FROM marks WHERE n = ${0}::int4 FOR UPDATE`, tx);
      const count = (tx: Parameters<Parameters<Statements['pipelinedTransaction']>[0]>[0]) =>
        two.rows('count', sql`SELECT count(*)::text FROM marks WHERE n > ${0}::int4`, tx);
      const add = (tx: Parameters<Parameters<Statements['pipelinedTransaction']>[0]>[0], n: number) =>
        two.rows('add', sql`INSERT INTO marks (n) VALUES (${n}::int4) RETURNING n::text`, tx);
      // Each: lock, count, insert count + 1, COMMIT: the counts must be 0 then 1, never 0 twice.
      const step = () =>
        two.pipelinedTransaction(async (tx, commitNow) => {
          const locked = lock(tx);
          const seen = Number((await count(tx))[0]![0]);
          await locked;
          const added = add(tx, seen + 1);
          commitNow();
          await added;
          return seen;
        });
      const seen = await Promise.all([step(), step()]);
      expect(seen.sort()).toEqual([0, 1]);
    } finally {
      await other.drop();
    }
  });
});
