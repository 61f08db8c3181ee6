import { BusError, isBusError } from 'bus-core';
import {
  assertIdentifier,
  type BundledMigration,
  type BusTableNames,
  DEFAULT_MIGRATIONS_TABLE,
  planMigrations,
  renameTables,
  resolveTableNames,
} from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import { missingSchema } from './check-schema.js';
import type { PgTx } from './client.js';
import { pgFailure } from './errors.js';
import { BUNDLED_MIGRATIONS } from './migrations.generated.js';
import { resolveSchema } from './options.js';
import { rowsOf } from './run.js';

/** Options of `migrate`. */
export interface MigrateOptions extends BusTableNames {
  /**
   * The schema to create the tables (and the journal) in, which must exist (default: the first
   * schema of the search path). The same as the store's `schema` option; the migration sets it
   * as its search path with `SET LOCAL`, which lasts only for the migration's transaction.
   */
  schema?: string;
  /** The table where `migrate` records what it applied (default `bus_migrations`). */
  migrationsTable?: string;
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
 * Use this or drizzle-kit (re-exporting `busEvents`, `busEventsArchive`, `busEventsPauses` and
 * `busEventsWorkers` from your schema), not both on the same tables.
 *
 * @example
 * import { migrate } from 'bus-postgres';
 * await migrate(db); // before createBus(...).init()
 */
export async function migrate(db: PgTx, options: MigrateOptions = {}): Promise<MigrateResult> {
  if ((options as { journalTable?: unknown } | null)?.journalTable !== undefined) {
    throw new BusError(
      'INVALID_CONFIG',
      'migrate() option journalTable is now migrationsTable (the same name in every driver)',
      { value: 'journalTable' },
    );
  }
  const names = resolveTableNames(options);
  const migrationsTable = options.migrationsTable ?? DEFAULT_MIGRATIONS_TABLE;
  assertIdentifier(migrationsTable, 'migrationsTable');
  const tablesSchema = resolveSchema(options.schema);
  const migrations: BundledMigration[] = BUNDLED_MIGRATIONS.map((m) => ({
    ...m,
    statements: m.statements.map((s) => renameTables(s, names, '"')),
  }));
  const journal = sql.identifier(migrationsTable);
  // The journal is keyed by the hot table's name, so several buses can share one database.
  const scope = names.eventsTable;

  try {
    return await db.transaction(async (tx) => {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(${LOCK_KEY}::int8)`);
      // Transaction-scoped, so a pooler in transaction mode never hands this setting to another
      // client: the migrations' unqualified names resolve in `tablesSchema`.
      if (tablesSchema !== undefined) {
        await tx.execute(sql`SELECT set_config('search_path', ${`"${tablesSchema}"`}, true)`);
      }
      await tx.execute(sql`CREATE TABLE IF NOT EXISTS ${journal} (
        scope text NOT NULL,
        tag text NOT NULL,
        hash text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (scope, tag)
      )`);
      const recorded = new Set(
        rowsOf<{ tag: string }>(await tx.execute(sql`SELECT tag FROM ${journal} WHERE scope = ${scope}`)).map(
          (r) => r.tag,
        ),
      );
      const schema =
        recorded.size === 0
          ? await missingSchema(async (query: SQL) => rowsOf(await tx.execute(query)), {
              ...names,
              schema: tablesSchema,
            })
          : { missing: [], exists: true };
      const plan = planMigrations({ migrations, recorded, schema, driver: 'bus-postgres' });
      const record = (migration: BundledMigration) =>
        tx.execute(
          sql`INSERT INTO ${journal} (scope, tag, hash) VALUES (${scope}, ${migration.tag}, ${migration.hash})`,
        );
      const done: string[] = [];
      for (const migration of plan.migrations) {
        if (plan.kind === 'apply') await applyMigration(tx, migration);
        await record(migration);
        done.push(migration.tag);
      }
      return plan.kind === 'adopt' ? { applied: [], adopted: done } : { applied: done, adopted: [] };
    });
  } catch (error) {
    if (isBusError(error)) throw error;
    throw pgFailure('migrate', error, 'MIGRATION_FAILED');
  }
}

async function applyMigration(tx: PgTx, migration: BundledMigration): Promise<void> {
  for (const [i, statement] of migration.statements.entries()) {
    try {
      await tx.execute(sql.raw(statement));
    } catch (error) {
      throw pgFailure(
        `migration ${migration.tag} (statement ${i + 1} of ${migration.statements.length})`,
        error,
        'MIGRATION_FAILED',
      );
    }
  }
}
