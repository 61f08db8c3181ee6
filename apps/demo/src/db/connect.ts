import { DemoError, errorCode, firstLine } from '../errors.js';

/** The URL with its password replaced by `***`, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

const HINTS: Record<string, string> = {
  ECONNREFUSED: 'nothing listens there: start the server or fix the host and port in DATABASE_URL',
  ENOTFOUND: 'the host name does not resolve: fix the host in DATABASE_URL',
  EAI_AGAIN: 'the host name does not resolve: fix the host in DATABASE_URL',
  ETIMEDOUT: 'the server did not answer in time: check the host, port and firewall',
  CONNECT_TIMEOUT: 'the server did not answer in time: check the host, port and firewall',
  EHOSTUNREACH: 'the host is unreachable: check the host in DATABASE_URL',
  // PostgreSQL
  '3D000': 'create that database first or name another one in DATABASE_URL',
  '28P01': 'check the user name and password in DATABASE_URL',
  '28000': 'the server refused this user: check the user in DATABASE_URL and pg_hba.conf',
  // MySQL / MariaDB
  ER_BAD_DB_ERROR: 'create that database first or name another one in DATABASE_URL',
  ER_ACCESS_DENIED_ERROR: 'check the user name and password in DATABASE_URL',
  ER_DBACCESS_DENIED_ERROR: 'this user may not use that database: grant access or use another user',
};

/**
 * The one-line error for a database the demo cannot open: what failed, the driver's reason, and
 * what to do about it.
 */
export function connectError(
  what: 'PostgreSQL' | 'MySQL' | 'PGlite',
  target: string,
  error: unknown,
): DemoError {
  const code = errorCode(error);
  const reason = firstLine(error);
  if (what === 'PGlite') {
    return new DemoError(
      `cannot open the embedded PGlite database in ${target}: ${reason} (delete that folder to start afresh, or pass --data-dir)`,
      { cause: error },
    );
  }
  const hint =
    (code !== undefined ? HINTS[code] : undefined) ??
    'check DATABASE_URL, or unset it to run on the embedded PGlite';
  return new DemoError(`cannot connect to ${what} at ${redactUrl(target)}: ${reason} — ${hint}`, {
    cause: error,
  });
}
