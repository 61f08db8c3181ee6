import { describeError } from 'bus-core';

/**
 * A failure the user can fix (a bad flag, an unreachable database, …). The CLI prints its message
 * as one line, without a stack trace; `exitCode` is 2 for usage errors and 1 for the rest.
 */
export class DemoError extends Error {
  readonly exitCode: number;

  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DemoError';
    this.exitCode = options.exitCode ?? 1;
  }
}

/** A bad flag or setting: exit code 2. */
export function usageError(message: string): DemoError {
  return new DemoError(message, { exitCode: 2 });
}

/**
 * The first line of an error's own message, without the stack: what a one-line report needs.
 * Looks through Drizzle's query wrapper and AggregateError (connecting to `localhost` tries
 * both ::1 and 127.0.0.1) to the driver's message.
 */
export function firstLine(error: unknown): string {
  let e: unknown = error;
  for (let depth = 0; depth < 5; depth++) {
    if (e instanceof AggregateError && e.errors.length > 0 && !e.message) {
      e = e.errors[0];
      continue;
    }
    if (e instanceof Error && e.message.startsWith('Failed query:') && e.cause !== undefined) {
      e = e.cause;
      continue;
    }
    break;
  }
  let text: string;
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    text = e.message || (typeof code === 'string' ? code : e.name);
  } else {
    text = describeError(e);
  }
  const line = text.split('\n', 1)[0]!.trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/** The driver's error code (`ECONNREFUSED`, `3D000`, `ER_BAD_DB_ERROR`, …), when there is one. */
export function errorCode(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.length > 0) return code;
    e = e instanceof AggregateError && e.errors.length > 0 ? e.errors[0] : e.cause;
  }
  return undefined;
}
