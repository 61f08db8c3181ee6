import { randomBytes } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import type {
  ArchivedEventRow,
  EventRow,
  ListArchiveParams,
  ListEventsParams,
  QueueStore,
} from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePglite, type PgliteDatabase } from 'drizzle-orm/pglite';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { TEST_POSTGRES_URL, unreachable } from '../../../test-support/databases.js';
import { type MigrateOptions, migrate, resolveTableNames } from '../src/index.js';

/** The test server (`BUS_TEST_POSTGRES_URL`); tests FAIL (never skip) when it is unreachable. */
export const PG_URL = TEST_POSTGRES_URL;

/** A postgres.js client on `url` whose unqualified names resolve in `schema`. */
export function pgClient(
  options: { schema?: string; url?: string; max?: number; applicationName?: string } = {},
) {
  return postgres(options.url ?? PG_URL, {
    max: options.max ?? 5,
    connect_timeout: 10,
    onnotice: () => {},
    connection: {
      ...(options.schema ? { search_path: options.schema } : {}),
      application_name: options.applicationName ?? 'bus-postgres-test',
    },
  });
}

/** A fresh schema of its own for one test file, with its client, Drizzle db and clean-up. */
export interface TestSchema {
  schema: string;
  client: postgres.Sql;
  db: PostgresJsDatabase;
  /** Empties the bus tables. */
  truncate(tables?: MigrateOptions): Promise<void>;
  drop(): Promise<void>;
}

/** A unique lower-case identifier with `prefix`. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** Creates a schema, migrates the bus tables into it and connects to it. */
export async function createTestSchema(prefix: string, options: MigrateOptions & { max?: number } = {}) {
  const schema = uniqueName(`bt_${prefix}`);
  const admin = pgClient({ max: 1 });
  try {
    await admin.unsafe(`CREATE SCHEMA "${schema}"`);
  } catch (cause) {
    throw unreachable('postgres', PG_URL, cause);
  } finally {
    await admin.end();
  }
  const client = pgClient({ schema, max: options.max ?? 5 });
  const db = drizzle(client);
  await migrate(db, options);
  const result: TestSchema = {
    schema,
    client,
    db,
    async truncate(tables = options) {
      const names = Object.values(resolveTableNames(tables)).map((name) => sql.identifier(name));
      await db.execute(sql`TRUNCATE ${sql.join(names, sql.raw(', '))}`);
    },
    async drop() {
      await client.end({ timeout: 5 });
      const admin = pgClient({ max: 1 });
      try {
        await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await admin.end();
      }
    },
  };
  return result;
}

/** An in-memory PGlite database with the bus tables. */
export async function createPglite(options: MigrateOptions = {}): Promise<{
  pglite: PGlite;
  db: PgliteDatabase;
  close(): Promise<void>;
}> {
  const pglite = new PGlite();
  const db = drizzlePglite(pglite);
  await migrate(db, options);
  return { pglite, db, close: () => pglite.close() };
}

/** A TCP proxy to the test server that a test can take down and bring back: a network outage. */
export interface TcpProxy {
  url: string;
  /** Cuts every open connection and refuses new ones (connection refused), like a server that went away. */
  down(): Promise<void>;
  /** Accepts connections again. */
  up(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a `TcpProxy` on a free local port in front of `PG_URL`'s server. */
export async function tcpProxy(): Promise<TcpProxy> {
  const target = new URL(PG_URL);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (!server.listening) resolve();
      else server.close(() => resolve());
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const url = new URL(PG_URL);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return { url: url.toString(), down: stop, up: () => listen(port), close: stop };
}

/** Live rows through the store's inspection, every row unless filtered. */
export function live(
  store: QueueStore<any>,
  filter: Omit<ListEventsParams, 'limit'> = {},
): Promise<EventRow[]> {
  return store.inspect.listEvents({ limit: 10_000, ...filter });
}

/** Archived rows through the store's inspection, every row unless filtered. */
export function archived(
  store: QueueStore<any>,
  filter: Omit<ListArchiveParams, 'limit'> = {},
): Promise<ArchivedEventRow[]> {
  return store.inspect.listArchive({ limit: 10_000, ...filter });
}
