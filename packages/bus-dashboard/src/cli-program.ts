import { createInterface } from 'node:readline/promises';
import type { QueueOverview, ScheduleOverview } from 'bus-core';
import { type ArchivedEventRow, BusError, type EventRow, isBusError } from 'bus-core';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { type Connection, connect } from './connect.js';
import { limitsText } from './limits-text.js';
import { describePayload } from './payload.js';

/** What the CLI's exit codes mean (documented in docs/cli.md). */
export const EXIT = {
  ok: 0,
  /** The database failed, or `doctor` found a problem. */
  failed: 1,
  /** Bad usage or bad input (unknown option, invalid id, a filter that would touch everything). */
  usage: 2,
  /** `show` found no row with that id; `schedules pause|resume` found no schedule of that name. */
  notFound: 3,
  /** A confirmation was answered no, or was needed without a terminal and without `--yes`. */
  aborted: 4,
} as const;

/** Where the CLI writes and reads, so tests can run it in-process. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

interface GlobalOptions {
  databaseUrl?: string;
  schema?: string;
  eventsTable?: string;
  json?: boolean;
  color?: boolean;
}

class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|min|h|d|w)$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('expected a duration like 90s, 30m, 12h, 7d or 2w');
  const unit = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[
    match[2] as 'ms'
  ];
  const ms = Math.round(Number(match[1]) * unit);
  if (!Number.isSafeInteger(ms)) throw new InvalidArgumentError('the duration is too long');
  return ms;
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000)
    throw new InvalidArgumentError('expected an integer from 1 to 10000');
  return n;
}

function parseInterval(value: string): number {
  const ms = parseDuration(/^\d+$/.test(value) ? `${value}ms` : value);
  if (ms < 200) throw new InvalidArgumentError('the interval must be at least 200ms');
  return ms;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535)
    throw new InvalidArgumentError('expected a port from 0 to 65535');
  return n;
}

const ID = /^[1-9][0-9]{0,18}$/;

function checkIds(ids: string[]): string[] {
  for (const id of ids) {
    if (!ID.test(id))
      throw new BusError('INVALID_ARGUMENT', `row id must be a positive integer (got ${JSON.stringify(id)})`);
  }
  return ids;
}

/**
 * Runs the `bus` CLI with `argv` (without node and the script) and resolves with its exit code.
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2));
 */
