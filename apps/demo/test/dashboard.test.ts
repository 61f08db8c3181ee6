import { afterAll, describe, expect, it } from 'vitest';
import { runDemo } from '../src/index.js';
import { expectReconciled, tempDataDir } from './helpers.js';

// The demo serves the dashboard (mounted in its own process, on PGlite) while it runs.
describe('the demo with its dashboard', { timeout: 120_000 }, () => {
  const data = tempDataDir();
  afterAll(() => data.remove());

  it('prints the dashboard URL and serves the demo queues while it runs, then stops serving', async () => {
    let output = '';
    let announced: (url: string) => void = () => {};
    const url = new Promise<string>((resolve) => {
      announced = resolve;
    });
    const run = runDemo({
      users: 40,
      rate: 20,
      fail: 0,
      dataDir: data.dir,
      dashboard: { port: 0 },
      output: {
        write: (text) => {
          output += text;
          const found = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(output);
          if (found) announced(found[1]!);
        },
      },
    });
    const address = await Promise.race([
      url,
      run.then(() => Promise.reject(new Error('the demo ended first'))),
    ]);
    const deadline = Date.now() + 20_000;
    let queues: string[] = [];
    while (Date.now() < deadline) {
      const response = await fetch(`${address}api/queues`);
      expect(response.status).toBe(200);
      queues = ((await response.json()) as { queues: { queue: string }[] }).queues.map((q) => q.queue);
      if (['email', 'high', 'low'].every((q) => queues.includes(q))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(queues).toEqual(expect.arrayContaining(['email', 'high', 'low']));
    const page = await fetch(address);
    const html = await page.text();
    expect(html).toContain('data-queue="email"');
    expect(html).toContain('bus demo');
    const summary = await run;
    expectReconciled(summary, 40);
    await expect(fetch(address)).rejects.toThrow();
  });
});
