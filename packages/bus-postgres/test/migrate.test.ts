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
import { newEventRow } from 'bus-testing';
import { generateDrizzleJson, generateMigration } from 'drizzle-kit/api';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MIGRATIONS, migrate, postgresStore } from '../src/index.js';
import { archived, createTestSchema, pgClient, type TestSchema } from './helpers.js';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const drizzleKit = join(pkg, 'node_modules', '.bin', 'drizzle-kit');
const TAGS = BUNDLED_MIGRATIONS.map((m) => m.tag);

/** The statements of a committed migration file, as drizzle-kit splits them. */
function sqlOf(tag: string): string[] {
  return readFileSync(join(pkg, 'drizzle', `${tag}.sql`), 'utf8')
    .split('--> statement-breakpoint')
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0);
}

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

/** Runs `fn` on a client of a fresh schema of its own, dropped afterwards. */
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

describe('migrate', () => {
  it('creates the tables and its journal; a second run applies nothing', async () => {
    expect(await tablesIn(t.schema)).toEqual([
      'bus_events',
      'bus_events_archive',
      'bus_events_keys',
      'bus_events_limits',
      'bus_events_pauses',
      'bus_events_schedules',
      'bus_events_starts',
      'bus_events_workers',
      'bus_migrations',
    ]);
    expect(await migrate(t.db)).toEqual({ applied: [], adopted: [] });
    const journal = (await t.db.execute(
      sql`SELECT scope, tag, hash FROM bus_migrations ORDER BY tag`,
    )) as unknown as Record<string, string>[];
    expect(TAGS).toEqual([
      '0000_init',
      '0001_trace_context',
      '0002_job_control',
      '0003_unique_schedules',
      '0004_flow_control',
    ]);
    expect(journal).toEqual(
      BUNDLED_MIGRATIONS.map((m) => ({ scope: 'bus_events', tag: m.tag, hash: m.hash })),
    );
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
      expect(results.map((r) => r.applied).sort()).toEqual([[], [], [], TAGS]);
      expect(await tablesIn(schema)).toEqual([
        'bus_events',
        'bus_events_archive',
        'bus_events_keys',
        'bus_events_limits',
        'bus_events_pauses',
        'bus_events_schedules',
        'bus_events_starts',
        'bus_events_workers',
        'bus_migrations',
      ]);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
      await t.db.execute(sql`DROP SCHEMA ${sql.identifier(schema)} CASCADE`);
    }
  });

  it('upgrades tables made by an earlier version from where its journal stopped (0000_init only)', async () => {
    await inSchema('old', async (db) => {
      // What migrate() of the previous version left: 0000_init applied and recorded, and a row.
      for (const statement of sqlOf('0000_init')) await db.execute(sql.raw(statement));
      await db.execute(sql`CREATE TABLE bus_migrations (scope text NOT NULL, tag text NOT NULL, hash text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (scope, tag))`);
      await db.execute(
        sql`INSERT INTO bus_migrations (scope, tag, hash) VALUES ('bus_events', '0000_init', ${BUNDLED_MIGRATIONS[0]!.hash})`,
      );
      await db.execute(sql`INSERT INTO bus_events (queue, event_name, handler_name, payload, max_retries)
        VALUES ('q', 'old.event', 'old.handler', '\\x90'::bytea, 0)`);
      const store = postgresStore(db, { listen: false });
      // The worker of this version refuses to start on the old tables, naming the new column.
      const error = await store.checkSchema().catch((e: unknown) => e);
      if (!isBusError(error, 'SCHEMA_MISSING'))
        throw new Error(`expected SCHEMA_MISSING, got ${String(error)}`);
      expect(error.value).toEqual([
        'column bus_events.trace_context',
        'column bus_events.snoozes',
        'column bus_events.unique_key',
        'column bus_events.partition_key',
        'index bus_events.bus_events_unique_idx',
        'index bus_events.bus_events_key_idx',
        'index bus_events.bus_events_running_idx',
        'column bus_events_archive.trace_context',
        'column bus_events_archive.partition_key',
        'index bus_events_archive.bus_events_archive_failed_idx',
        'index bus_events_archive.bus_events_archive_failed_queue_idx',
        'table bus_events_pauses',
        'table bus_events_workers',
        'table bus_events_keys',
        'table bus_events_schedules',
        'table bus_events_limits',
        'table bus_events_starts',
      ]);

      expect(await migrate(db)).toEqual({
        applied: ['0001_trace_context', '0002_job_control', '0003_unique_schedules', '0004_flow_control'],
        adopted: [],
      });
      await store.checkSchema();
      expect(await migrate(db)).toEqual({ applied: [], adopted: [] });
      // The old row survives with no trace context; a new one keeps its own through the archive.
      const [newId] = await store.insert({ rows: [newEventRow({ traceContext: '{"traceparent":"00-x"}' })] });
      const claimed = await store.claim({
        queue: 'q',
        limit: 10,
        workerId: 'w',
        leaseMs: 60_000,
        handlers: ['old.handler', 'test.handler'],
      });
      expect(claimed.map((r) => [r.eventName, r.traceContext, r.snoozes])).toEqual([
        ['old.event', null, 0],
        ['test.event', '{"traceparent":"00-x"}', 0],
      ]);
      await store.settle({
        workerId: 'w',
        outcomes: claimed.map((r) => ({ kind: 'completed' as const, id: r.id, attempt: 1, archive: true })),
      });
      expect((await archived(store)).map((r) => [r.id === newId, r.traceContext])).toEqual([
        [false, null],
        [true, '{"traceparent":"00-x"}'],
      ]);
    });
  });
});

