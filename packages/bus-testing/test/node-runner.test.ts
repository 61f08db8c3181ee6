import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { after, before, beforeEach, describe as nodeDescribe, it as nodeIt } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, beforeEach as vitestBeforeEach } from 'vitest';
import type { TestRunner } from '../src/index.js';

// The suite is runner-agnostic: node:test's functions fit TestRunner (checked by tsc here), and
// the built suite passes under `node --test` in a process that never loads vitest.

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

// Type checks only: both runners' functions are TestRunners as they are.
const _vitest: TestRunner = { describe, it, beforeAll, afterAll, beforeEach: vitestBeforeEach };
const _node: TestRunner = {
  describe: nodeDescribe,
  it: nodeIt,
  beforeAll: before,
  afterAll: after,
  beforeEach,
};
void _vitest;
void _node;

it('the conformance suite passes under node:test on the memory store', async () => {
  const { stdout } = await run(
    process.execPath,
    ['--test', '--test-reporter=tap', join('test', 'fixtures', 'node-test-suite.mjs')],
    { cwd: pkg, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
  );
  const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(stdout)?.[1]);
  expect(count('fail'), stdout.slice(-4000)).toBe(0);
  // Every test of the suite ran: as many as it registers under vitest on the same store.
  expect(count('pass')).toBeGreaterThanOrEqual(75);
  expect(stdout).toContain('store conformance: memory under node:test');
});
