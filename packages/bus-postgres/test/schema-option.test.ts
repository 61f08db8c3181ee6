import { isBusError } from 'bus-core';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, postgresStore } from '../src/index.js';
import { createTestSchema, pgClient, type TestSchema, uniqueName } from './helpers.js';

// The `schema` option (for transaction-mode poolers, where no search path survives): garbage is
// refused, and a store or migration given a schema never depends on the search path.

let t: TestSchema;

beforeAll(async () => {
  t = await createTestSchema('schemaopt');
});

afterAll(async () => {
  await t?.drop();
});

describe('the schema option', () => {
  it('refuses a schema that is not a plain SQL identifier', async () => {
    for (const schema of ['', 'a-b', 'x"; DROP TABLE y; --', 'public.bus', 42, {}, 'a'.repeat(64)]) {
      expect(() => postgresStore(t.db, { schema: schema as never }), JSON.stringify(schema)).toThrow(
        expect.objectContaining({ code: 'INVALID_IDENTIFIER' }),
      );
      await expect(migrate(t.db, { schema: schema as never }), JSON.stringify(schema)).rejects.toSatisfy(
        (e: unknown) => isBusError(e, 'INVALID_IDENTIFIER'),
      );
    }
  });

  it('names the tables in the schema, whatever the search path: migrate, checkSchema and claims', async () => {
    // A client whose search path is an empty schema of its own.
    const elsewhere = uniqueName('bt_elsewhere');
    await t.client.unsafe(`CREATE SCHEMA "${elsewhere}"`);
    const other = pgClient({ schema: elsewhere, max: 1 });
    try {
      const db = drizzle(other);
      // Tables already there, recorded in that schema's journal: nothing to apply.
      expect(await migrate(db, { schema: t.schema })).toEqual({ applied: [], adopted: [] });
      const store = postgresStore(db, { schema: t.schema, listen: false });
      await store.checkSchema();
      await store.insert({
        rows: [
          {
            queue: 'q',
            eventName: 'e',
            handlerName: 'h',
            payload: new Uint8Array([0x90]),
            maxRetries: 0,
            priority: 0,
            due: 0,
          },
        ],
      });
      const claimed = await store.claim({
        queue: 'q',
        limit: 1,
        workerId: 'w',
        leaseMs: 1000,
        handlers: ['h'],
      });
      expect(claimed).toHaveLength(1);
      // Without the option the same client sees no bus tables on its search path.
      await expect(postgresStore(db, { listen: false }).checkSchema()).rejects.toSatisfy((e: unknown) =>
        isBusError(e, 'SCHEMA_MISSING'),
      );
    } finally {
      await other.end();
      await t.client.unsafe(`DROP SCHEMA "${elsewhere}" CASCADE`);
    }
  });
});
