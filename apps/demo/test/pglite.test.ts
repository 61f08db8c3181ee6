import { afterAll, describe, expect, it } from 'vitest';
import { runDemo } from '../src/index.js';
import { expectReconciled, interruptAndResume, tempDataDir } from './helpers.js';

// One data folder for the file: creating a PGlite database takes seconds, reopening it less.
describe('the demo on the embedded PGlite', { timeout: 120_000 }, () => {
  const data = tempDataDir();
  afterAll(() => data.remove());

  it('signs users up, processes every row and reconciles', async () => {
    const lines: string[] = [];
    const summary = await runDemo({
      users: 25,
      rate: 500,
      fail: 0.3,
      dataDir: data.dir,
      output: { write: (text) => lines.push(text) },
    });
    expectReconciled(summary, 25);
    expect(summary.kind).toBe('pglite');
    const text = lines.join('');
    expect(text).toContain('✓ reconciled: every one of the 75 rows is completed');
    expect(text).toMatch(/users 25\/25 \| high 25\/25 \| low 25\/25 \| email 25\/25/);
  });

  it('stops gracefully on Ctrl+C, and the next run picks up what is left', async () => {
    await interruptAndResume({ dataDir: data.dir });
  });
});
