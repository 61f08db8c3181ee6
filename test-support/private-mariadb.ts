/**
 * A MariaDB server of a test's own (issue 12: restart tests), never the shared one on 3306: its
 * own data directory made by `mariadb-install-db`, its own loopback port (53306 and up, the first
 * free one) and socket, started, stopped and restarted by the test, removed in `destroy()`.
 * Dependency-free; readiness is read from the server's error log.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** A private server: its URL (root, no password, no database) and how to stop and start it. */
export interface PrivateMariaDb {
  port: number;
  /** `mysql://root@127.0.0.1:<port>` */
  url: string;
  /** Starts the server; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it: `SIGTERM` is a clean shutdown, `SIGKILL` a crash. Resolves once the process ended. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Sends `SIGSTOP` (the server hangs: connections stay open, nothing answers) or `SIGCONT`. */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void;
  /** Whether the server process runs. */
  readonly running: boolean;
  /** Kills the server and removes its data directory. */
  destroy(): Promise<void>;
}

/** The first port from `from` that nothing listens on at 127.0.0.1. */
export async function freePort(from: number): Promise<number> {
  for (let port = from; port < from + 200; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port from ${from} to ${from + 199}`);
}

function readyCount(log: string): number {
  try {
    return readFileSync(log, 'utf8').split('ready for connections').length - 1;
  } catch {
    return 0;
  }
}

/**
 * Makes a data directory and starts a MariaDB server on it (a few seconds).
 *
 * @example
 * const server = await startPrivateMariaDb();
 * await server.stop('SIGKILL'); await server.start();
 * await server.destroy();
 */
export async function startPrivateMariaDb(): Promise<PrivateMariaDb> {
  const dir = mkdtempSync(join(tmpdir(), 'bus-mariadb-'));
  const data = join(dir, 'data');
  const log = join(dir, 'error.log');
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? ['--user=root'] : [];
  try {
    await promisify(execFile)('mariadb-install-db', [
      '--no-defaults',
      `--datadir=${data}`,
      ...user,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
    ]);
  } catch (cause) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `mariadb-install-db failed (is the mariadb-server package installed?): ${String(cause)}`,
      { cause },
    );
  }
  const port = await freePort(53306);
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  const server: PrivateMariaDb = {
    port,
    url: `mysql://root@127.0.0.1:${port}`,
    get running() {
      return child !== undefined;
    },
    async start() {
      if (child !== undefined) return;
      const before = readyCount(log);
      const proc = spawn(
        'mariadbd',
        [
          '--no-defaults',
          `--datadir=${data}`,
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          `--socket=${join(dir, 'sock')}`,
          `--pid-file=${join(dir, 'pid')}`,
          `--log-error=${log}`,
          ...user,
          '--innodb-buffer-pool-size=32M',
          '--innodb-log-file-size=16M',
          '--skip-log-bin',
          '--max-connections=200',
        ],
        { stdio: 'ignore' },
      );
      child = proc;
      exited = new Promise((resolve) =>
        proc.once('exit', () => {
          if (child === proc) child = undefined;
          resolve();
        }),
      );
      const deadline = Date.now() + 30_000;
      while (readyCount(log) <= before) {
        if (child !== proc) throw new Error(`mariadbd exited at start; see ${log}`);
        if (Date.now() > deadline) throw new Error(`mariadbd did not become ready in 30 s; see ${log}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    signal(signal) {
      child?.kill(signal);
    },
    async stop(signal = 'SIGTERM') {
      if (child === undefined) return;
      child.kill(signal);
      await exited;
    },
    async destroy() {
      child?.kill('SIGCONT');
      await server.stop('SIGKILL');
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await server.start();
  } catch (error) {
    await server.destroy();
    throw error;
  }
  return server;
}
