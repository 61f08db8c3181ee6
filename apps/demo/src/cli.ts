#!/usr/bin/env node
import { firstLine } from './errors.js';
import { main } from './main.js';

// The thin wrapper around `main`: signals in, exit code out.

const stop = new AbortController();
let interrupts = 0;
function onSignal(): void {
  interrupts++;
  if (interrupts === 1) {
    // On a terminal the live view says so itself (a line written here would upset its redraw).
    if (!process.stdout.isTTY || process.argv.includes('--plain')) {
      process.stderr.write(
        'bus-demo: stopping gracefully: running handlers finish, the rest goes back to its queue (Ctrl+C again to quit at once)\n',
      );
    }
    stop.abort();
    return;
  }
  process.stdout.write('\x1b[?25h');
  process.exit(130);
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

function crash(error: unknown): void {
  process.stdout.write(process.stdout.isTTY ? '\x1b[?25h' : '');
  process.stderr.write(`bus-demo: unexpected error: ${firstLine(error)}\n`);
  process.exit(1);
}
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: stop.signal,
});
process.exitCode = code;
// Everything is closed by now; should a driver keep a handle open, do not hang on it.
setTimeout(() => process.exit(code), 2000).unref();
