import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../src/index.js';
import { createMySqlDatabase, expectReconciled, interruptAndResume } from './helpers.js';

describe('the demo on MariaDB/MySQL (DATABASE_URL=mysql://…)', () => {
  let database: Awaited<ReturnType<typeof createMySqlDatabase>>;
  beforeAll(async () => {
    database = await createMySqlDatabase();
  });
  afterAll(() => database?.drop());

  it('signs users up, processes every row and reconciles', async () => {
    const summary = await runDemo({ users: 25, rate: 500, fail: 0.3, databaseUrl: database.url });
    expectReconciled(summary, 25);
    expect(summary.kind).toBe('mysql');
  });

  it('stops gracefully on Ctrl+C, and the next run picks up what is left', async () => {
    await interruptAndResume({ databaseUrl: database.url });
  });
});
