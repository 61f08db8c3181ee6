import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../src/index.js';
import { createPostgresDatabase, expectReconciled, interruptAndResume } from './helpers.js';

describe('the demo on PostgreSQL (DATABASE_URL=postgres://…)', () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  beforeAll(async () => {
    database = await createPostgresDatabase();
  });
  afterAll(() => database?.drop());

  it('signs users up, processes every row and reconciles', async () => {
    const summary = await runDemo({ users: 25, rate: 500, fail: 0.3, databaseUrl: database.url });
    expectReconciled(summary, 25);
    expect(summary.kind).toBe('postgres');
  });

  it('archives the mails that fail every try, and still reconciles', async () => {
    const summary = await runDemo({ users: 5, rate: 1000, fail: 1, databaseUrl: database.url });
    expectReconciled(summary, 5);
    const email = summary.queues.find((q) => q.queue === 'email')!;
    expect(email.failed).toBe(5);
    expect(email.archived).toBe(5);
    expect(email.retries).toBe(15);
  });

  it('stops gracefully on Ctrl+C, and the next run picks up what is left', async () => {
    await interruptAndResume({ databaseUrl: database.url });
  });
});
