import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isBusError } from 'bus-core';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MIGRATIONS, migrate } from '../src/index.js';
import { createTestSchema, pgClient, type TestSchema } from './helpers.js';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const drizzleKit = join(pkg, 'node_modules', '.bin', 'drizzle-kit');

let t: TestSchema;

beforeAll(async () => {
  // A schema with the default tables already migrated (by the helper).
  t = await createTestSchema('migrate');
});

afterAll(async () => {
  await t?.drop();
});

async function tablesIn(schema: string): Promise<string[]> {
  const rows = (await t.db.execute(
    sql`SELECT tablename FROM pg_tables WHERE schemaname = ${schema} ORDER BY tablename`,
  )) as unknown as { tablename: string }[];
  return rows.map((r) => r.tablename);
}

describe('migrate', () => {
  it('creates the tables and its journal; a second run applies nothing', async () => {
    expect(await tablesIn(t.schema)).toEqual(['bus_events', 'bus_events_archive', 'bus_migrations']);
    expect(await migrate(t.db)).toEqual({ applied: [], adopted: [] });
    const journal = (await t.db.execute(
      sql`SELECT scope, tag, hash FROM bus_migrations`,
    )) as unknown as Record<string, string>[];
    expect(journal).toEqual([{ scope: 'bus_events', tag: '0000_init', hash: BUNDLED_MIGRATIONS[0]!.hash }]);
    const indexes = (await t.db.execute(
      sql`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = ${t.schema} AND tablename = 'bus_events' ORDER BY 1`,
    )) as unknown as { indexname: string; indexdef: string }[];
    const claim = indexes.find((i) => i.indexname === 'bus_events_claim_idx')!;
    expect(claim.indexdef).toContain('(queue, priority, scheduled_at, id) WHERE (locked_until IS NULL)');
    const lease = indexes.find((i) => i.indexname === 'bus_events_lease_idx')!;
    expect(lease.indexdef).toContain('(locked_until) WHERE (locked_until IS NOT NULL)');
  });

  it('concurrent runs from several connections are serialized: one applies, the others find it done', async () => {
    const schema = `${t.schema}_c`;
    await t.db.execute(sql`CREATE SCHEMA ${sql.identifier(schema)}`);
    const clients = Array.from({ length: 4 }, () => pgClient({ schema, max: 1 }));
    try {
      const results = await Promise.all(clients.map((c) => migrate(drizzle(c))));
      expect(results.map((r) => r.applied).sort()).toEqual([[], [], [], ['0000_init']]);
      expect(await tablesIn(schema)).toEqual(['bus_events', 'bus_events_archive', 'bus_migrations']);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
      await t.db.execute(sql`DROP SCHEMA ${sql.identifier(schema)} CASCADE`);
    }
  });
});