export async function runCli(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const out = (text: string): void => {
    io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  };
  const err = (text: string): void => {
    io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  };
  let connection: Connection | undefined;
  const program = new Command('bus');
  const globals = () => program.opts<GlobalOptions>();
  const colour = () => globals().color !== false && io.stdout.isTTY === true && !io.env.NO_COLOR;
  const paint = (code: string, text: string) => (colour() ? `\x1b[${code}m${text}\x1b[0m` : text);
  const open = async (): Promise<Connection> => {
    const url = globals().databaseUrl ?? io.env.DATABASE_URL;
    if (!url) throw new BusError('INVALID_CONFIG', 'no database: pass --database-url or set DATABASE_URL');
    const options = globals();
    connection = await connect({
      databaseUrl: url,
      ...(options.schema ? { schema: options.schema } : {}),
      ...(options.eventsTable ? { eventsTable: options.eventsTable } : {}),
    });
    return connection;
  };
  const json = (value: unknown): void => out(JSON.stringify(value, null, 2));
  const confirm = async (question: string, yes: boolean | undefined): Promise<void> => {
    if (yes) return;
    if (!io.stdin.isTTY) {
      err(`${question} Refusing without --yes: standard input is not a terminal.`);
      throw new Exit(EXIT.aborted);
    }
    const rl = createInterface({ input: io.stdin, output: io.stderr as NodeJS.WritableStream });
    const answer = await rl.question(`${question} [y/N] `);
    rl.close();
    if (!/^y(es)?$/i.test(answer.trim())) {
      err('Aborted.');
      throw new Exit(EXIT.aborted);
    }
  };

  program
    .description('Operate bus queues on PostgreSQL or MySQL/MariaDB: counts, rows, cancel, redrive, pause.')
    .addOption(new Option('--database-url <url>', 'postgres://… or mysql://… (default: $DATABASE_URL)'))
    .option('--schema <name>', 'PostgreSQL schema holding the bus tables (its search_path)')
    .option('--events-table <name>', 'the events table when not bus_events (other names derive from it)')
    .option('--json', 'print JSON for scripts instead of tables')
    .option('--no-color', 'no colours (they are used only on a terminal anyway)')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();

  const filterOptions = (command: Command, archive: boolean) =>
    command
      .option('-q, --queue <name>', 'only rows of this queue')
      .option('-e, --event <name>', 'only rows of this event')
      .option('--handler <name>', 'only rows of this handler')
      .option('--error <text>', 'only rows whose last error contains this text')
      .addOption(
        archive
          ? new Option('--status <status>', 'only archived rows that ended this way').choices([
              'completed',
              'failed',
              'cancelled',
            ])
          : new Option('--state <state>', 'only live rows in this state').choices([
              'available',
              'scheduled',
              'running',
            ]),
      );
  const rowFilter = (o: Record<string, string | undefined>) => ({
    ...(o.queue ? { queue: o.queue } : {}),
    ...(o.event ? { eventName: o.event } : {}),
    ...(o.handler ? { handlerName: o.handler } : {}),
    ...(o.error ? { errorContains: o.error } : {}),
  });

  program
    .command('migrate')
    .description("create or update the bus tables with the driver's bundled migrations")
    .action(async () => {
      const c = await open();
      const result = await c.migrate();
      if (globals().json) return json(result);
      out(
        result.applied.length || result.adopted.length
          ? `applied: ${result.applied.join(', ') || 'none'}; adopted: ${result.adopted.join(', ') || 'none'}`
          : 'the bus tables are up to date',
      );
    });

  program
    .command('doctor')
    .description('check tables, migrations, server settings, stuck rows, unattended queues and the archive')
    .action(async () => {
      const c = await open();
      const checks = await doctor(c);
      if (globals().json) json({ ok: !checks.some((x) => x.status === 'error'), checks });
      else {
        for (const check of checks) {
          const mark =
            check.status === 'ok'
              ? paint('32', 'ok  ')
              : check.status === 'warn'
                ? paint('33', 'warn')
                : paint('31', 'FAIL');
          out(`${mark}  ${check.name}: ${check.detail}`);
        }
      }
      if (checks.some((x) => x.status === 'error')) throw new Exit(EXIT.failed);
    });

  program
    .command('stats')
    .description('per-queue counts (live by state, archived by status, paused)')
    .option('-w, --watch', 'redraw in place until interrupted (Ctrl-C)')
    .option('-i, --interval <duration>', 'refresh interval with --watch (e.g. 2s)', parseInterval, 2000)
    .action(async (options: { watch?: boolean; interval: number }) => {
      const c = await open();
      if (!options.watch) {
        const queues = await c.admin.queues();
        if (globals().json) return json(queues);
        return out(statsTable(queues, await c.admin.now(), paint));
      }
      await watchStats(c, options.interval, io, paint, Boolean(globals().json));
    });

  filterOptions(
    program
      .command('ls')
      .description('list live rows (or archived ones with --archive), oldest first, keyset-paged')
      .option('-a, --archive', 'list the archive instead of live rows')
      .option('-n, --limit <n>', 'rows at most (1 to 10000)', parseLimit, 50)
      .option('--after <id>', 'only ids after this one (the last id of the previous page)')
      .option('--newest', 'newest first'),
    false,
  )
    .addOption(
      new Option('--status <status>', 'with --archive: how the row ended').choices([
        'completed',
        'failed',
        'cancelled',
      ]),
    )
    .action(async (o: Record<string, any>) => {
      if (o.after !== undefined) checkIds([o.after]);
      if (o.status && !o.archive)
        throw new BusError('INVALID_ARGUMENT', '--status applies to --archive (live rows have --state)');
      if (o.state && o.archive)
        throw new BusError('INVALID_ARGUMENT', '--state applies to live rows (the archive has --status)');
      const c = await open();
      const page = {
        limit: o.limit,
        ...(o.after ? { afterId: o.after } : {}),
        ...(o.newest ? { newestFirst: true } : {}),
      };
      const rows: (EventRow | ArchivedEventRow)[] = o.archive
        ? await c.admin.archive({ ...rowFilter(o), ...(o.status ? { status: o.status } : {}), ...page })
        : await c.admin.events({ ...rowFilter(o), ...(o.state ? { state: o.state } : {}), ...page });
      if (globals().json) return json(rows.map(rowJson));
      out(rowsTable(rows, await c.admin.now()));
    });

  program
    .command('show')
    .description('one row in detail, live or archived, with its payload decoded')
    .argument('<id>', 'the row id')
    .action(async (id: string) => {
      checkIds([id]);
      const c = await open();
      const found = await c.admin.event(id);
      if (!found) {
        err(`no live or archived row has id ${id}`);
        throw new Exit(EXIT.notFound);
      }
      if (globals().json) return json({ where: found.where, row: rowJson(found.row) });
      const row = found.row as EventRow & ArchivedEventRow;
      const lines: [string, string][] = [
        ['id', row.id],
        ['where', found.where === 'live' ? 'live' : `archive (${row.status})`],
        ['queue', row.queue],
        ['event', row.eventName],
        ['handler', row.handlerName],
        ['attempts', `${row.attempts} of ${row.maxRetries + 1}`],
        ['priority', String(row.priority)],
        ['partition', row.partitionKey ?? '-'],
        ['created', row.createdAt.toISOString()],
      ];
      if (found.where === 'live') {
        lines.push(['due', row.scheduledAt.toISOString()], ['lease holder', row.lockedBy ?? '-']);
        lines.push(['lease ends', row.lockedUntil?.toISOString() ?? '-'], ['snoozes', String(row.snoozes)]);
      } else lines.push(['finished', row.finishedAt.toISOString()]);
      lines.push(['last error', row.lastError ?? '-']);
      for (const [k, v] of lines) out(`${paint('2', k.padEnd(13))}${v}`);
      out(paint('2', 'payload'));
      out(describePayload(row.payload));
    });

  filterOptions(
    program
      .command('cancel')
      .description('cancel live rows by id and/or filter (running ones too: their handler is aborted)')
      .argument('[ids...]', 'row ids')
      .option('--all', 'cancel every live row (needed when no id and no filter is given)')
      .option('--reason <text>', "recorded as the archived rows' last error", 'cancelled with bus cancel')
      .option('-y, --yes', 'do not ask for confirmation'),
    false,
  ).action(async (ids: string[], o: Record<string, any>) => {
    checkIds(ids);
    const filter = { ...rowFilter(o), ...(o.state ? { state: o.state } : {}) };
    const c = await open();
    const scope = describeTarget(ids, filter, o.all);
    await confirm(`Cancel ${scope}?`, o.yes);
    const report = await c.admin.cancel(
      {
        ...(ids.length ? { ids } : {}),
        ...(Object.keys(filter).length ? { filter } : {}),
        ...(o.all ? { all: true } : {}),
      },
      { reason: o.reason },
    );
    if (globals().json) return json(report);
    out(`cancelled ${report.count} row${report.count === 1 ? '' : 's'}`);
    if (report.unknown.length) err(`not live (finished or unknown): ${report.unknown.join(', ')}`);
  });

  filterOptions(
    program
      .command('redrive')
      .description('re-publish archived rows (failed and cancelled by default) with fresh attempts')
      .argument('[ids...]', 'row ids')
      .option('--all', 'redrive every failed and cancelled archived row (needed with no id and no filter)')
      .option('-y, --yes', 'do not ask for confirmation'),
    true,
  ).action(async (ids: string[], o: Record<string, any>) => {
    checkIds(ids);
    const filter = { ...rowFilter(o), ...(o.status ? { statuses: [o.status] } : {}) };
    const c = await open();
    if (ids.length === 0) await confirm(`Redrive ${describeTarget(ids, filter, o.all)}?`, o.yes);
    const report = await c.admin.redrive({
      ...(ids.length ? { ids } : {}),
      ...(Object.keys(filter).length ? { filter } : {}),
      ...(o.all ? { all: true } : {}),
    });
    if (globals().json) return json(report);
    out(`redrove ${report.count} row${report.count === 1 ? '' : 's'}`);
    if (report.unknown.length) err(`not in the archive as failed or cancelled: ${report.unknown.join(', ')}`);
  });

  program
    .command('run-now')
    .description('make scheduled (unleased) rows due now')
    .argument('<ids...>', 'row ids')
    .action(async (ids: string[]) => {
      checkIds(ids);
      const c = await open();
      const report = await c.admin.runNow(ids);
      if (globals().json) return json(report);
      out(`made ${report.count} row${report.count === 1 ? '' : 's'} due now`);
      if (report.unknown.length) err(`running or unknown: ${report.unknown.join(', ')}`);
    });

  for (const verb of ['pause', 'resume'] as const) {
    program
      .command(verb)
      .description(
        verb === 'pause'
          ? 'pause a queue (or one handler of it) in every process; running rows finish'
          : 'resume a paused queue (or handler)',
      )
      .argument('<queue>', 'the queue')
      .option('--handler <name>', `${verb} only this handler of the queue`)
      .action(async (queue: string, o: { handler?: string }) => {
        const c = await open();
        const options = o.handler ? { handlerName: o.handler } : {};
        const result =
          verb === 'pause' ? await c.admin.pause(queue, options) : await c.admin.resume(queue, options);
        if (globals().json) return json(result);
        const what = o.handler ? `handler ${o.handler} of queue ${queue}` : `queue ${queue}`;
        out(
          verb === 'pause'
            ? result.changed
              ? `paused ${what}`
              : `${what} was paused already`
            : result.changed
              ? `resumed ${what}`
              : `${what} was not paused`,
        );
      });
  }

  const schedules = program
    .command('schedules')
    .description('recurring schedules: expression, paused, last and next run (pause|resume <name>)')
    .action(async () => {
      const c = await open();
      const list = await c.admin.schedules();
      if (globals().json) return json(list);
      out(schedulesTable(list, await c.admin.now(), paint));
    });
  for (const verb of ['pause', 'resume'] as const) {
    schedules
      .command(verb)
      .description(
        verb === 'pause'
          ? 'stop a schedule publishing in every process until resumed'
          : 'let a paused schedule publish again (ticks missed meanwhile follow its policy)',
      )
      .argument('<name>', 'the schedule')
      .action(async (name: string) => {
        const c = await open();
        const result =
          verb === 'pause' ? await c.admin.pauseSchedule(name) : await c.admin.resumeSchedule(name);
        if (globals().json) return json(result);
        out(
          verb === 'pause'
            ? result.changed
              ? `paused schedule ${name}`
              : `schedule ${name} was paused already`
            : result.changed
              ? `resumed schedule ${name}`
              : `schedule ${name} was not paused`,
        );
      });
  }

  program
    .command('workers')
    .description('worker processes seen recently')
    .option('--seen-within <duration>', 'heartbeat at most this old', parseDuration, 60_000)
    .action(async (o: { seenWithin: number }) => {
      const c = await open();
      const workers = await c.admin.workers({ seenWithinMs: o.seenWithin });
      if (globals().json) return json(workers);
      out(
        table(
          ['worker', 'queues', 'info', 'last seen'],
          workers.map((w) => [w.workerId, w.queues.join(','), w.info, w.lastSeenAt.toISOString()]),
        ),
      );
    });

  program
    .command('purge-archive')
    .description('delete archived rows that finished before a given age')
    .requiredOption('--older-than <duration>', 'age of the rows to delete (e.g. 30d)', parseDuration)
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (o: { olderThan: number; yes?: boolean }) => {
      const c = await open();
      await confirm(`Delete archived rows finished more than ${o.olderThan} ms ago?`, o.yes);
      const count = await c.admin.purgeArchive({ olderThanMs: o.olderThan });
      if (globals().json) return json({ count });
      out(`deleted ${count} archived row${count === 1 ? '' : 's'}`);
    });

  program
    .command('dashboard')
    .description('serve the web dashboard (same as the bus-dashboard binary)')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('-p, --port <port>', 'port', parsePort, 4680)
    .option('--token <secret>', 'require this token (default: $BUS_DASHBOARD_TOKEN)')
    .option('--basic-auth <user:password>', 'require HTTP basic auth (default: $BUS_DASHBOARD_BASIC_AUTH)')
    .option('--read-only', 'hide and refuse every action')
    .option('--base-path <path>', 'serve under this path')
    .action(async (o: Record<string, any>) => {
      const c = await open();
      // Loaded here, so the other commands start without the web stack.
      const { startServer } = await import('./server.js');
      const server = await startServer({
        admin: c.admin,
        host: o.host,
        port: o.port,
        ...((o.token ?? io.env.BUS_DASHBOARD_TOKEN) ? { token: o.token ?? io.env.BUS_DASHBOARD_TOKEN } : {}),
        ...((o.basicAuth ?? io.env.BUS_DASHBOARD_BASIC_AUTH)
          ? { basicAuth: o.basicAuth ?? io.env.BUS_DASHBOARD_BASIC_AUTH }
          : {}),
        ...(o.readOnly ? { readOnly: true } : {}),
        ...(o.basePath ? { basePath: o.basePath } : {}),
      });
      out(`bus dashboard: ${server.url}`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof Exit) return error.code;
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      ) {
        return EXIT.ok;
      }
      return EXIT.usage;
    }
    if (isBusError(error)) {
      err(`${paint('31', 'error')} ${error.message}`);
      if (error.code === 'UNKNOWN_SCHEDULE') return EXIT.notFound;
      return ['INVALID_ARGUMENT', 'INVALID_CONFIG', 'INVALID_IDENTIFIER', 'UNKNOWN_QUEUE'].includes(
        error.code,
      )
        ? EXIT.usage
        : EXIT.failed;
    }
    err(`error: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.failed;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

function defaultIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
}

function describeTarget(ids: string[], filter: Record<string, unknown>, all: boolean | undefined): string {
  const parts: string[] = [];
  if (ids.length) parts.push(`${ids.length} row id${ids.length === 1 ? '' : 's'}`);
  const fields = Object.entries(filter).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`);
  if (fields.length) parts.push(`every row matching ${fields.join(' ')}`);
  if (!parts.length) return all ? 'EVERY row' : 'nothing (give ids, a filter or --all)';
  return parts.join(' and ');
}

