import { BusError } from 'bus-core';
import { sql } from 'drizzle-orm';
import type { MySqlDatabase } from 'drizzle-orm/mysql-core';
import type { MySql2PreparedQueryHKT, MySql2QueryResultHKT } from 'drizzle-orm/mysql2';
import { read, select } from './run.js';

/**
 * A Drizzle MySQL database or transaction on mysql2: what `publishTxn`, `ctx.tx` and
 * `store.transaction` use. A Drizzle Postgres database does not fit this type.
 */
export type MySqlTx = MySqlDatabase<MySql2QueryResultHKT, MySql2PreparedQueryHKT, any, any>;

/** What the store learns about the server once (first insert). */
export interface ServerInfo {
  /** MariaDB has `INSERT … RETURNING` and `DELETE … RETURNING`; MySQL 8 has neither. */
  mariadb: boolean;
  /** `@@max_allowed_packet`: the largest statement the server accepts. */
  maxAllowedPacket: number;
  /** `@@auto_increment_increment`: the step between ids of one multi-row insert (MySQL path). */
  autoIncrementIncrement: number;
}

/** The connection options of the mysql2 pool or connection under a Drizzle database. */
function mysql2Config(db: unknown): Record<string, unknown> | undefined {
  const client = (db as { session?: { client?: unknown } } | null)?.session?.client as
    | {
        pool?: { config?: { connectionConfig?: unknown } };
        connection?: { config?: unknown };
        config?: { connectionConfig?: unknown };
      }
    | undefined;
  const config =
    client?.pool?.config?.connectionConfig ?? client?.connection?.config ?? client?.config?.connectionConfig;
  return typeof config === 'object' && config !== null ? (config as Record<string, unknown>) : undefined;
}

/**
 * How many connections the mysql2 pool under a Drizzle database holds (`connectionLimit`), or
 * undefined for a single connection or a client that does not say: the core checks it against
 * what the workers need (`POOL_TOO_SMALL`).
 */
export function poolSizeOf(db: unknown): number | undefined {
  const client = (db as { session?: { client?: unknown } } | null)?.session?.client as
    | { pool?: { config?: { connectionLimit?: unknown } }; config?: { connectionLimit?: unknown } }
    | undefined;
  const limit = client?.pool?.config?.connectionLimit ?? client?.config?.connectionLimit;
  return typeof limit === 'number' && Number.isInteger(limit) && limit > 0 ? limit : undefined;
}

/**
 * Refuses what the store cannot work through: anything but a Drizzle database, and a mysql2 pool
 * with a custom `queryFormat`, which rewrites every statement the store sends. Rows are read
 * with per-statement options (arrays, every value as raw bytes) that override `rowsAsArray`,
 * `typeCast`, `dateStrings`, `supportBigNumbers`/`bigNumberStrings`, `decimalNumbers`,
 * `jsonStrings` and `timezone`, and values always travel as an array, which
 * `namedPlaceholders` leaves alone.
 */
export function assertDatabase(db: unknown): asserts db is MySqlTx {
  if (typeof db !== 'object' || db === null || typeof (db as { execute?: unknown }).execute !== 'function') {
    throw new BusError('INVALID_CONFIG', 'mysqlStore needs a Drizzle MySQL database (drizzle-orm/mysql2)', {
      value: db,
    });
  }
  if (typeof mysql2Config(db)?.queryFormat === 'function') {
    throw new BusError(
      'INVALID_CONFIG',
      'mysqlStore cannot use a mysql2 pool with a custom queryFormat (it rewrites the statements the store sends); give the store a pool without it',
      { value: 'queryFormat' },
    );
  }
}

const SERVER_QUERY = sql`SELECT VERSION() AS version, @@max_allowed_packet AS max_allowed_packet,
                                @@auto_increment_increment AS increment`;

/**
 * The server's flavour, `max_allowed_packet` and id step, read once and cached; forgotten when a
 * statement suggests they changed (the server refused a packet the store thought would fit).
 */
export class ServerInfoCache {
  readonly #db: MySqlTx;
  #info: Promise<ServerInfo> | undefined;

  constructor(db: MySqlTx, known?: ServerInfo) {
    this.#db = db;
    if (known !== undefined) this.#info = Promise.resolve(known);
  }

  /** The cached settings, read through `db` (a caller's transaction, whose connection may be the last one free) when not known yet. */
  get(db: MySqlTx = this.#db): Promise<ServerInfo> {
    if (this.#info === undefined) {
      const loading = read('reading the server settings', () => select(db, SERVER_QUERY)).then(
        ([row]) => ({
          mariadb: /mariadb/i.test(String(row?.version)),
          maxAllowedPacket: Number(row?.max_allowed_packet) || 4 * 1024 * 1024,
          autoIncrementIncrement: Number(row?.increment) || 1,
        }),
        (error: unknown) => {
          if (this.#info === loading) this.#info = undefined;
          throw error;
        },
      );
      this.#info = loading;
    }
    return this.#info;
  }

  /** Reads the settings again on next use. */
  forget(): void {
    this.#info = undefined;
  }
}