describe('migrate on tables it did not create', () => {
  // What drizzle-kit migrate runs for a schema that re-exports bus-postgres/schema: the same SQL,
  // migration by migration.
  const drizzleKitSql = TAGS.flatMap(sqlOf);

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
      expect(await migrate(db)).toEqual({ applied: [], adopted: TAGS });
      expect(await migrate(db)).toEqual({ applied: [], adopted: [] });
    });
  });

  it("refuses drizzle-kit's tables of an earlier version (no trace_context), naming the columns", async () => {
    await inSchema('kit_old', async (db) => {
      // A drizzle-kit user who has not generated the new migration yet: adopting would hide it.
      for (const statement of sqlOf('0000_init')) await db.execute(sql.raw(statement));
      const error = await migrateError(db);
      expect(error.value).toEqual([
        'column bus_events.trace_context',
        'column bus_events.snoozes',
        'column bus_events.unique_key',
        'column bus_events.partition_key',
        'index bus_events.bus_events_unique_idx',
        'index bus_events.bus_events_key_idx',
        'index bus_events.bus_events_running_idx',
        'column bus_events_archive.trace_context',
        'column bus_events_archive.partition_key',
        'index bus_events_archive.bus_events_archive_failed_idx',
        'index bus_events_archive.bus_events_archive_failed_queue_idx',
        'table bus_events_pauses',
        'table bus_events_workers',
        'table bus_events_keys',
        'table bus_events_schedules',
        'table bus_events_limits',
        'table bus_events_starts',
      ]);
      expect(error.message).toContain('drizzle-kit generate');
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

  it('each SQL file is what drizzle-kit generates from its snapshots (no hand edits)', async () => {
    const journal = JSON.parse(readFileSync(join(pkg, 'drizzle', 'meta', '_journal.json'), 'utf8')) as {
      entries: { idx: number; tag: string }[];
    };
    expect(journal.entries.map((e) => e.tag)).toEqual(TAGS);
    let previous = generateDrizzleJson({});
    for (const entry of journal.entries) {
      const next = JSON.parse(
        readFileSync(
          join(pkg, 'drizzle', 'meta', `${String(entry.idx).padStart(4, '0')}_snapshot.json`),
          'utf8',
        ),
      );
      const expected = (await generateMigration(previous, next)).map((s) => s.trim());
      expect(sqlOf(entry.tag), `${entry.tag}.sql: run \`pnpm --filter bus-postgres generate\``).toEqual(
        expected,
      );
      previous = next;
    }
  });

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
    const result = spawnSync(
      process.execPath,
      [join(pkg, '..', '..', 'scripts', 'embed-migrations.mjs'), '--check'],
      {
        cwd: pkg,
        encoding: 'utf8',
      },
    );
    expect(result.status, result.stderr).toBe(0);
  });

  function snapshotOf(idx: number): Record<string, unknown> {
    return JSON.parse(
      readFileSync(join(pkg, 'drizzle', 'meta', `${String(idx).padStart(4, '0')}_snapshot.json`), 'utf8'),
    );
  }

  // Inside the package, so `bus-postgres/schema` resolves to this package's build.
  function inUserProject(fn: (dir: string) => void | Promise<void>): Promise<void> {
    expect(
      existsSync(join(pkg, 'dist', 'schema.cjs')),
      'dist/schema.cjs is missing: run `pnpm build` (the root `pnpm test` does)',
    ).toBe(true);
    const dir = join(pkg, 'test', `.tmp-user-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'schema.ts'),
      "export const users = 1;\nexport { busEvents, busEventsArchive, busEventsPauses, busEventsWorkers, busEventsKeys, busEventsSchedules, busEventsLimits, busEventsStarts } from 'bus-postgres/schema';\n",
    );
    return Promise.resolve()
      .then(() => fn(dir))
      .finally(() => rmSync(dir, { recursive: true, force: true }));
  }

  const generateIn = (dir: string, name: string) =>
    run(dir, [
      'generate',
      '--dialect',
      'postgresql',
      '--schema',
      './schema.ts',
      '--out',
      'drizzle',
      '--name',
      name,
    ]);

  it("a user's drizzle-kit creates the same tables from a schema re-exporting bus-postgres/schema (CJS build)", async () => {
    const latest = snapshotOf(TAGS.length - 1);
    const expected = (await generateMigration(generateDrizzleJson({}), latest as never)).map((s) => s.trim());
    await inUserProject((dir) => {
      generateIn(dir, 'init');
      const generated = readFileSync(join(dir, 'drizzle', '0000_init.sql'), 'utf8')
        .split('--> statement-breakpoint')
        .map((statement) => statement.trim())
        .filter((statement) => statement.length > 0);
      expect(generated).toEqual(expected);
      expect(generated.join('\n')).toContain('"trace_context" text');
      expect(generated.join('\n')).toContain('CREATE TABLE "bus_events_pauses"');
    });
  });

  it("a user's drizzle-kit history from the previous version gets exactly 0004_flow_control (CJS build)", async () => {
    const [idx, tag] = [4, '0004_flow_control'];
    await inUserProject((dir) => {
      // The user's migrations as of that earlier bus-postgres: its journal entries, snapshot and SQL.
      mkdirSync(join(dir, 'drizzle', 'meta'), { recursive: true });
      const journal = JSON.parse(readFileSync(join(pkg, 'drizzle', 'meta', '_journal.json'), 'utf8'));
      journal.entries = journal.entries.slice(0, idx);
      writeFileSync(join(dir, 'drizzle', 'meta', '_journal.json'), JSON.stringify(journal));
      writeFileSync(
        join(dir, 'drizzle', 'meta', `${String(idx - 1).padStart(4, '0')}_snapshot.json`),
        JSON.stringify(snapshotOf(idx - 1)),
      );
      for (const earlier of TAGS.slice(0, idx)) {
        cpSync(join(pkg, 'drizzle', `${earlier}.sql`), join(dir, 'drizzle', `${earlier}.sql`));
      }
      generateIn(dir, tag.slice(5));
      expect(readFileSync(join(dir, 'drizzle', `${tag}.sql`), 'utf8')).toBe(
        readFileSync(join(pkg, 'drizzle', `${tag}.sql`), 'utf8'),
      );
    });
  });
});
