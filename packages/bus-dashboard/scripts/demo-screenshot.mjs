// Takes docs/dashboard.png: runs the demo (embedded PGlite) with its dashboard and photographs
// the queues screen in headless Chromium once the chart has a few samples.
//
//   pnpm --filter bus-demo... build && node packages/bus-dashboard/scripts/demo-screenshot.mjs
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const data = mkdtempSync(join(tmpdir(), 'bus-demo-shot-'));
const demo = spawn(
  'node',
  [
    join(root, 'apps/demo/dist/cli.js'),
    '--users',
    '4000',
    '--rate',
    '120',
    '--fail',
    '0.2',
    '--plain',
    '--data-dir',
    data,
  ],
  { env: { ...process.env, BUS_DEMO_DASHBOARD_PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] },
);
let output = '';
const url = await new Promise((resolve, reject) => {
  demo.stdout.on('data', (chunk) => {
    output += chunk;
    const found = /dashboard: (http:\/\/\S+)/.exec(output);
    if (found) resolve(found[1]);
  });
  demo.on('exit', () => reject(new Error(`the demo ended before printing its dashboard:\n${output}`)));
});
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await new Promise((r) => setTimeout(r, 3000));
  await page.goto(url, { timeout: 120_000 });
  // Five samples of the chart (one every 5 s).
  await new Promise((r) => setTimeout(r, 26_000));
  await page.screenshot({ path: join(root, 'docs/dashboard.png') });
  console.log('wrote docs/dashboard.png');
} finally {
  await browser.close();
  demo.kill('SIGINT');
  await new Promise((r) => demo.on('exit', r));
  rmSync(data, { recursive: true, force: true });
}
