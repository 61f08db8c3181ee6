import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { encodePayload } from 'bus-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EXIT } from '../src/cli-program.js';
import { cli } from './cli-io.js';
import { eventually } from './dashboard-suite.js';
import { createTestDatabase, type Seeded, seed, type TestDatabase } from './fixtures.js';

const run = promisify(execFile);
/** The built binary: the root test command builds before it tests. */
export const BIN = join(import.meta.dirname, '..', 'dist', 'cli.js');

function requireBuild(): void {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run pnpm --filter bus-dashboard build first`);
}

/** The CLI end to end against one real database; the same test for PostgreSQL and MariaDB. */
export function cliSuite(kind: 'postgres' | 'mysql'): void {
  describe(`bus CLI on ${kind}`, () => {
    let db: TestDatabase;
    let rows: Seeded;
    const bus = (...args: string[]) => cli([...db.cliArgs, ...args]);

    beforeAll(async () => {
      db = await createTestDatabase(kind);
      rows = await seed(db.store);
    });
    afterAll(() => db?.drop());

    test('migrate is idempotent; the database URL also comes from DATABASE_URL', async () => {
      const again = await bus('migrate');
      expect(again).toMatchObject({ code: EXIT.ok, stdout: 'the bus tables are up to date\n' });
      const [, url, ...rest] = db.cliArgs;
      const fromEnv = await cli([...rest, 'stats', '--json'], { DATABASE_URL: url });
      expect(fromEnv.code).toBe(EXIT.ok);
      expect(JSON.parse(fromEnv.stdout).map((q: { queue: string }) => q.queue)).toEqual([
        'billing',
        'email',
        'reports',
      ]);
    });

    test('doctor: tables, migrations, server settings, leases, workers, archive', async () => {
      const result = await bus('doctor', '--json');
      const report = JSON.parse(result.stdout);
      const names = report.checks.map((c: { name: string }) => c.name);
      expect(names).toEqual(['server', 'tables', 'migrations', 'leases', 'workers', 'archive']);
      const byName = Object.fromEntries(report.checks.map((c: any) => [c.name, c]));
      expect(byName.tables.status).toBe('ok');
      expect(byName.server.detail).toMatch(
        kind === 'postgres' ? /PostgreSQL .*max_connections/ : /max_allowed_packet \d+/,
      );
      // billing has live rows after nothing; email has a worker; no process works billing.
      expect(result.code).toBe(report.ok ? EXIT.ok : EXIT.failed);
      const human = await bus('doctor');
      expect(human.stdout).toMatch(/^ok {4}tables: /m);
      expect(human.stdout).not.toContain('\x1b[');
    });

    test('stats: per-queue counts as a table and as JSON', async () => {
      const table = await bus('stats');
      expect(table.code).toBe(EXIT.ok);
      expect(table.stdout).toMatch(/^queue\s+state\s+available\s+scheduled\s+running/);
      expect(table.stdout).toMatch(/^email\s+active\s+6\s+3\s+0/m);
      const json = JSON.parse((await bus('--json', 'stats')).stdout);
      expect(json.find((q: any) => q.queue === 'billing')).toMatchObject({
        archivedFailed: 3,
        archivedCompleted: 1,
      });
    });

    test('ls and show: filters, the archive, keyset paging, a decoded payload', async () => {
      const scheduled = await bus('ls', '--queue', 'email', '--state', 'scheduled', '--json');
      expect(JSON.parse(scheduled.stdout).map((r: any) => r.id)).toEqual(rows.scheduled);
      const page1 = JSON.parse((await bus('ls', '-q', 'email', '-n', '2', '--json')).stdout);
      const page2 = JSON.parse(
        (await bus('ls', '-q', 'email', '-n', '2', '--after', page1[1].id, '--json')).stdout,
      );
      expect(page2[0].id).toBe(rows.available[2]);
      const failed = await bus('ls', '--archive', '--status', 'failed', '--error', 'insufficient');
      expect(failed.stdout.trim().split('\n')).toHaveLength(3);
      const shown = await bus('show', rows.hostile);
      expect(shown.stdout).toContain('"html": "<script>window.__pwned = true</script>');
      const json = JSON.parse((await bus('show', rows.failed[1]!, '--json')).stdout);
      expect(json).toMatchObject({ where: 'archive', row: { status: 'failed', payload: { n: 1 } } });
      expect(await bus('show', '999999')).toMatchObject({ code: EXIT.notFound });
    });

    test('bad input: exit 2 with a message naming the cause', async () => {
      for (const args of [
        ['show', 'abc'],
        ['ls', '--state', 'exploded'],
        ['ls', '--limit', '0'],
        ['ls', '--after', '-5'],
        ['ls', '--archive', '--state', 'running'],
        ['cancel', '--yes'],
        ['cancel', '12; DROP TABLE bus_events', '--yes'],
        ['purge-archive', '--older-than', 'yesterday', '--yes'],
        ['stats', '--watch', '--interval', '1ms'],
        ['frobnicate'],
      ]) {
        const result = await bus(...args);
        expect({ args, code: result.code }).toEqual({ args, code: EXIT.usage });
        expect(result.stderr.length).toBeGreaterThan(10);
      }
      const url = db.cliArgs[1]!;
      const badSchema = await cli(['--database-url', url, '--schema', 'bad"name', 'stats']);
      expect(badSchema.code).toBe(EXIT.usage);
      expect(badSchema.stderr).toContain(
        kind === 'postgres' ? 'is not an identifier' : 'applies to PostgreSQL only',
      );
      expect(await cli(['stats'], {})).toMatchObject({ code: EXIT.usage });
      expect((await cli(['stats'], {})).stderr).toContain('DATABASE_URL');
      expect((await cli(['--database-url', 'redis://127.0.0.1', 'stats'])).stderr).toContain(
        'neither postgres: nor mysql:',
      );
      expect(await db.connection.admin.events({ limit: 1000 })).not.toHaveLength(0);
    });

    test('cancel: refuses without --yes when not on a terminal, then cancels by id and by filter', async () => {
      const refused = await bus('cancel', rows.available[0]!);
      expect(refused.code).toBe(EXIT.aborted);
      expect(refused.stderr).toContain('--yes');
      expect((await db.connection.admin.event(rows.available[0]!))?.where).toBe('live');
      const byId = await bus('cancel', rows.available[0]!, '999999', '--yes', '--json');
      expect(JSON.parse(byId.stdout)).toEqual({ count: 1, ids: [rows.available[0]], unknown: ['999999'] });
      const byFilter = await bus('cancel', '--queue', 'email', '--state', 'scheduled', '--yes');
      expect(byFilter.stdout).toBe('cancelled 3 rows\n');
      const archived = await db.connection.admin.archive({ queue: 'email', status: 'cancelled' });
      expect(archived.map((r) => r.id).sort()).toEqual([rows.available[0], ...rows.scheduled].sort());
      expect(archived[0]!.lastError).toBe('cancelled with bus cancel');
    });

    test('redrive: one id, then the rest by filter', async () => {
      const one = await bus('redrive', rows.failed[0]!, '--json');
      expect(JSON.parse(one.stdout)).toMatchObject({ count: 1 });
      expect((await db.connection.admin.event(rows.failed[0]!))?.where).toBe('live');
      expect((await bus('redrive', '--queue', 'billing')).code).toBe(EXIT.aborted);
      const rest = await bus('redrive', '--queue', 'billing', '--yes');
      expect(rest.stdout).toBe('redrove 2 rows\n');
      const live = await db.connection.admin.events({ queue: 'billing' });
      expect(live.filter((r) => rows.failed.includes(r.id))).toHaveLength(3);
      expect(live.every((r) => r.attempts === 0)).toBe(true);
    });

    test('pause and resume, of a queue and of one handler', async () => {
      expect((await bus('pause', 'email')).stdout).toBe('paused queue email\n');
      expect((await bus('pause', 'email')).stdout).toBe('queue email was paused already\n');
      expect((await bus('pause', 'reports', '--handler', 'reports.build')).code).toBe(EXIT.ok);
      const pauses = await db.connection.admin.pauses();
      expect(pauses.map((p) => [p.queue, p.handlerName])).toEqual([
        ['email', null],
        ['reports', 'reports.build'],
      ]);
      expect((await bus('stats')).stdout).toMatch(/^email\s+paused/m);
      expect((await bus('resume', 'email')).stdout).toBe('resumed queue email\n');
      expect((await bus('resume', 'reports', '--handler', 'reports.build')).code).toBe(EXIT.ok);
      expect(await db.connection.admin.pauses()).toEqual([]);
    });

    test('schedules: list (table and JSON), pause and resume by name, exit 3 for an unknown one', async () => {
      // The rows the schedule runner writes at start-up.
      await db.store.schedules.sync({
        schedules: [
          { name: 'cli-nightly', signature: 'cron 0 3 * * * UTC' },
          { name: 'cli-heartbeat', signature: 'every 30000' },
        ],
      });
      const listed = await bus('schedules');
      expect(listed.code).toBe(EXIT.ok);
      expect(listed.stdout).toMatch(/^schedule\s+state\s+last run\s+next run\s+expression/);
      expect(listed.stdout).toMatch(/^cli-nightly\s+active\s+-\s+-\s+cron 0 3 \* \* \* UTC$/m);
      expect((await bus('schedules', 'pause', 'cli-nightly')).stdout).toBe('paused schedule cli-nightly\n');
      expect((await bus('schedules', 'pause', 'cli-nightly')).stdout).toBe(
        'schedule cli-nightly was paused already\n',
      );
      const stored = async () =>
        Object.fromEntries((await db.store.schedules.list()).map((r) => [r.name, r.paused]));
      expect(await stored()).toEqual({ 'cli-heartbeat': false, 'cli-nightly': true });
      const json = JSON.parse((await bus('--json', 'schedules')).stdout);
      expect(json).toEqual([
        {
          name: 'cli-heartbeat',
          signature: 'every 30000',
          paused: false,
          lastTickAt: null,
          nextTickAt: null,
        },
        {
          name: 'cli-nightly',
          signature: 'cron 0 3 * * * UTC',
          paused: true,
          lastTickAt: null,
          nextTickAt: null,
        },
      ]);
      expect((await bus('schedules')).stdout).toMatch(/^cli-nightly\s+paused\s/m);
      const resumed = await bus('schedules', 'resume', 'cli-nightly', '--json');
      expect(JSON.parse(resumed.stdout)).toEqual({ changed: true });
      expect(await stored()).toEqual({ 'cli-heartbeat': false, 'cli-nightly': false });
      const unknown = await bus('schedules', 'pause', 'no-such-schedule');
      expect(unknown.code).toBe(EXIT.notFound);
      expect(unknown.stderr).toContain('no schedule is named no-such-schedule');
      for (const args of [
        ['schedules', 'pause'],
        ['schedules', 'resume', 'x'.repeat(201)],
        ['schedules', 'frobnicate'],
      ]) {
        const result = await bus(...args);
        expect({ args, code: result.code }).toEqual({ args, code: EXIT.usage });
        expect(result.stderr.length).toBeGreaterThan(10);
      }
      expect(await stored()).toEqual({ 'cli-heartbeat': false, 'cli-nightly': false });
    });

    test('run-now and purge-archive', async () => {
      const [id] = await db.store.insert({
        rows: [
          {
            queue: 'email',
            eventName: 'email.event',
            handlerName: 'email.send',
            payload: encodePayload({ later: true }),
            maxRetries: 0,
            priority: 0,
            due: 3_600_000,
          },
        ],
      });
      expect((await bus('run-now', id!)).stdout).toBe('made 1 row due now\n');
      const row = await db.connection.admin.event(id!);
      expect(row?.where === 'live' && row.row.scheduledAt.getTime()).toBeLessThanOrEqual(Date.now() + 5000);
      expect((await bus('purge-archive', '--older-than', '1d', '--yes')).stdout).toBe(
        'deleted 0 archived rows\n',
      );
      const before = (await db.connection.admin.archive({ limit: 1000 })).length;
      expect(before).toBeGreaterThan(0);
      const purged = await bus('purge-archive', '--older-than', '0s', '--yes', '--json');
      expect(JSON.parse(purged.stdout)).toEqual({ count: before });
    });

    test('the built binary: --help on every command, exit codes from a real process', async () => {
      requireBuild();
      const help = await run('node', [BIN, '--help']);
      expect(help.stdout).toContain('Usage: bus');
      const { stdout: commandHelp } = await run('node', [BIN, 'cancel', '--help']);
      expect(commandHelp).toContain('Usage: bus cancel');
      for (const command of [
        'migrate',
        'doctor',
        'stats',
        'ls',
        'show',
        'cancel',
        'redrive',
        'run-now',
        'pause',
        'resume',
        'schedules',
        'workers',
        'purge-archive',
        'dashboard',
      ]) {
        const help = await cli([command, '--help']);
        expect({ command, code: help.code }).toEqual({ command, code: EXIT.ok });
        expect(help.stdout).toContain(`Usage: bus ${command}`);
      }
      expect((await cli(['schedules', 'pause', '--help'])).stdout).toContain('Usage: bus schedules pause');
      const failure = await run('node', [BIN, ...db.cliArgs, 'show', 'abc']).catch((e) => e);
      expect(failure.code).toBe(EXIT.usage);
      const { stdout } = await run('node', [BIN, ...db.cliArgs, 'stats', '--json']);
      expect(JSON.parse(stdout).length).toBe(3);
    });

    test('stats --watch redraws in place in a terminal (tmux) and exits 0 on Ctrl-C', async () => {
      requireBuild();
      const socket = `bus-test-${process.pid}-${kind}`;
      const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
      const command = ['node', BIN, ...db.cliArgs, 'stats', '--watch', '--interval', '300ms']
        .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
        .join(' ');
      tmux(
        '-f',
        '/dev/null',
        'new-session',
        '-d',
        '-s',
        'watch',
        '-x',
        '150',
        '-y',
        '30',
        `${command}; echo EXITED $?; sleep 30`,
      );
      try {
        const screen = () => tmux('capture-pane', '-p', '-t', 'watch');
        await eventually(async () => /^email\s+active/m.test(screen()), 10_000, 'the first frame');
        const before = Number(/^billing\s+\S+\s+(\d+)/m.exec(screen())?.[1]);
        await db.store.insert({
          rows: Array.from({ length: 7 }, () => ({
            queue: 'billing',
            eventName: 'billing.event',
            handlerName: 'billing.charge',
            payload: encodePayload({}),
            maxRetries: 0,
            priority: 0,
            due: 0,
          })),
        });
        await eventually(
          async () => Number(/^billing\s+\S+\s+(\d+)/m.exec(screen())?.[1]) === before + 7,
          10_000,
          'the redrawn count',
        );
        const frame = screen();
        // Redrawn in place: one header, one row per queue, no scrolled-up copies.
        expect(frame.match(/bus stats/g)).toHaveLength(1);
        expect(frame.match(/^billing/gm)).toHaveLength(1);
        expect(frame).toContain('Ctrl-C to quit');
        tmux('send-keys', '-t', 'watch', 'C-c');
        await eventually(async () => /EXITED 0/.test(screen()), 10_000, 'the exit after Ctrl-C');
        // The alternate screen was left: the shell's screen is back, without the table.
        expect(screen()).not.toContain('bus stats');
      } finally {
        try {
          tmux('kill-server');
        } catch {}
      }
    });
  });
}
