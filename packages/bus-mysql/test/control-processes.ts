import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleFixture, forkFixture } from '../../../test-support/worker-process.js';
import type { ControlWorkerConfig } from './fixtures/control-worker.js';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Bundles test/fixtures/control-worker.ts with bus-core and bus-mysql from source
 * (test-support/worker-process.ts). The file goes into this package's node_modules/.cache, so
 * mysql2 and drizzle-orm (left external) resolve from the package as in a user's app.
 */
export function bundleControlWorker(): Promise<{ file: string; cleanup(): void }> {
  return bundleFixture(join(here, 'fixtures'), 'control-worker', 'bus-control', {
    parentDir: join(here, '..', 'node_modules', '.cache'),
    external: ['mysql2', 'mysql2/*', 'drizzle-orm', 'drizzle-orm/*'],
  });
}

/** A forked control worker. */
export interface ControlWorker {
  id: string;
  child: ChildProcess;
  /** Asks for a clean shutdown and resolves with the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
  stderr(): string;
}

/** Forks a worker running `file` and resolves once its bus claims. */
export function startControlWorker(file: string, config: ControlWorkerConfig): Promise<ControlWorker> {
  const { child, exited, stderr } = forkFixture(file, { BUS_CONTROL: JSON.stringify(config) });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker ${config.workerId} did not start within 20 s`)),
      20_000,
    );
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker ${config.workerId} exited with ${code} before it was ready: ${stderr()}`));
    });
    child.on('message', (message: { type?: string }) => {
      if (message?.type !== 'ready') return;
      clearTimeout(timer);
      resolve({
        id: config.workerId,
        child,
        exited,
        stderr,
        stop: () => {
          if (child.exitCode === null && child.signalCode === null) child.send({ type: 'stop' });
          return exited;
        },
      });
    });
  });
}
