import { runDemo } from './demo.js';
import { DemoError, firstLine, usageError } from './errors.js';
import { HELP, parseArgs } from './flags.js';
import type { DemoOutput } from './view.js';

/** The process around `main`: streams, environment, and the Ctrl+C signal. */
export interface CliIo {
  stdout: DemoOutput;
  stderr: { write(text: string): unknown };
  env: Record<string, string | undefined>;
  /** Aborted on the first Ctrl+C: the run stops gracefully. */
  signal?: AbortSignal;
}

/**
 * The command line: parses the flags, runs the demo, and returns the exit code. Every failure the
 * user can fix ends in one line on stderr, `bus-demo: …`, with no stack trace.
 *
 * Exit codes: 0 reconciled, also after a graceful stop by Ctrl+C (what was left is picked up by
 * the next run); 1 the numbers did not add up, or the run failed; 2 bad flags or `DATABASE_URL`;
 * 130 a second Ctrl+C, which quits at once.
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const parsed = parseArgs(argv);
    if (parsed.help) {
      io.stdout.write(`${HELP}\n`);
      return 0;
    }
    const { options } = parsed;
    const summary = await runDemo({
      users: options.users,
      rate: options.rate,
      fail: options.fail,
      databaseUrl: io.env.DATABASE_URL,
      dataDir: options.dataDir,
      output: io.stdout,
      live: !options.plain && io.stdout.isTTY === true,
      signal: io.signal,
      dashboard: dashboardOption(io.env.BUS_DEMO_DASHBOARD_PORT),
    });
    // A graceful stop is a success: nothing was lost, and `pnpm demo` must not report a failure.
    return summary.reconciled ? 0 : 1;
  } catch (error) {
    if (error instanceof DemoError) {
      io.stderr.write(`bus-demo: ${error.message}\n`);
      return error.exitCode;
    }
    const debug = /\bbus-demo\b|\*/.test(io.env.DEBUG ?? '');
    io.stderr.write(
      debug && error instanceof Error
        ? `bus-demo: unexpected error: ${error.stack}\n`
        : `bus-demo: unexpected error: ${firstLine(error)} (run with DEBUG=bus-demo to see the stack)\n`,
    );
    return 1;
  }
}

/** `BUS_DEMO_DASHBOARD_PORT`: unset serves the dashboard on 4680, `off` not at all, a number on that port. */
function dashboardOption(value: string | undefined): { port: number } | false {
  if (value === undefined || value === '') return { port: 4680 };
  if (value === 'off') return false;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw usageError(
      `BUS_DEMO_DASHBOARD_PORT must be a port from 0 to 65535 or off (got ${JSON.stringify(value)})`,
    );
  }
  return { port };
}
