import { type BusAdmin, BusError, createAdmin, type QueueStore } from 'bus-core';

/** Which database a URL names, chosen from its scheme. */
export type DatabaseKind = 'postgres' | 'mysql';

/** Where the CLI and the standalone dashboard find the bus tables. */
export interface ConnectOptions {
  /** `postgres://…` / `postgresql://…` or `mysql://…` / `mariadb://…`. */
  databaseUrl: string;
  /** PostgreSQL only: the schema holding the bus tables (its `search_path`). */
  schema?: string;
  /** The events table's name when not `bus_events` (the other tables' names derive from it). */
  eventsTable?: string;
}

/** An open database: its store, the admin API over it, and the means to close it. */
export interface Connection {
  kind: DatabaseKind;
  store: QueueStore<any>;
  admin: BusAdmin;
  /** Applies the bundled migrations of the URL's driver. */
  migrate(): Promise<{ applied: string[]; adopted: string[] }>;
  /** Runs one of the doctor's fixed, read-only diagnostic statements (no request text in it). */
  diagnose(statement: DiagnosticStatement): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** The statements `bus doctor` may run: constant text, chosen by name. */
export type DiagnosticStatement = 'server' | 'migrations';

const SCHEMA_PATTERN = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/**
 * Picks the driver from the URL's scheme. Exported for the CLI's and the server's argument checks.
 *
 * @example
 * databaseKind('postgres://localhost/app'); // 'postgres'
 */
export function databaseKind(url: string): DatabaseKind {
  let scheme: string;
  try {
    scheme = new URL(url).protocol;
  } catch {
    throw new BusError(
      'INVALID_CONFIG',
      'the database URL is not a URL (expected postgres://… or mysql://…)',
    );
  }
  if (scheme === 'postgres:' || scheme === 'postgresql:') return 'postgres';
  if (scheme === 'mysql:' || scheme === 'mariadb:') return 'mysql';
  throw new BusError(
    'INVALID_CONFIG',
    `the database URL's scheme ${JSON.stringify(scheme)} is neither postgres: nor mysql: (or mariadb:)`,
  );
}

/**
 * Opens the database a URL names with its driver (postgres.js and bus-postgres, or mysql2 and
 * bus-mysql), a small pool of its own, and no LISTEN connection (the admin API never waits).
 *
 * @example
 * const connection = await connect({ databaseUrl: process.env.DATABASE_URL! });
 * console.log(await connection.admin.queues());
 * await connection.close();
 */
export async function connect(options: ConnectOptions): Promise<Connection> {
  const kind = databaseKind(options.databaseUrl);
  if (options.schema !== undefined && kind !== 'postgres') {
    throw new BusError(
      'INVALID_CONFIG',
      '--schema applies to PostgreSQL only (a MySQL URL names its database)',
    );
  }
  if (options.schema !== undefined && !SCHEMA_PATTERN.test(options.schema)) {
    throw new BusError(
      'INVALID_IDENTIFIER',
      `the schema ${JSON.stringify(options.schema)} is not an identifier`,
    );
  }
  const tables = options.eventsTable ? { eventsTable: options.eventsTable } : {};
  if (kind === 'postgres') {
    // Each driver loads only when its URL is used, so a command starts with one client, not two.
    const [{ migrate, postgresStore }, { default: postgres }, { drizzle: drizzlePostgres }] =
      await Promise.all([import('bus-postgres'), import('postgres'), import('drizzle-orm/postgres-js')]);
    const client = postgres(options.databaseUrl, {
      max: 4,
      connect_timeout: 10,
      onnotice: () => {},
      connection: {
        application_name: 'bus-dashboard',
        ...(options.schema ? { search_path: options.schema } : {}),
      },
    });
    const db = drizzlePostgres(client);
    const store = postgresStore(db, { ...tables, listen: false });
    return opened(kind, store, {
      migrate: () => migrate(db, tables),
      async diagnose(statement) {
        if (statement === 'server') {
          return client`SELECT current_setting('server_version') AS server_version,
            current_setting('max_connections') AS max_connections,
            current_setting('default_transaction_isolation') AS isolation,
            current_setting('idle_in_transaction_session_timeout') AS idle_in_transaction_session_timeout,
            (SELECT count(*) FROM pg_stat_activity) AS connections`;
        }
        return client`SELECT to_regclass('bus_migrations') IS NOT NULL AS present`.then(
          async (rows: any[]) =>
            rows[0]?.present ? await client`SELECT tag FROM bus_migrations ORDER BY tag` : [],
        );
      },
      close: () => client.end({ timeout: 5 }),
    });
  }
  const [{ migrate, mysqlStore }, { default: mysql }, { drizzle: drizzleMysql }] = await Promise.all([
    import('bus-mysql'),
    import('mysql2/promise'),
    import('drizzle-orm/mysql2'),
  ]);
  const url = new URL(options.databaseUrl);
  url.protocol = 'mysql:';
  const pool = mysql.createPool({ uri: url.toString(), connectionLimit: 4, connectTimeout: 10_000 });
  const db = drizzleMysql(pool) as any;
  const store = mysqlStore(db, tables);
  return opened(kind, store, {
    migrate: () => migrate(db, tables),
    async diagnose(statement) {
      if (statement === 'server') {
        // SHOW VARIABLES, not @@names: MariaDB before 11.1 calls the isolation tx_isolation.
        const [rows] = await pool.query(
          `SHOW VARIABLES WHERE Variable_name IN ('version', 'version_comment', 'max_allowed_packet', 'transaction_isolation', 'tx_isolation', 'max_connections', 'innodb_lock_wait_timeout')`,
        );
        const settings: Record<string, unknown> = {};
        for (const r of rows as { Variable_name: string; Value: string }[])
          settings[r.Variable_name] = r.Value;
        return [
          {
            server_version: `${settings.version_comment ?? ''} ${settings.version ?? ''}`.trim(),
            max_allowed_packet: settings.max_allowed_packet,
            isolation: settings.transaction_isolation ?? settings.tx_isolation,
            max_connections: settings.max_connections,
            innodb_lock_wait_timeout: settings.innodb_lock_wait_timeout,
          },
        ];
      }
      const [tablesFound] = await pool.query(
        `SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'bus_migrations'`,
      );
      if (Number((tablesFound as any[])[0]?.n) === 0) return [];
      const [rows] = await pool.query('SELECT tag FROM bus_migrations ORDER BY tag');
      return rows as Record<string, unknown>[];
    },
    close: () => pool.end(),
  });
}

/** A connection over a driver's store: the admin API is built over it the same way for both drivers. */
function opened(
  kind: DatabaseKind,
  store: QueueStore<any>,
  driver: Pick<Connection, 'migrate' | 'diagnose' | 'close'>,
): Connection {
  return { kind, store, admin: createAdmin({ store }), ...driver };
}
