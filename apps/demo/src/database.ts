import { relative, resolve } from 'node:path';
import { redactUrl } from './db/connect.js';
import { openMySql } from './db/mysql.js';
import { openPGlite, openPostgres } from './db/postgres.js';
import type { AppDatabase } from './db/types.js';
import { usageError } from './errors.js';

/** Which database the demo runs on. */
export type DatabaseTarget =
  | { kind: 'pglite'; dataDir: string }
  | { kind: 'postgres'; url: string }
  | { kind: 'mysql'; url: string };

/**
 * Reads `DATABASE_URL`: unset or empty → the embedded PGlite in `dataDir`; `postgres://` or
 * `postgresql://` → PostgreSQL; `mysql://` → MySQL or MariaDB. Anything else is a usage error.
 */
export function databaseTarget(databaseUrl: string | undefined, dataDir: string): DatabaseTarget {
  const url = databaseUrl?.trim();
  if (url === undefined || url === '') return { kind: 'pglite', dataDir: resolve(dataDir) };
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw usageError(
      'DATABASE_URL is not a URL: use postgres://user:password@host:5432/db or mysql://user:password@host:3306/db, or unset it to use the embedded PGlite',
    );
  }
  if (protocol === 'postgres:' || protocol === 'postgresql:') return { kind: 'postgres', url };
  if (protocol === 'mysql:') return { kind: 'mysql', url };
  throw usageError(
    `DATABASE_URL must start with postgres://, postgresql:// or mysql:// (got ${protocol}//…), or be unset to use the embedded PGlite`,
  );
}

/** Where the data lives, for people (passwords redacted). */
export function describeTarget(target: DatabaseTarget): string {
  switch (target.kind) {
    case 'pglite': {
      const shown = relative(process.cwd(), target.dataDir) || '.';
      return `embedded PGlite in ${shown.startsWith('..') ? target.dataDir : shown}`;
    }
    case 'postgres':
      return `PostgreSQL at ${redactUrl(target.url)}`;
    case 'mysql':
      return `MySQL at ${redactUrl(target.url)}`;
  }
}

/** Opens (and checks) the database; unreachable or unusable ends in a one-line `DemoError`. */
export function openDatabase(target: DatabaseTarget): Promise<AppDatabase> {
  const label = describeTarget(target);
  switch (target.kind) {
    case 'pglite':
      return openPGlite(target.dataDir, label);
    case 'postgres':
      return openPostgres(target.url, label);
    case 'mysql':
      return openMySql(target.url, label);
  }
}