describe('migrate on tables it did not create', () => {
  // What drizzle-kit migrate runs for a schema that re-exports bus-postgres/schema: the same SQL.
  const drizzleKitSql = readFileSync(join(pkg, 'drizzle', '0000_init.sql'), 'utf8')
    .split('--> statement-breakpoint')
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0);

  async function inSchema(suffix: string, fn: (db: ReturnType<typeof drizzle>) => Promise<void>) {
    const schema = `${t.schema}_${suffix}`;
    await t.db.execute(sql`CREATE SCHEMA ${sql.identifier(schema)}`);
    const client = pgClient({ schema, max: 1 });
    try {
      await fn(drizzle(client));
    } finally {
      await client.end();
      await t.db.execute(sql`DROP SCHEMA ${sql.identifier(schema)} CASCADE`);
    }
  }

  async function migrateError(db: ReturnType<typeof drizzle>) {
    const error = await migrate(db).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!isBusError(error, 'MIGRATION_FAILED'))
      throw new Error(`expected MIGRATION_FAILED, got ${String(error)}`);
    expect(error.message).not.toContain('Failed query');
    expect(error.message).not.toContain('\n');
    return error;
  }

  it('adopts complete tables that drizzle-kit created, and records them in its journal', async () => {
    await inSchema('adopt', async (db) => {
      for (const statement of drizzleKitSql) await db.execute(sql.raw(statement));
      expect(await migrate(db)).toEqual({ applied: [], adopted: ['0000_init'] });
      expect(await migrate(db)).toEqual({ applied: [], adopted: [] });
    });
  });

  it('refuses tables that exist only in part, naming what is missing', async () => {
    await inSchema('partial', async (db) => {
      // The hot table and its sequence, but not the archive nor the indexes.
      await db.execute(sql.raw(drizzleKitSql[0]!));
      const error = await migrateError(db);
      expect(error.message).toContain('table bus_events_archive');
      expect(error.message).toContain('index bus_events.bus_events_claim_idx');
      expect(error.message).toContain('drizzle-kit');
    });
  });

  it("a statement that fails is a BusError with PostgreSQL's own reason", async () => {
    await inSchema('clash', async (db) => {
      // Something else already owns the identity sequence's name.
      await db.execute(sql`CREATE SEQUENCE bus_events_id_seq`);
      const error = await migrateError(db);
      expect(error.message).toContain('migration 0000_init (statement 1 of');
      expect(error.message).toContain('"bus_events_id_seq" already exists');
      expect((error.cause as { code?: string }).code).toBe('42P07');
    });
  });
});

describe('schema and committed migrations', () => {
  function run(cwd: string, args: string[]): string {
    const result = spawnSync(drizzleKit, args, {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    const output = `${result.stdout}\n${result.stderr}`;
    // drizzle-kit exits 0 even when it fails, so errors are read from its output.
    if (result.status !== 0 || /error/i.test(output))
      throw new Error(`drizzle-kit ${args.join(' ')} failed:\n${output}`);
    return output;
  }

  it('src/schema.ts matches drizzle/ (drizzle-kit generate finds nothing to do)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bus-pg-drift-'));
    try {
      cpSync(join(pkg, 'drizzle'), join(dir, 'drizzle'), { recursive: true });
      const before = readdirSync(join(dir, 'drizzle')).sort();
      const output = run(dir, [
        'generate',
        '--dialect',
        'postgresql',
        '--schema',
        join(pkg, 'src', 'schema.ts'),
        '--out',
        'drizzle',
      ]);
      expect(readdirSync(join(dir, 'drizzle')).sort(), 'schema.ts changed: run `pnpm generate`').toEqual(
        before,
      );
      expect(output).toContain('No schema changes');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the migrations embedded for migrate() are those in drizzle/', () => {
    const result = spawnSync(process.execPath, [join(pkg, 'scripts', 'embed-migrations.mjs'), '--check'], {
      cwd: pkg,
      encoding: 'utf8',
    });
    expect(result.status, result.stderr).toBe(0);
  });

  it("a user's drizzle-kit creates the same tables from a schema re-exporting bus-postgres/schema (CJS build)", () => {
    expect(
      existsSync(join(pkg, 'dist', 'schema.cjs')),
      'dist/schema.cjs is missing: run `pnpm build` (the root `pnpm test` does)',
    ).toBe(true);
    // Inside the package, so `bus-postgres/schema` resolves to this package's build.
    const dir = join(pkg, 'test', `.tmp-user-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(
        join(dir, 'schema.ts'),
        "export const users = 1;\nexport { busEvents, busEventsArchive } from 'bus-postgres/schema';\n",
      );
      run(dir, [
        'generate',
        '--dialect',
        'postgresql',
        '--schema',
        './schema.ts',
        '--out',
        'drizzle',
        '--name',
        'init',
      ]);
      const generated = readFileSync(join(dir, 'drizzle', '0000_init.sql'), 'utf8');
      expect(generated).toBe(readFileSync(join(pkg, 'drizzle', '0000_init.sql'), 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
