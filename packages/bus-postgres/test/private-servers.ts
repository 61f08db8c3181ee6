import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TEST_POSTGRES_URL } from '../../../test-support/databases.js';

// Servers a test starts for itself, on loopback ports of its own: a private PostgreSQL it may
// restart, and a PgBouncer in front of the shared test server. The shared servers are never
// stopped or reconfigured.

const run = promisify(execFile);

/** Whether `port` on 127.0.0.1 is free to listen on. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The first free port from `from` (random start within 200 ports, so parallel files rarely collide). */
export async function freePort(from: number): Promise<number> {
  const start = from + Math.floor(Math.random() * 200);
  for (let port = start; port < start + 500; port++) {
    if (await portIsFree(port)) return port;
  }
  throw new Error(`no free port from ${start}`);
}

/** The directory of PostgreSQL's server programs (initdb, pg_ctl, postgres). */
function postgresBin(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    if (existsSync(join(base, v, 'bin', 'initdb'))) return join(base, v, 'bin');
  }
  throw new Error(`no PostgreSQL server programs under ${base}/*/bin (install postgresql)`);
}

// initdb refuses to run as root: as root, the server programs run as the `postgres` user.
function asServerUser(command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args];
  return ['runuser', ['-u', 'postgres', '--', command, ...args]];
}

function chownToServerUser(path: string): Promise<unknown> {
  if (process.getuid?.() !== 0) return Promise.resolve();
  return run('chown', ['-R', 'postgres:postgres', path]);
}

/** A PostgreSQL server of the test's own, which the test stops and starts at will. */
export interface PrivatePostgres {
  port: number;
  /** A URL of its `postgres` database. */
  url: string;
  /** Stops the server (fast shutdown: sessions are terminated, as in a failover or a restart). */
  stop(): Promise<void>;
  /** Starts it again; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it for good and removes its data directory. */
  destroy(): Promise<void>;
}

/** Creates (initdb) and starts a private PostgreSQL on a free loopback port from 55432. */
export async function privatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), 'bus-pg-private-'));
  chmodSync(dir, 0o755);
  const data = join(dir, 'data');
  await chownToServerUser(dir);
  const initdb = asServerUser(join(bin, 'initdb'), [
    '-D',
    data,
    '-A',
    'trust',
    '-U',
    'postgres',
    '--no-sync',
  ]);
  await run(initdb[0], initdb[1]);
  const port = await freePort(55432);
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=50',
    '-c shared_buffers=16MB',
  ].join(' ');
  const pgCtl = (...args: string[]) => {
    const [command, argv] = asServerUser(join(bin, 'pg_ctl'), ['-D', data, ...args]);
    return run(command, argv);
  };
  const start = async () => {
    await pgCtl('-o', options, '-l', join(dir, 'log'), '-w', '-t', '30', 'start');
  };
  let stopped = false;
  const stop = async () => {
    await pgCtl('-m', 'fast', '-w', '-t', '30', 'stop');
  };
  await start();
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop,
    start,
    async destroy() {
      if (!stopped) {
        stopped = true;
        await pgCtl('-m', 'immediate', '-w', '-t', '30', 'stop').catch(() => undefined);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A PgBouncer in transaction mode in front of the shared test server. */
export interface PrivatePgBouncer {
  port: number;
  /** `TEST_POSTGRES_URL` with the host and port of the bouncer. */
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts PgBouncer (`pgbouncer` from Debian's package, installed by `.ci/run`) in transaction
 * pooling mode on a free loopback port from 56432, in front of `TEST_POSTGRES_URL`'s server.
 * Fails (never skips) when pgbouncer is not installed.
 */
export async function privatePgBouncer(
  options: { poolSize?: number; target?: string } = {},
): Promise<PrivatePgBouncer> {
  const target = new URL(options.target ?? TEST_POSTGRES_URL);
  const binary = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => existsSync(p));
  if (binary === undefined) {
    throw new Error('pgbouncer is not installed (apt-get install pgbouncer; .ci/run does it)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'bus-pgbouncer-'));
  chmodSync(dir, 0o755);
  const port = await freePort(56432);
  const database = target.pathname.slice(1) || 'postgres';
  const user = decodeURIComponent(target.username || 'postgres');
  writeFileSync(join(dir, 'users.txt'), `"${user}" ""\n`);
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `${database} = host=${target.hostname} port=${target.port || 5432} dbname=${database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize ?? 10}`,
      'max_client_conn = 200',
      // postgres.js sends these at startup; PgBouncer refuses unknown startup parameters.
      'ignore_startup_parameters = extra_float_digits,options',
      'server_reset_query =',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
  );
  await chownToServerUser(dir);
  const [command, argv] = asServerUser(binary, [join(dir, 'pgbouncer.ini')]);
  const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (await portIsFree(port)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`pgbouncer did not start on port ${port}: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    port,
    url: url.toString(),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