function rowJson(row: EventRow | ArchivedEventRow) {
  const { payload, ...rest } = row;
  let decoded: unknown;
  try {
    decoded = JSON.parse(describePayload(payload));
  } catch {
    decoded = null;
  }
  return { ...rest, payload: decoded };
}

/** A plain text table, columns padded to their widest cell. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || Number.isNaN(Number(c)) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

function ageText(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h`;
}

function statsTable(
  queues: QueueOverview[],
  now: Date,
  paint: (code: string, text: string) => string,
): string {
  if (queues.length === 0) return 'no queue has rows, a pause or a worker yet';
  const text = table(
    [
      'queue',
      'state',
      'available',
      'scheduled',
      'running',
      'retrying',
      'oldest',
      'completed',
      'failed',
      'cancelled',
      'limits',
    ],
    queues.map((q) => [
      q.queue,
      q.paused ? 'paused' : q.pausedHandlers.length ? `paused:${q.pausedHandlers.join(',')}` : 'active',
      String(q.available),
      String(q.scheduled),
      String(q.running),
      String(q.retrying),
      q.oldestAvailableAt ? ageText(now.getTime() - q.oldestAvailableAt.getTime()) : '-',
      String(q.archivedCompleted),
      String(q.archivedFailed),
      String(q.archivedCancelled),
      limitsText(q.limits) || '-',
    ]),
  );
  return text.replace(/ paused(:\S*)?/g, (m) => paint('33', m));
}

function schedulesTable(
  list: ScheduleOverview[],
  now: Date,
  paint: (code: string, text: string) => string,
): string {
  if (list.length === 0) return 'no schedule is declared or stored';
  const when = (at: Date | null) => {
    if (at === null) return '-';
    const ms = now.getTime() - at.getTime();
    return ms >= 0 ? `${ageText(ms)} ago` : `in ${ageText(-ms)}`;
  };
  const text = table(
    ['schedule', 'state', 'last run', 'next run', 'expression'],
    list.map((s) => [
      s.name,
      s.paused ? 'paused' : 'active',
      when(s.lastTickAt),
      s.paused ? '-' : when(s.nextTickAt),
      s.signature ?? '-',
    ]),
  );
  return text.replace(/ paused /g, (m) => paint('33', m));
}

function rowsTable(rows: (EventRow | ArchivedEventRow)[], now: Date): string {
  if (rows.length === 0) return 'no row matches';
  return table(
    ['id', 'queue', 'event', 'handler', 'state', 'attempts', 'when', 'last error'],
    rows.map((r) => {
      const archived = 'status' in r;
      const state = archived
        ? r.status
        : r.lockedBy !== null
          ? 'running'
          : r.scheduledAt > now
            ? 'scheduled'
            : 'available';
      const when = archived ? r.finishedAt.toISOString() : r.scheduledAt.toISOString();
      return [
        r.id,
        r.queue,
        r.eventName,
        r.handlerName,
        state,
        String(r.attempts),
        when,
        (r.lastError ?? '').slice(0, 60).replace(/\s+/g, ' '),
      ];
    }),
  );
}

async function watchStats(
  c: Connection,
  interval: number,
  io: CliIo,
  paint: (code: string, text: string) => string,
  asJson: boolean,
): Promise<void> {
  const tty = io.stdout.isTTY === true && !asJson;
  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (tty) io.stdout.write('\x1b[?1049h\x1b[?25l');
  try {
    while (!stopped) {
      let body: string;
      try {
        const [queues, now] = await Promise.all([c.admin.queues(), c.admin.now()]);
        body = asJson
          ? JSON.stringify({ at: now.toISOString(), queues })
          : `${paint('1', 'bus stats')}  ${now.toISOString()}  every ${interval} ms, Ctrl-C to quit\n\n${statsTable(queues, now, paint)}`;
      } catch (error) {
        body = `error: ${isBusError(error) ? `${error.code}: ${error.message}` : String(error)}`;
      }
      if (tty) io.stdout.write(`\x1b[H${body.split('\n').join('\x1b[K\n')}\x1b[K\n\x1b[J`);
      else io.stdout.write(`${body}\n${asJson ? '' : '\n'}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, interval).unref();
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    if (tty) io.stdout.write('\x1b[?25h\x1b[?1049l');
  }
}

interface Check {
  name: string;
  status: 'ok' | 'warn' | 'error';
  detail: string;
}

async function doctor(c: Connection): Promise<Check[]> {
  const checks: Check[] = [];
  const attempt = async (name: string, fn: () => Promise<Omit<Check, 'name'>>) => {
    try {
      checks.push({ name, ...(await fn()) });
    } catch (error) {
      checks.push({
        name,
        status: 'error',
        detail: isBusError(error) ? `${error.code}: ${error.message}` : String(error),
      });
    }
  };
  await attempt('server', async () => {
    const [info] = await c.diagnose('server');
    const v = info ?? {};
    if (c.kind === 'postgres') {
      return {
        status: 'ok',
        detail: `PostgreSQL ${v.server_version}, max_connections ${v.max_connections} (${v.connections} in use), default isolation ${v.isolation}`,
      };
    }
    const packet = Number(v.max_allowed_packet);
    const warn = packet < 16 * 1024 * 1024;
    return {
      status: warn ? 'warn' : 'ok',
      detail: `${v.server_version}, max_allowed_packet ${packet}${warn ? ' (under 16 MiB: big batches are split into more statements)' : ''}, transaction_isolation ${v.isolation} (bus sets READ COMMITTED on its own transactions), max_connections ${v.max_connections}`,
    };
  });
  await attempt('tables', async () => {
    await c.store.checkSchema();
    return { status: 'ok', detail: 'the tables, columns and indexes this version needs exist' };
  });
  await attempt('migrations', async () => {
    const rows = await c.diagnose('migrations');
    const tags = [...new Set(rows.map((r) => String(r.tag)))];
    if (tags.length === 0) {
      return {
        status: 'warn',
        detail: 'no bus_migrations journal (tables made by drizzle-kit or by hand, or not migrated)',
      };
    }
    return { status: 'ok', detail: `${tags.length} recorded, latest ${tags[tags.length - 1]}` };
  });
  const now = await c.admin.now().catch(() => new Date());
  await attempt('leases', async () => {
    const running = await c.admin.events({ state: 'running', limit: 10_000 });
    const stuck = running.filter((r) => r.lockedUntil !== null && r.lockedUntil < now);
    if (stuck.length === 0) return { status: 'ok', detail: `${running.length} running, none past its lease` };
    const oldest = stuck.reduce((a, b) => (a.lockedUntil! < b.lockedUntil! ? a : b));
    return {
      status: 'warn',
      detail: `${stuck.length} row(s) past their lease (oldest ${oldest.id}, ended ${ageText(now.getTime() - oldest.lockedUntil!.getTime())} ago): no live worker is rescuing them`,
    };
  });
  let queues: QueueOverview[] = [];
  await attempt('workers', async () => {
    queues = await c.admin.queues();
    const workers = await c.admin.workers({ seenWithinMs: 60_000 });
    const worked = new Set(workers.flatMap((w) => w.queues));
    const alone = queues.filter((q) => q.available + q.running + q.scheduled > 0 && !worked.has(q.queue));
    if (alone.length === 0)
      return { status: 'ok', detail: `${workers.length} worker process(es) seen in the last minute` };
    return {
      status: 'warn',
      detail: `queues with live rows and no process seen in the last minute: ${alone.map((q) => q.queue).join(', ')}`,
    };
  });
  await attempt('archive', async () => {
    const size = queues.reduce((n, q) => n + q.archivedCompleted + q.archivedFailed + q.archivedCancelled, 0);
    if (size === 0) return { status: 'ok', detail: 'empty' };
    const [oldest] = await c.admin.archive({ limit: 1 });
    const days = oldest ? (now.getTime() - oldest.finishedAt.getTime()) / 86_400_000 : 0;
    if (days > 30) {
      return {
        status: 'warn',
        detail: `${size} rows, the oldest finished ${days.toFixed(0)} days ago: no retention seems to prune it (set the bus's archive retention or run bus purge-archive)`,
      };
    }
    return { status: 'ok', detail: `${size} rows, the oldest finished ${days.toFixed(1)} days ago` };
  });
  return checks;
}
