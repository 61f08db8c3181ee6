/**
 * Worker OS processes for the drivers' multi-process tests: a fixture bundled from source with
 * esbuild (plain `node` runs it: no tsx, never a stale `dist`) and forked with its config in
 * `BUS_WORKER`. Each driver's fixture only opens its store; this is the one copy of the rest.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Esbuild {
  build(options: Record<string, unknown>): Promise<unknown>;
}

/** Where a bundle goes and what it leaves out. */
export interface BundleOptions {
  /** Folder for the bundle's temporary folder (the OS's by default); packages left external resolve from it. */
  parentDir?: string;
  /** Packages left out of the bundle, imported at run time as in a user's app. */
  external?: string[];
}

/**
 * Bundles `<fixturesDir>/<entry>.ts` with bus-core and the driver from source (the `source`
 * condition) into one .mjs in a temporary folder; esbuild is the one tsup (a root dev dependency) uses.
 */
export async function bundleFixture(
  fixturesDir: string,
  entry: string,
  prefix: string,
  options: BundleOptions = {},
): Promise<{ file: string; cleanup(): void }> {
  const require = createRequire(import.meta.url);
  const esbuild = createRequire(require.resolve('tsup'))('esbuild') as Esbuild;
  const parentDir = options.parentDir ?? tmpdir();
  mkdirSync(parentDir, { recursive: true });
  const dir = mkdtempSync(join(parentDir, `${prefix}-${entry}-`));
  const file = join(dir, `${entry}.mjs`);
  await esbuild.build({
    entryPoints: [join(fixturesDir, `${entry}.ts`)],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['source'],
    external: options.external ?? [],
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

/**
 * Forks plain `node` on `file` with `env` added (no NODE_OPTIONS: vitest's loaders stay out),
 * passing its stderr through while keeping a copy.
 */
export function forkFixture(
  file: string,
  extraEnv: Record<string, string>,
): { child: ChildProcess; exited: Promise<number | null>; stderr(): string } {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
  delete env.NODE_OPTIONS;
  const child = fork(file, [], { env, execArgv: [], stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    process.stderr.write(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

/** Forks a worker running `file` and resolves once it reports `ready`. */
export function startWorker(file: string, config: unknown): Promise<WorkerProcess> {
  const { child, exited, stderr } = forkFixture(file, { BUS_WORKER: JSON.stringify(config) });
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
        stderr,
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
