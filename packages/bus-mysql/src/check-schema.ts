import {
  type BusTableNames,
  type ExpectedTable,
  missingFromSchema,
  type SchemaRow,
  schemaMissingError,
} from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/mysql-core';
import { createBusTables } from './schema.js';

/** What this version of the store needs: each table with its columns and indexes. */
function expectedTables(names: BusTableNames): ExpectedTable[] {
  const { events, archive, pauses, workers, keys, schedules, limits, starts } = createBusTables(names);
  return [events, archive, pauses, workers, keys, schedules, limits, starts].map((table) => {
    const config = getTableConfig(table);
    return {
      table: config.name,
      columns: config.columns.map((c) => c.name),
      indexes: config.indexes.map((i) => i.config.name),
    };
  });
}

/** Runs a query of the schema and returns its rows (`kind`, `name`). */
export type SchemaQuery = (query: SQL) => Promise<SchemaRow[]>;

/**
 * What is missing of the bus tables in the connection's database (`table x`, `column x.y`,
 * `index x.z`) and whether any of them exists: the one schema query, read by both `checkSchema`
 * and `migrate`.
 */
export async function missingSchema(
  read: SchemaQuery,
  names: BusTableNames,
): Promise<{ missing: string[]; exists: boolean }> {
  const expected = expectedTables(names);
  const tables = sql.join(
    expected.map((t) => sql`LOWER(${t.table})`),
    sql`, `,
  );
  // Names compared in lower case: lower_case_table_names decides how the server stores them.
  const found =
    await read(sql`SELECT 'table' AS kind, LOWER(TABLE_NAME) AS name FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND LOWER(TABLE_NAME) IN (${tables})
UNION ALL
SELECT 'column', LOWER(CONCAT(TABLE_NAME, '.', COLUMN_NAME)) FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND LOWER(TABLE_NAME) IN (${tables})
UNION ALL
SELECT DISTINCT 'index', LOWER(CONCAT(TABLE_NAME, '.', INDEX_NAME)) FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND LOWER(TABLE_NAME) IN (${tables})`);
  return missingFromSchema(expected, found);
}

/**
 * Resolves when the bus tables exist with every column and index this version reads; else
 * rejects with `SCHEMA_MISSING` naming what is missing and the migration that creates it.
 */
export async function checkSchema(read: SchemaQuery, names: BusTableNames): Promise<void> {
  const { missing } = await missingSchema(read, names);
  if (missing.length > 0) throw schemaMissingError(missing, 'bus-mysql', 'docs/mysql.md');
}
