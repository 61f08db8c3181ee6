import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bundleFixture,
  startWorker as forkWorker,
  type WorkerProcess,
} from '../../../test-support/worker-process.js';
import type { ControlWorkerConfig } from './fixtures/control-worker.js';
import type { PublisherConfig, WorkerConfig } from './fixtures/drain.js';

export type { WorkerProcess };

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Bundles test/fixtures/<entry>.ts (the worker by default) with bus-core and bus-postgres from
 * source into one .mjs that plain `node` runs (test-support/worker-process.ts).
 */
export function bundleWorker(
  entry: 'worker' | 'publisher' | 'control-worker' = 'worker',
): Promise<{ file: string; cleanup(): void }> {
  return bundleFixture(join(here, 'fixtures'), entry, 'bus-pg');
}

/** Forks a worker running `file` and resolves once its bus has started. */
export function startWorker(
  file: string,
  config: WorkerConfig | PublisherConfig | ControlWorkerConfig,
): Promise<WorkerProcess> {
  return forkWorker(file, config);
}
