import { BusError, isBusError } from 'bus-core';
import {
  assertIdentifier,
  type BundledMigration,
  type BusTableNames,
  DEFAULT_MIGRATIONS_TABLE,
  planMigrations,
  renameTables,
  resolveTableNames,
  type SchemaRow,
} from 'bus-core/driver';
import { is, type SQLWrapper, sql } from 'drizzle-orm';
import { MySqlTransaction } from 'drizzle-orm/mysql-core';
import { missingSchema } from './check-schema.js';
import type { MySqlTx } from './client.js';
import { mysqlFailure } from './errors.js';
import { BUNDLED_MIGRATIONS } from './migrations.generated.js';

/** Options of `migrate`. */
export interface MigrateOptions extends BusTableNames {
  /** Journal of applied migrations (default `bus_migrations`); one journal serves several table pairs. */
  migrationsTable?: string;
  /** Seconds to wait for another process's migration to finish (default 60). */
  lockTimeoutSeconds?: number;
}

/** What `migrate` did. */
export interface MigrateResult {
  /** Tags of the migrations applied by this call, in order; empty when all were applied already. */
  applied: string[];
  /**
   * Tags recorded without running, because the tables were already there, complete, without a
   * journal entry: created by drizzle-kit (or by hand) from `bus-mysql/schema`.
   */
  adopted: string[];
}

/** MySQL's identifier limit, for the names `renameTables` derives. */
const MAX_IDENTIFIER = 64;

/**
 * The bundled migrations with the configured table names.
 *
 * @example
 * const [init] = bundledMigrations({ eventsTable: 'jobs', archiveTable: 'jobs_done' });
 */
export function bundledMigrations(names: BusTableNames): BundledMigration[] {
  // Resolved here too: the pauses and workers names default from the events table's.
  const resolved = resolveTableNames(names);
  return BUNDLED_MIGRATIONS.map((m) => ({
    ...m,
    statements: m.statements.map((s) => renameTables(s, resolved, '`', MAX_IDENTIFIER)),
  }));
}

function checkOptions(options: MigrateOptions): { journal: string; timeout: number } {
  if ('migrationsFolder' in options) {
    throw new BusError(
      'INVALID_CONFIG',
      'migrate() no longer takes migrationsFolder: the migrations are bundled in the code of bus-mysql (nothing to copy when you bundle your app); remove the option',
      { value: (options as { migrationsFolder?: unknown }).migrationsFolder },
    );
  }
  const journal = options.migrationsTable ?? DEFAULT_MIGRATIONS_TABLE;
  assertIdentifier(journal, 'migrationsTable');
  const timeout = options.lockTimeoutSeconds ?? 60;
  if (!Number.isInteger(timeout) || timeout < 0 || timeout > 86_400) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `lockTimeoutSeconds must be an integer from 0 to 86400 (got ${timeout})`,
      { value: timeout },
    );
  }
  return { journal, timeout };
}

/**
 * Creates or upgrades the bus tables with the migrations bundled in this package (what
 * drizzle-kit generated from `bus-mysql/schema`), for apps that do not run drizzle-kit
 * themselves. Safe to call at every start-up from every process: a `GET_LOCK` serialises
 * concurrent calls, and a journal table records each statement applied, so a second call does
 * nothing. Pass the database (a pool), not a transaction: MySQL commits DDL implicitly.
 *
 * @example
 * const db = drizzle(mysql.createPool(process.env.DATABASE_URL!));
 * await migrate(db);                                                   // bus_events, bus_events_archive
 * await migrate(db, { eventsTable: 'jobs', archiveTable: 'jobs_done' }); // custom names
 */
export async function migrate(db: MySqlTx, options: MigrateOptions = {}): Promise<MigrateResult> {
  const names = resolveTableNames(options);
  const { journal, timeout } = checkOptions(options);
  const migrations = bundledMigrations(names);
  const scope = `${names.eventsTable}/${names.archiveTable}`;
  const lockName = sql`CONCAT('bus_migrate:', SHA1(CONCAT(IFNULL(DATABASE(), ''), '/', ${scope})))`;

  // GET_LOCK belongs to a connection: a transaction pins one connection of the pool for the whole
  // run (the DDL commits implicitly; the journal rows are written in autocommit mode after it).
  const run = async (tx: MySqlTx): Promise<MigrateResult> => {
    const [rows] = (await tx.execute(
      sql`SELECT DATABASE() AS db, GET_LOCK(${lockName}, ${timeout}) AS locked`,
    )) as unknown as [{ db: string | null; locked: number | null }[]];
    const lock = rows[0];
    if (lock?.db === null || lock?.db === undefined) {
      throw new BusError(
        'INVALID_CONFIG',
        'migrate needs a connection with a default database (mysql://…/dbname)',
      );
    }
    if (Number(lock.locked) !== 1) {
      throw new BusError(
        'STORE_FAILED',
        `another migration of ${scope} held the lock for ${timeout} s; try again`,
        {
          value: scope,
        },
      );
    }
    try {
      return await apply(tx, new Journal(tx, sql.identifier(journal), scope), migrations, names);
    } finally {
      await tx.execute(sql`SELECT RELEASE_LOCK(${lockName})`).catch(() => undefined);
    }
  };

  try {
    return is(db, MySqlTransaction) ? await run(db) : await db.transaction((tx) => run(tx));
  } catch (error) {
    throw mysqlFailure('migrate', error, 'MIGRATION_FAILED');
  }
}

