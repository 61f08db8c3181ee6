import { usageError } from './errors.js';

/** What the command line asks for. */
export interface CliOptions {
  /** Sign-ups to make. */
  users: number;
  /** Sign-ups per second. */
  rate: number;
  /** Share of send attempts the fake mail service rejects (0 to 1). */
  fail: number;
  /** Where the embedded PGlite keeps its data (default apps/demo/.data). */
  dataDir: string | undefined;
  /** Print progress lines instead of redrawing the live view in place. */
  plain: boolean;
}

/** The parsed command line: run with options, or print the help. */
export type ParsedArgs = { help: true } | { help: false; options: CliOptions };

export const DEFAULTS = { users: 200, rate: 50, fail: 0.1 } as const;
export const LIMITS = { maxUsers: 100_000, minRate: 0.1, maxRate: 10_000 } as const;

export const HELP = `bus-demo: a sign-up service on bus, with a live view of its queues

usage: pnpm demo [--users N] [--rate R] [--fail P] [--data-dir DIR] [--plain]

  --users N       sign-ups to make (1 to ${LIMITS.maxUsers}; default ${DEFAULTS.users})
  --rate R        sign-ups per second (${LIMITS.minRate} to ${LIMITS.maxRate}; default ${DEFAULTS.rate})
  --fail P        share of sends the mail service rejects, 0 to 1 or a percentage
                  (default ${DEFAULTS.fail}); a mail is tried 4 times before it is archived as failed
  --data-dir DIR  where the embedded PGlite keeps its data (default apps/demo/.data)
  --plain         print progress lines instead of redrawing the view (automatic when not a terminal)
  -h, --help      show this help

Each sign-up writes a demo_users row and publishes SendEmailEvent in the same transaction; three
handlers receive it in the queues email, high and low.

The database comes from DATABASE_URL: unset runs on the embedded PGlite; postgres://… runs on
PostgreSQL; mysql://… runs on MySQL or MariaDB. Ctrl+C stops gracefully: running handlers finish
(up to 10 s), the rest is handed back, and the next run picks it up.

While it runs, the bus dashboard is served at http://127.0.0.1:4680/ (another free port when 4680
is taken; BUS_DEMO_DASHBOARD_PORT=N picks the port, =off turns it off).`;

/** Checks a number of sign-ups. */
export function checkUsers(value: unknown, shown = String(value)): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > LIMITS.maxUsers) {
    throw usageError(`--users must be a whole number from 1 to ${LIMITS.maxUsers} (got ${shown})`);
  }
  return value;
}

/** Checks a rate of sign-ups per second. */
export function checkRate(value: unknown, shown = String(value)): number {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < LIMITS.minRate ||
    value > LIMITS.maxRate
  ) {
    throw usageError(
      `--rate must be sign-ups per second from ${LIMITS.minRate} to ${LIMITS.maxRate} (got ${shown})`,
    );
  }
  return value;
}

/** Checks a failure share. */
export function checkFail(value: unknown, shown = String(value)): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw usageError(`--fail must be a share from 0 to 1, like 0.1 or 10% (got ${shown})`);
  }
  return value;
}

const DECIMAL = /^[0-9]+(\.[0-9]+)?$|^\.[0-9]+$/;

function decimal(text: string): number {
  return DECIMAL.test(text) ? Number(text) : Number.NaN;
}

type ValueFlag = 'users' | 'rate' | 'fail' | 'data-dir';
const VALUE_FLAGS = new Set<string>(['users', 'rate', 'fail', 'data-dir']);

/**
 * Parses the command line. Every mistake is a usage `DemoError` whose one-line message says what
 * to fix.
 *
 * @example
 * parseArgs(['--users', '200', '--rate', '50', '--fail', '0.1']);
 */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const values: Partial<Record<ValueFlag, string>> = {};
  let plain = false;
  const args = argv[0] === '--' ? argv.slice(1) : [...argv];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-h' || arg === '--help') return { help: true };
    if (arg === '--plain') {
      plain = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      throw usageError(
        arg.startsWith('-')
          ? `unknown option ${arg}: the options are --users, --rate, --fail, --data-dir, --plain and --help`
          : `unexpected argument ${JSON.stringify(arg)}: options look like --users 200 (see --help)`,
      );
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (name === 'plain' || name === 'help') throw usageError(`--${name} takes no value`);
    if (!VALUE_FLAGS.has(name)) {
      throw usageError(
        `unknown option --${name}: the options are --users, --rate, --fail, --data-dir, --plain and --help`,
      );
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = args[i + 1];
      if (value === undefined || value.startsWith('--')) {
        throw usageError(`--${name} needs a value, like ${example(name as ValueFlag)}`);
      }
      i++;
    }
    if (values[name as ValueFlag] !== undefined) throw usageError(`--${name} is given twice`);
    values[name as ValueFlag] = value;
  }

  const shown = (text: string) => JSON.stringify(text);
  const users =
    values.users === undefined ? DEFAULTS.users : checkUsers(decimal(values.users), shown(values.users));
  const rate =
    values.rate === undefined ? DEFAULTS.rate : checkRate(decimal(values.rate), shown(values.rate));
  let fail: number = DEFAULTS.fail;
  if (values.fail !== undefined) {
    const text = values.fail.trim();
    const n = text.endsWith('%') ? decimal(text.slice(0, -1)) / 100 : decimal(text);
    fail = checkFail(n, shown(values.fail));
  }
  const dataDir = values['data-dir'];
  if (dataDir !== undefined && dataDir.trim() === '')
    throw usageError('--data-dir needs a folder, like --data-dir ./my-data');
  return { help: false, options: { users, rate, fail, dataDir, plain } };
}

function example(name: ValueFlag): string {
  switch (name) {
    case 'users':
      return '--users 200';
    case 'rate':
      return '--rate 50';
    case 'fail':
      return '--fail 0.1';
    case 'data-dir':
      return '--data-dir ./my-data';
  }
}
