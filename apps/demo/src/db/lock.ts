import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DemoError } from '../errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

/**
 * Takes the folder's lock file (`bus-demo.lock`, holding the pid) so that a second demo process
 * on the same PGlite folder stops with a clear message instead of corrupting it. A lock left by a
 * process that is gone is taken over. Returns the function that releases the lock.
 */
export function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, 'bus-demo.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') {
        throw new DemoError(`cannot use ${dataDir} for the embedded PGlite: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
    if (Number.isInteger(pid) && pid !== process.pid && alive(pid)) {
      throw new DemoError(
        `another bus-demo (pid ${pid}) is using the embedded PGlite in ${dataDir}: stop it first, or pass --data-dir for a separate database`,
      );
    }
    rmSync(file, { force: true });
  }
  throw new DemoError(`cannot take the lock file ${file}: delete it if no bus-demo is running`);
}
