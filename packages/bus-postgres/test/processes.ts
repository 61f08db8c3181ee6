import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ControlWorkerConfig } from './fixtures/control-worker.js';
import type { PublisherConfig, WorkerConfig } from './fixtures/drain.js';

const here = dirname(fileURLToPath(import.meta.url));

interface Esbuild {
  build(options: Record<string, unknown>): Promise<unknown>;
}

/**
 * Bundles test/fixtures/<entry>.ts (the worker by default) with bus-core and bus-postgres from
 * source (the `source` condition) into one .mjs that plain `node` runs: no tsx, and never a stale
 * `dist`. esbuild is the one tsup (a root dev dependency) uses.
 */
export async function bundleWorker(
  entry: 'worker' | 'publisher' | 'control-worker' = 'worker',
): Promise<{ file: string; cleanup(): void }> {
  const require = createRequire(import.meta.url);
  const esbuild = createRequire(require.resolve('tsup'))('esbuild') as Esbuild;
  const dir = mkdtempSync(join(tmpdir(), `bus-pg-${entry}-`));
  const file = join(dir, `${entry}.mjs`);
  await esbuild.build({
    entryPoints: [join(here, 'fixtures', `${entry}.ts`)],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['source'],
    logLevel: 'error',
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A forked worker process. */
export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** Asks for a clean shutdown and waits for the exit. */
  stop(): Promise<{ clean: boolean; errors: number }>;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  /** What the process wrote to stderr so far (also passed through to this process's stderr). */
  stderr(): string;
}

/** Forks a worker running `file` and resolves once its bus has started. */
export function startWorker(
  file: string,
  config: WorkerConfig | PublisherConfig | ControlWorkerConfig,
): Promise<WorkerProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, BUS_WORKER: JSON.stringify(config) };
  delete env.NODE_OPTIONS;
  const child = fork(file, [], { env, execArgv: [], stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    process.stderr.write(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker did not start within 20 s')), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code} before it was ready`));
    });
    child.on('message', (message: { type?: string }) => {
      if (message?.type !== 'ready') return;
      clearTimeout(timer);
      resolve({
        child,
        pid: child.pid!,
        exited,
        stderr: () => stderr,
        stop: () =>
          new Promise((done, fail) => {
            const deadline = setTimeout(() => fail(new Error('worker did not stop within 20 s')), 20_000);
            child.on('message', (m: { type?: string; clean: boolean; errors: number }) => {
              if (m?.type !== 'stopped') return;
              clearTimeout(deadline);
              exited.then(() => done({ clean: m.clean, errors: m.errors }));
            });
            child.send('stop');
          }),
      });
    });
  });
}
