import {
  type BusTableNames,
  type ExpectedTable,
  missingFromSchema,
  type SchemaRow,
  schemaMissingError,
} from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { pgArray } from './encode.js';
import { createBusTables } from './schema.js';

/** What this version of the store needs: each table with its columns and indexes. */
function expectedTables(names: BusTableNames): ExpectedTable[] {
  const { events, archive, pauses, workers, keys, schedules, limits, starts } = createBusTables(names);
  return [events, archive, pauses, workers, keys, schedules, limits, starts].map((table) => {
    const config = getTableConfig(table);
    return {
      table: config.name,
      columns: config.columns.map((c) => c.name),
      // A named composite primary key is an index too: pause and resume upsert on it.
      indexes: [...config.indexes.map((i) => i.config.name), ...config.primaryKeys.map((k) => k.name)].filter(
        (n): n is string => n !== undefined,
      ),
    };
  });
}

// Names are checked identifiers (letters, digits, `_`): quoting needs no escaping.
function quoteIdent(name: string): string {
  return `"${name}"`;
}

/** Runs the schema query; the store and `migrate` each bring their own connection. */
export type SchemaQuery = (query: SQL) => Promise<SchemaRow[]>;

/**
 * What is missing of the bus tables on the search path (`table x`, `column x.y`, `index x.z`),
 * and whether any of them exists at all.
 *
 * @example
 * const { missing } = await missingSchema(run, { eventsTable: 'bus_events' });
 */
export async function missingSchema(
  run: SchemaQuery,
  names: BusTableNames & { schema?: string | undefined },
): Promise<{ missing: string[]; exists: boolean }> {
  const expected = expectedTables(names);
  const tables = expected.map((t) => t.table);
  // One round trip; to_regclass resolves each name as the store's queries do: in `schema` when
  // given, else on the search path.
  const prefix = names.schema === undefined ? '' : `${quoteIdent(names.schema)}.`;
  const found = await run(sql`WITH t AS (
  SELECT c.oid, c.relname FROM pg_class c
  WHERE c.oid IN (SELECT to_regclass(${prefix}::text || quote_ident(n)) FROM unnest(${pgArray(tables)}::text[]) AS n)
)
SELECT 'table' AS kind, t.relname::text AS name FROM t
UNION ALL
SELECT 'column', t.relname || '.' || a.attname FROM t JOIN pg_attribute a ON a.attrelid = t.oid
WHERE a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'index', t.relname || '.' || i.relname FROM t JOIN pg_index x ON x.indrelid = t.oid
JOIN pg_class i ON i.oid = x.indexrelid`);
  return missingFromSchema(expected, found);
}

/**
 * `QueueStore.checkSchema`: `SCHEMA_MISSING` unless the bus tables exist on the search path with
 * every column and index this version reads, naming what is missing and how to migrate.
 *
 * @example
 * await checkSchema(run, { eventsTable: 'bus_events', archiveTable: 'bus_events_archive' }); // pauses and workers tables derived
 */
export async function checkSchema(
  run: SchemaQuery,
  names: BusTableNames & { schema?: string | undefined },
): Promise<void> {
  const { missing } = await missingSchema(run, names);
  if (missing.length > 0) throw schemaMissingError(missing, 'bus-postgres', 'docs/postgres.md');
}
