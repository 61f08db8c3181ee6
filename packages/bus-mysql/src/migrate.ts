import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { BusError, isBusError } from 'bus-core';
import { is, sql } from 'drizzle-orm';
import { MySqlTransaction } from 'drizzle-orm/mysql-core';
import { missingSchema, type SchemaRow } from './check-schema.js';
import { mysqlErrorInfo, storeError } from './internal.js';
import {
  assertIdentifier,
  type BusTableNames,
  DEFAULT_ARCHIVE_TABLE,
  DEFAULT_EVENTS_TABLE,
  resolveTableNames,
} from './schema.js';
import type { MySqlTx } from './store.js';

/** Options of `migrate`. */
export interface MigrateOptions extends BusTableNames {
  /** Journal of applied migrations (default `bus_migrations`); one journal serves several table pairs. */
  migrationsTable?: string;
  /** Folder of the drizzle-kit migrations (default: the `drizzle` folder shipped in this package). */
  migrationsFolder?: string;
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

interface JournalEntry {
  idx: number;
  tag: string;
}

const BREAKPOINT = '--> statement-breakpoint';

function defaultFolder(): string {
  // src/migrate.ts and dist/index.{js,cjs} both sit one level below the package root.
  return fileURLToPath(new URL('../drizzle/', import.meta.url));
}

/**
 * Reads the committed migrations and renames the default tables to the configured ones.
 * Statements are split on drizzle-kit's breakpoints.
 */
export async function readMigrations(
  folder: string,
  names: Required<BusTableNames>,
): Promise<{ tag: string; hash: string; statements: string[] }[]> {
  const journalPath = `${folder.replace(/\/?$/, '/')}meta/_journal.json`;
  const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: JournalEntry[] };
  const entries = [...journal.entries].sort((a, b) => a.idx - b.idx);
  const out: { tag: string; hash: string; statements: string[] }[] = [];
  for (const entry of entries) {
    const text = await readFile(`${folder.replace(/\/?$/, '/')}${entry.tag}.sql`, 'utf8');
    const renamed = text
      .replaceAll(`\`${DEFAULT_ARCHIVE_TABLE}\``, `\`${names.archiveTable}\``)
      .replaceAll(`\`${DEFAULT_EVENTS_TABLE}\``, `\`${names.eventsTable}\``);
    const statements = renamed
      .split(BREAKPOINT)
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    out.push({ tag: entry.tag, hash: createHash('sha256').update(text).digest('hex'), statements });
  }
  return out;
}

/**
 * Creates or upgrades the bus tables with the migrations committed in this package, for apps
 * that do not run drizzle-kit themselves. Safe to call at every start-up from every process: a
 * `GET_LOCK` serialises concurrent calls, and a journal table records each statement applied, so
 * a second call does nothing. Pass the database (a pool), not a transaction: MySQL commits DDL
 * implicitly.
 *
 * @example
 * const db = drizzle(mysql.createPool(process.env.DATABASE_URL!));
 * await migrate(db);                                                   // bus_events, bus_events_archive
 * await migrate(db, { eventsTable: 'jobs', archiveTable: 'jobs_done' }); // custom names
 */
