import { spawn as spawnAsync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type CliIo, DemoError, main, parseArgs } from '../src/index.js';
import { createPostgresDatabase, MYSQL_ADMIN_URL, POSTGRES_ADMIN_URL, tempDataDir } from './helpers.js';

async function run(argv: string[], env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: { write: (text) => out.push(text), isTTY: false },
    stderr: { write: (text) => err.push(text) },
    env,
  };
  const code = await main(argv, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** One line on stderr, starting `bus-demo: `, and no stack trace. */
function expectOneLine(stderr: string): void {
  expect(stderr.endsWith('\n')).toBe(true);
  expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(stderr).toMatch(/^bus-demo: /);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('flags', () => {
  it('has defaults and reads every form', () => {
    expect(parseArgs([])).toEqual({
      help: false,
      options: { users: 200, rate: 50, fail: 0.1, dataDir: undefined, plain: false },
    });
    expect(parseArgs(['--users', '20', '--rate=2.5', '--fail', '10%', '--data-dir', 'x', '--plain'])).toEqual(
      {
        help: false,
        options: { users: 20, rate: 2.5, fail: 0.1, dataDir: 'x', plain: true },
      },
    );
    expect(parseArgs(['--', '--fail', '0'])).toMatchObject({ options: { fail: 0 } });
    expect(parseArgs(['--users', '5', '-h'])).toEqual({ help: true });
  });

  it.each([
    [['--users', 'abc'], '--users must be a whole number from 1 to 100000 (got "abc")'],
    [['--users', '0'], '--users must be a whole number from 1 to 100000 (got "0")'],
    [['--users', '2.5'], '--users must be a whole number'],
    [['--users', '-5'], '--users must be a whole number'],
    [['--rate', '0'], '--rate must be sign-ups per second from 0.1 to 10000 (got "0")'],
    [['--fail', '1.5'], '--fail must be a share from 0 to 1, like 0.1 or 10% (got "1.5")'],
    [['--fail', '150%'], '--fail must be a share from 0 to 1'],
    [['--users'], '--users needs a value, like --users 200'],
    [['--users', '--rate', '5'], '--users needs a value'],
    [
      ['--user', '5'],
      'unknown option --user: the options are --users, --rate, --fail, --data-dir, --plain and --help',
    ],
    [['-x'], 'unknown option -x'],
    [['200'], 'unexpected argument "200": options look like --users 200'],
    [['--users', '5', '--users', '6'], '--users is given twice'],
    [['--plain=yes'], '--plain takes no value'],
  ])('rejects %j with a one-line error', async (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(DemoError);
    const { code, stdout, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expectOneLine(stderr);
    expect(stderr).toContain(message);
  });

  it('prints the help', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('usage: pnpm demo [--users N] [--rate R] [--fail P]');
  });
});

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

describe('the embedded PGlite folder', () => {
  it('that is not a folder ends with a one-line error', async () => {
    const data = tempDataDir();
    try {
      const file = join(data.dir, 'a-file');
      writeFileSync(file, '');
      const { code, stderr } = await run(['--data-dir', file]);
      expect(code).toBe(1);
      expectOneLine(stderr);
      expect(stderr).toContain(`cannot open the embedded PGlite database in ${file}: ENOTDIR`);
    } finally {
      data.remove();
    }
  });

  it('in use by another demo process ends with a one-line error', async () => {
    const data = tempDataDir();
    try {
      // The parent of this test process is alive: the lock file names a running process.
      writeFileSync(join(data.dir, 'bus-demo.lock'), String(process.ppid));
      const { code, stderr } = await run(['--data-dir', data.dir]);
      expect(code).toBe(1);
      expectOneLine(stderr);
      expect(stderr).toContain(
        `another bus-demo (pid ${process.ppid}) is using the embedded PGlite in ${data.dir}`,
      );
    } finally {
      data.remove();
    }
  });
});

describe('DATABASE_URL', () => {
  it.each([
    [
      'redis://127.0.0.1:6379',
      2,
      'DATABASE_URL must start with postgres://, postgresql:// or mysql:// (got redis://…)',
    ],
    ['not a url', 2, 'DATABASE_URL is not a URL'],
    [
      'postgres://postgres:secret@127.0.0.1:1/test',
      1,
      'cannot connect to PostgreSQL at postgres://postgres:***@127.0.0.1:1/test: connect ECONNREFUSED 127.0.0.1:1 — nothing listens there',
    ],
    [
      'mysql://root:secret@127.0.0.1:1/test',
      1,
      'cannot connect to MySQL at mysql://root:***@127.0.0.1:1/test: connect ECONNREFUSED 127.0.0.1:1 — nothing listens there',
    ],
    [
      withDatabase(POSTGRES_ADMIN_URL, 'bus_demo_no_such_database'),
      1,
      'database "bus_demo_no_such_database" does not exist — create that database first',
    ],
    [
      withDatabase(MYSQL_ADMIN_URL, 'bus_demo_no_such_database'),
      1,
      "Unknown database 'bus_demo_no_such_database'",
    ],
  ])('%s ends with a one-line error', async (url, exitCode, message) => {
    const { code, stderr } = await run(['--users', '1'], { DATABASE_URL: url });
    expect(code).toBe(exitCode);
    expectOneLine(stderr);
    expect(stderr).toContain(message);
    expect(stderr).not.toContain('secret');
  });
});

describe('the built command', () => {
  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

  function spawn(args: string[], env: Record<string, string> = {}) {
    // pnpm test builds before it tests; a bare `vitest` run needs `pnpm build` first.
    expect(existsSync(cli), `${cli} is missing: run pnpm build first`).toBe(true);
    return spawnSync(process.execPath, [cli, ...args], {
      encoding: 'utf8',
      env: { ...process.env, DATABASE_URL: '', ...env },
      timeout: 30_000,
    });
  }

  it('rejects a bad flag with one line and exit code 2', () => {
    const result = spawn(['--users', 'lots']);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expectOneLine(result.stderr);
    expect(result.stderr).toContain('--users must be a whole number');
  });

  it('rejects an unreachable DATABASE_URL with one line and exit code 1', () => {
    const result = spawn(['--users', '1'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' });
    expect(result.status).toBe(1);
    expectOneLine(result.stderr);
    expect(result.stderr).toContain('cannot connect to PostgreSQL at postgres://postgres@127.0.0.1:1/test');
  });

  it('exits 0 after a graceful Ctrl+C, so `pnpm demo` reports no failure', async () => {
    expect(existsSync(cli), `${cli} is missing: run pnpm build first`).toBe(true);
    const database = await createPostgresDatabase();
    try {
      const child = spawnAsync(
        process.execPath,
        [cli, '--plain', '--users', '200', '--rate', '40', '--fail', '1'],
        {
          env: { ...process.env, DATABASE_URL: database.url },
        },
      );
      let stdout = '';
      let stderr = '';
      let interrupted = false;
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        // Interrupt once, when sign-ups are under way, as a user would (a second Ctrl+C quits).
        if (!interrupted && /users [1-9]\d*\/200/.test(stdout)) {
          interrupted = true;
          child.kill('SIGINT');
        }
      });
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(stderr).toContain('stopping gracefully');
      expect(stdout).toContain('stopped by Ctrl+C');
      expect(stdout).toContain('the numbers add up');
      expect(code).toBe(0);
    } finally {
      await database.drop();
    }
  });
});
