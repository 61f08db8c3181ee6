import { BusError } from 'bus-core';
import { type SQL, sql } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/mysql-core';
import { type BusTableNames, createBusTables } from './schema.js';

/** What this version of the store needs: each table with its columns and indexes. */
function expectedTables(names: BusTableNames): { table: string; columns: string[]; indexes: string[] }[] {
  const { events, archive } = createBusTables(names);
  return [events, archive].map((table) => {
    const config = getTableConfig(table);
    return {
      table: config.name,
      columns: config.columns.map((c) => c.name),
      indexes: config.indexes.map((i) => i.config.name),
    };
  });
}

/** The schema query's rows: what exists of the bus tables in the connection's database. */
export type SchemaRow = { kind: string; name: string };

/**
 * Lists what is missing of the bus tables in the connection's database (`table x`, `column x.y`,
 * `index x.z`), in the order of the schema; empty when everything this version reads is there.
 * `exists` tells whether any of the tables is there at all.
 */
export async function missingSchema(
  read: (query: SQL) => Promise<SchemaRow[]>,
  names: BusTableNames,
): Promise<{ missing: string[]; exists: boolean }> {
  const expected = expectedTables(names);
  const [events, archive] = expected.map((t) => t.table);
  // Names compared in lower case: lower_case_table_names decides how the server stores them.
  const found =
    await read(sql`SELECT 'table' AS kind, LOWER(TABLE_NAME) AS name FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND LOWER(TABLE_NAME) IN (LOWER(${events}), LOWER(${archive}))
UNION ALL
SELECT 'column', LOWER(CONCAT(TABLE_NAME, '.', COLUMN_NAME)) FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND LOWER(TABLE_NAME) IN (LOWER(${events}), LOWER(${archive}))
UNION ALL
SELECT DISTINCT 'index', LOWER(CONCAT(TABLE_NAME, '.', INDEX_NAME)) FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND LOWER(TABLE_NAME) IN (LOWER(${events}), LOWER(${archive}))`);
  const have = new Set(found.map((r) => `${r.kind} ${String(r.name)}`));
  const missing: string[] = [];
  let exists = false;
  for (const t of expected) {
    const table = t.table.toLowerCase();
    if (!have.has(`table ${table}`)) {
      missing.push(`table ${t.table}`);
      continue;
    }
    exists = true;
    for (const c of t.columns) {
      if (!have.has(`column ${table}.${c.toLowerCase()}`)) missing.push(`column ${t.table}.${c}`);
    }
    for (const i of t.indexes) {
      if (!have.has(`index ${table}.${i.toLowerCase()}`)) missing.push(`index ${t.table}.${i}`);
    }
  }
  return { missing, exists };
}

/**
 * Throws `SCHEMA_MISSING` unless both bus tables exist in the connection's database with every
 * column and index this version reads, naming what is missing and the migration that creates it.
 */
export async function checkSchema(
  read: (query: SQL) => Promise<SchemaRow[]>,
  names: BusTableNames,
): Promise<void> {
  const { missing } = await missingSchema(read, names);
  if (missing.length === 0) return;
  throw new BusError(
    'SCHEMA_MISSING',
    `the bus tables are missing or out of date (${missing.join(', ')}): run \`await migrate(db)\` from bus-mysql, or drizzle-kit generate and migrate with the tables of bus-mysql/schema in your schema (docs/mysql.md)`,
    { value: missing },
  );
}
