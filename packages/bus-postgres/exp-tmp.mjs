import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import { drizzle as drizzleLite } from 'drizzle-orm/pglite';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';

const client = postgres('postgres://postgres@127.0.0.1:5432/test', { max: 2 });
const db = drizzle(client);
const lite = new PGlite();
const ldb = drizzleLite(lite);
for (const [name, d] of [['pgjs', db], ['lite', ldb]]) {
  const q = sql`select x.*, decode(x.by, 'hex') as dec, (extract(epoch from now())*1000)::float8 as ms, now() as n, 5::int8 as big, '\\x0102'::bytea as b, '{"a":1}'::jsonb as j from unnest(${sql.param(['a', null, 'c'])}::text[], ${sql.param(['0102', '03', ''])}::text[], ${sql.param(['1', '3000000000000', '5'])}::int8[], ${sql.param(['{"x":1}', null, null])}::text[]) with ordinality as x(t, by, f, js, ord)`;
  const r = await d.execute(q);
  console.log(name, Array.isArray(r), r.rows ? 'rows' : '', JSON.stringify(r.rows ?? [...r], (k, v) => typeof v === 'bigint' ? `big:${v}` : v));
  const rows = r.rows ?? r;
  console.log(rows[0].b, rows[0].by, typeof rows[0].n, rows[0].n instanceof Date);
}
await client.end();
await lite.close();