export async function migrate(db: MySqlTx, options: MigrateOptions = {}): Promise<MigrateResult> {
  const names = resolveTableNames(options);
  const journal = options.migrationsTable === undefined ? 'bus_migrations' : options.migrationsTable;
  assertIdentifier(journal, 'migrationsTable');
  const timeout = options.lockTimeoutSeconds ?? 60;
  if (!Number.isInteger(timeout) || timeout < 0 || timeout > 86_400) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `lockTimeoutSeconds must be an integer from 0 to 86400 (got ${timeout})`,
      {
        value: timeout,
      },
    );
  }
  let migrations: Awaited<ReturnType<typeof readMigrations>>;
  const folder = options.migrationsFolder ?? defaultFolder();
  try {
    migrations = await readMigrations(folder, names);
  } catch (cause) {
    throw new BusError('INVALID_CONFIG', `cannot read the migrations in ${folder}: ${String(cause)}`, {
      cause,
      value: folder,
    });
  }
  const scope = `${names.eventsTable}/${names.archiveTable}`;
  const journalTable = sql.identifier(journal);

  // GET_LOCK belongs to a connection: a transaction pins one connection of the pool for the whole
  // run (the DDL commits implicitly; the journal rows are written in autocommit mode after it).
  const run = async (tx: MySqlTx): Promise<MigrateResult> => {
    const [rows] = (await tx.execute(
      sql`SELECT DATABASE() AS db, GET_LOCK(CONCAT('bus_migrate:', SHA1(CONCAT(IFNULL(DATABASE(), ''), '/', ${scope}))), ${timeout}) AS locked`,
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
      await tx.execute(
        sql`CREATE TABLE IF NOT EXISTS ${journalTable} (
              scope varchar(130) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
              tag varchar(190) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
              hash char(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
              statements_applied int NOT NULL,
              statements_total int NOT NULL,
              applied_at datetime(6) NULL,
              PRIMARY KEY (scope, tag)
            )`,
      );
      const [done] = (await tx.execute(
        sql`SELECT tag, statements_applied FROM ${journalTable} WHERE scope = ${scope}`,
      )) as unknown as [{ tag: string; statements_applied: number }[]];
      const progress = new Map(done.map((r) => [r.tag, Number(r.statements_applied)]));
      if (progress.size === 0) {
        // No journal for these tables: they are new, or another tool made them (drizzle-kit from
        // bus-mysql/schema). Complete tables are adopted; partial ones are refused, since running
        // CREATE TABLE over them can only fail half way.
        const { missing, exists } = await missingSchema(async (query) => {
          const [rows] = (await tx.execute(query)) as unknown as [SchemaRow[]];
          return rows;
        }, names);
        if (exists && missing.length === 0) {
          for (const migration of migrations) {
            await tx.execute(
              sql`INSERT INTO ${journalTable} (scope, tag, hash, statements_applied, statements_total, applied_at)
                  VALUES (${scope}, ${migration.tag}, ${migration.hash}, ${migration.statements.length},
                    ${migration.statements.length}, UTC_TIMESTAMP(6))`,
            );
          }
          return { applied: [], adopted: migrations.map((m) => m.tag) };
        }
        if (exists) {
          throw new BusError(
            'MIGRATION_FAILED',
            `the bus tables exist but were not created by migrate() and lack ${missing.join(', ')}: keep migrating them the way they were made (drizzle-kit generate and migrate with bus-mysql/schema), or drop them and run migrate() again`,
            { value: missing },
          );
        }
      }
      const applied: string[] = [];
      for (const migration of migrations) {
        let next = progress.get(migration.tag);
        if (next === undefined) {
          await tx.execute(
            sql`INSERT INTO ${journalTable} (scope, tag, hash, statements_applied, statements_total)
                VALUES (${scope}, ${migration.tag}, ${migration.hash}, 0, ${migration.statements.length})`,
          );
          next = 0;
        }
        if (next >= migration.statements.length) continue;
        for (let i = next; i < migration.statements.length; i++) {
          try {
            await tx.execute(sql.raw(migration.statements[i]!));
          } catch (cause) {
            const info = mysqlErrorInfo(cause);
            throw new BusError(
              'MIGRATION_FAILED',
              `migration ${migration.tag} (statement ${i + 1} of ${migration.statements.length}) failed: ${info.message}`,
              { cause: info.error, value: migration.tag },
            );
          }
          await tx.execute(
            sql`UPDATE ${journalTable} SET statements_applied = ${i + 1},
                  applied_at = ${i + 1 === migration.statements.length ? sql`UTC_TIMESTAMP(6)` : sql`NULL`}
                WHERE scope = ${scope} AND tag = ${migration.tag}`,
          );
        }
        applied.push(migration.tag);
      }
      return { applied, adopted: [] };
    } finally {
      await tx
        .execute(
          sql`SELECT RELEASE_LOCK(CONCAT('bus_migrate:', SHA1(CONCAT(IFNULL(DATABASE(), ''), '/', ${scope}))))`,
        )
        .catch(() => undefined);
    }
  };

  try {
    return is(db, MySqlTransaction) ? await run(db) : await db.transaction((tx) => run(tx));
  } catch (error) {
    if (isBusError(error)) throw error;
    throw storeError('migrate', error, 'MIGRATION_FAILED');
  }
}
