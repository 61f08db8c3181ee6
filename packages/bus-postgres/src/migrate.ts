import { BusError, isBusError } from 'bus-core';
import { type SQL, sql } from 'drizzle-orm';
import { missingSchema, type SchemaRow } from './check-schema.js';
import { BUNDLED_MIGRATIONS, type BundledMigration } from './migrations.generated.js';
import { assertIdentifier, type BusTableNames, DEFAULT_ARCHIVE_TABLE, resolveTableNames } from './schema.js';
import { type PgTx, rowsOf, storeError } from './sql.js';

/** Options of `migrate`. */
export interface MigrateOptions extends BusTableNames {
  /** The table where `migrate` records what it applied (default `bus_migrations`). */
  journalTable?: string;
}

/** What `migrate` did. */
export interface MigrateResult {
  /** Tags of the migrations applied by this call, in order (empty when all were applied before). */
  applied: string[];
  /**
   * Tags recorded without running, because the tables were already there, complete, without a
   * journal entry: created by drizzle-kit (or by hand) from `bus-postgres/schema`.
   */
  adopted: string[];
}

// One key for every bus migration in a database: concurrent `migrate` calls (several processes
// starting at once) run one after the other.
const LOCK_KEY = '7164259881029437001';

/**
 * Creates or updates the bus tables with the SQL migrations bundled in this package (the ones
 * drizzle-kit generated from `bus-postgres/schema`). Idempotent; concurrent calls are serialized by
 * a transaction-scoped advisory lock, and each applied migration is recorded in `bus_migrations`.
 * Custom table names get the same migrations with the names substituted.
 *
 * Use this or drizzle-kit (re-exporting `busEvents` and `busEventsArchive` from your schema), not
 * both on the same tables.
 *
 * @example
 * import { migrate } from 'bus-postgres';
 * await migrate(db); // before createBus(...).init()
 */
export async function migrate(db: PgTx, options: MigrateOptions = {}): Promise<MigrateResult> {
  const { eventsTable, archiveTable } = resolveTableNames(options);
  const journalTable = options.journalTable ?? 'bus_migrations';
  assertIdentifier(journalTable, 'journalTable');
  const migrations = BUNDLED_MIGRATIONS.map((m) => renameTables(m, eventsTable, archiveTable));
  const journal = sql.identifier(journalTable);
  // The journal is keyed by the hot table's name, so several buses can share one database.
  const scope = eventsTable;

  try {
    return await db.transaction(async (tx) => {
      const run = async (query: SQL) => rowsOf<SchemaRow>(await tx.execute(query));
      await tx.execute(sql`SELECT pg_advisory_xact_lock(${LOCK_KEY}::int8)`);
      await tx.execute(sql`CREATE TABLE IF NOT EXISTS ${journal} (
        scope text NOT NULL,
        tag text NOT NULL,
        hash text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (scope, tag)
      )`);
      const done = new Set(
        rowsOf<{ tag: string }>(await tx.execute(sql`SELECT tag FROM ${journal} WHERE scope = ${scope}`)).map(
          (r) => r.tag,
        ),
      );
      const record = (migration: BundledMigration) =>
        tx.execute(
          sql`INSERT INTO ${journal} (scope, tag, hash) VALUES (${scope}, ${migration.tag}, ${migration.hash})`,
        );
      if (done.size === 0) {
        // No journal for these tables: they are new, or another tool made them (drizzle-kit from
        // bus-postgres/schema). Complete tables are adopted; partial ones are refused, since
        // running CREATE TABLE over them can only fail half way.
        const { missing, exists } = await missingSchema((_operation, query) => run(query), {
          eventsTable,
          archiveTable,
        });
        if (exists && missing.length === 0) {
          for (const migration of migrations) await record(migration);
          return { applied: [], adopted: migrations.map((m) => m.tag) };
        }
        if (exists) {
          throw new BusError(
            'MIGRATION_FAILED',
            `the bus tables exist but were not created by migrate() and lack ${missing.join(', ')}: keep migrating them the way they were made (drizzle-kit generate and migrate with bus-postgres/schema), or drop them and run migrate() again`,
            { value: missing },
          );
        }
      }
      const applied: string[] = [];
      for (const migration of migrations) {
        if (done.has(migration.tag)) continue;
        for (const [i, statement] of migration.statements.entries()) {
          try {
            await tx.execute(sql.raw(statement));
          } catch (error) {
            throw storeError(
              `migration ${migration.tag} (statement ${i + 1} of ${migration.statements.length})`,
              error,
              'MIGRATION_FAILED',
            );
          }
        }
        await record(migration);
        applied.push(migration.tag);
      }
      return { applied, adopted: [] };
    });
  } catch (error) {
    if (isBusError(error)) throw error;
    throw storeError('migrate', error, 'MIGRATION_FAILED');
  }
}

/** The bundled migrations with `bus_events` / `bus_events_archive` (and their index names) renamed. */
function renameTables(
  migration: BundledMigration,
  eventsTable: string,
  archiveTable: string,
): BundledMigration {
  const statements = migration.statements.map((statement) =>
    statement.replace(
      /"(bus_events_archive|bus_events)([a-z0-9_]*)"/g,
      (_match, base: string, suffix: string) => {
        const name = (base === DEFAULT_ARCHIVE_TABLE ? archiveTable : eventsTable) + suffix;
        if (name.length > 63) {
          throw new BusError(
            'INVALID_IDENTIFIER',
            `table name too long: the derived name ${name} exceeds PostgreSQL's 63 characters; choose a shorter table name`,
            { value: name },
          );
        }
        return `"${name}"`;
      },
    ),
  );
  return { ...migration, statements };
}
