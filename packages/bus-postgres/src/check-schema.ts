import { BusError } from 'bus-core';
import { type SQL, sql } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { type BusTableNames, createBusTables } from './schema.js';

/** What this version of the store needs: each table with its columns and indexes. */
function expectedTables(names: BusTableNames): { table: string; columns: string[]; indexes: string[] }[] {
  const { events, archive } = createBusTables(names);
  return [events, archive].map((table) => {
    const config = getTableConfig(table);
    return {
      table: config.name,
      columns: config.columns.map((c) => c.name),
      indexes: config.indexes.map((i) => i.config.name).filter((n): n is string => n !== undefined),
    };
  });
}

/** The schema query's rows: what exists of the bus tables on the search path. */
export type SchemaRow = { kind: string; name: string };

/**
 * Lists what is missing of the bus tables on the search path (`table x`, `column x.y`,
 * `index z`), in the order of the schema; empty when everything this version reads is there.
 * `exists` tells whether any of the tables is there at all.
 */
export async function missingSchema(
  run: (operation: string, query: SQL) => Promise<SchemaRow[]>,
  names: BusTableNames,
): Promise<{ missing: string[]; exists: boolean }> {
  const expected = expectedTables(names);
  const [events, archive] = expected.map((t) => t.table);
  // One round trip; to_regclass resolves each name on the search path as the store's queries do.
  const found = await run(
    'checkSchema',
    sql`WITH t AS (
  SELECT c.oid, c.relname FROM pg_class c
  WHERE c.oid = to_regclass(quote_ident(${events}::text)) OR c.oid = to_regclass(quote_ident(${archive}::text))
)
SELECT 'table' AS kind, t.relname::text AS name FROM t
UNION ALL
SELECT 'column', t.relname || '.' || a.attname FROM t JOIN pg_attribute a ON a.attrelid = t.oid
WHERE a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'index', i.relname::text FROM t JOIN pg_index x ON x.indrelid = t.oid JOIN pg_class i ON i.oid = x.indexrelid`,
  );
  const have = new Set(found.map((r) => `${r.kind} ${r.name}`));
  const missing: string[] = [];
  let exists = false;
  for (const t of expected) {
    if (!have.has(`table ${t.table}`)) {
      missing.push(`table ${t.table}`);
      continue;
    }
    exists = true;
    for (const c of t.columns)
      if (!have.has(`column ${t.table}.${c}`)) missing.push(`column ${t.table}.${c}`);
    for (const i of t.indexes) if (!have.has(`index ${i}`)) missing.push(`index ${i}`);
  }
  return { missing, exists };
}

/**
 * Throws `SCHEMA_MISSING` unless both bus tables exist on the search path with every column and
 * index this version reads, naming what is missing and the migration that creates it.
 */
export async function checkSchema(
  run: (operation: string, query: SQL) => Promise<SchemaRow[]>,
  names: BusTableNames,
): Promise<void> {
  const { missing } = await missingSchema(run, names);
  if (missing.length === 0) return;
  throw new BusError(
    'SCHEMA_MISSING',
    `the bus tables are missing or out of date (${missing.join(', ')}): run \`await migrate(db)\` from bus-postgres, or drizzle-kit generate and migrate with the tables of bus-postgres/schema in your schema (docs/postgres.md)`,
    { value: missing },
  );
}
