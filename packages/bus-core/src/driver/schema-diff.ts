import { BusError } from '../errors.js';

/** One table as this version of a driver needs it (from its Drizzle table definition). */
export interface ExpectedTable {
  table: string;
  columns: string[];
  indexes: string[];
}

/** One thing found in the database: `kind` is `table`, `column` (`table.column`) or `index` (`table.index`). */
export interface SchemaRow {
  kind: string;
  name: string;
}

/**
 * What of `expected` is missing from `found` (`table x`, `column x.y`, `index x.z`), in the order
 * of the schema, and whether any expected table exists at all. Names compare without case, as
 * both databases may fold them.
 *
 * @example
 * missingFromSchema([{ table: 'bus_events', columns: ['id'], indexes: [] }], []); // { missing: ['table bus_events'], exists: false }
 */
export function missingFromSchema(
  expected: readonly ExpectedTable[],
  found: readonly SchemaRow[],
): { missing: string[]; exists: boolean } {
  const have = new Set(found.map((r) => `${r.kind} ${String(r.name).toLowerCase()}`));
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
 * The `SCHEMA_MISSING` error of `checkSchema`: what is missing and how to create it.
 *
 * @example
 * throw schemaMissingError(['table bus_events'], 'bus-postgres', 'docs/postgres.md');
 */
export function schemaMissingError(missing: readonly string[], driver: string, docs: string): BusError {
  return new BusError(
    'SCHEMA_MISSING',
    `the bus tables are missing or out of date (${missing.join(', ')}): run \`await migrate(db)\` from ${driver}, or drizzle-kit generate and migrate with the tables of ${driver}/schema in your schema (${docs})`,
    { value: [...missing] },
  );
}