/**
 * The journal of one table pair. MySQL commits each DDL statement by itself, so a migration
 * cannot be rolled back: the journal counts the statements applied, and a migration that stopped
 * half-way (a process died) goes on from the next one.
 */
class Journal {
  constructor(
    private readonly tx: MySqlTx,
    private readonly table: SQLWrapper,
    private readonly scope: string,
  ) {}

  /** Creates the journal table if needed; returns each recorded tag's statements applied. */
  async progress(): Promise<Map<string, number>> {
    await this.tx.execute(
      sql`CREATE TABLE IF NOT EXISTS ${this.table} (
            scope varchar(130) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            tag varchar(190) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            hash char(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            statements_applied int NOT NULL,
            statements_total int NOT NULL,
            applied_at datetime(6) NULL,
            PRIMARY KEY (scope, tag)
          )`,
    );
    const [done] = (await this.tx.execute(
      sql`SELECT tag, statements_applied FROM ${this.table} WHERE scope = ${this.scope}`,
    )) as unknown as [{ tag: string; statements_applied: number }[]];
    return new Map(done.map((r) => [r.tag, Number(r.statements_applied)]));
  }

  /** Records `migration` with `applied` of its statements done (all: finished now). */
  async start(migration: BundledMigration, applied: number): Promise<void> {
    const total = migration.statements.length;
    await this.tx.execute(
      sql`INSERT INTO ${this.table} (scope, tag, hash, statements_applied, statements_total, applied_at)
          VALUES (${this.scope}, ${migration.tag}, ${migration.hash}, ${applied}, ${total},
                  ${applied === total ? sql`UTC_TIMESTAMP(6)` : sql`NULL`})`,
    );
  }

  /** Records that the first `applied` statements of `migration` ran. */
  async advance(migration: BundledMigration, applied: number): Promise<void> {
    const finished = applied === migration.statements.length;
    await this.tx.execute(
      sql`UPDATE ${this.table} SET statements_applied = ${applied},
            applied_at = ${finished ? sql`UTC_TIMESTAMP(6)` : sql`NULL`}
          WHERE scope = ${this.scope} AND tag = ${migration.tag}`,
    );
  }
}

async function apply(
  tx: MySqlTx,
  journal: Journal,
  migrations: BundledMigration[],
  names: Required<BusTableNames>,
): Promise<MigrateResult> {
  const progress = await journal.progress();
  const complete = new Set(
    migrations.filter((m) => (progress.get(m.tag) ?? -1) >= m.statements.length).map((m) => m.tag),
  );
  // The schema decides only while the journal holds nothing for these tables (new tables, or
  // tables another tool made); with entries, even of an unfinished migration, the journal does.
  const schema =
    progress.size === 0
      ? await missingSchema(async (query) => {
          const [rows] = (await tx.execute(query)) as unknown as [SchemaRow[]];
          return rows;
        }, names)
      : { missing: [], exists: false };
  const plan = planMigrations({ migrations, recorded: complete, schema, driver: 'bus-mysql' });
  if (plan.kind === 'adopt') {
    for (const migration of plan.migrations) await journal.start(migration, migration.statements.length);
    return { applied: [], adopted: plan.migrations.map((m) => m.tag) };
  }
  const applied: string[] = [];
  for (const migration of plan.migrations) {
    const from = progress.get(migration.tag);
    if (from === undefined) await journal.start(migration, 0);
    for (let i = from ?? 0; i < migration.statements.length; i++) {
      try {
        await tx.execute(sql.raw(migration.statements[i]!));
      } catch (cause) {
        if (isBusError(cause)) throw cause;
        throw mysqlFailure(
          `migration ${migration.tag} (statement ${i + 1} of ${migration.statements.length})`,
          cause,
          'MIGRATION_FAILED',
        );
      }
      await journal.advance(migration, i + 1);
    }
    applied.push(migration.tag);
  }
  return { applied, adopted: [] };
}
