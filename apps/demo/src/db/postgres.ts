import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { migrate as busMigrate, type PgTx, postgresStore } from 'bus-postgres';
import { and, eq, isNotNull, isNull, sql } from 'drizzle-orm';
import { SendEmailEvent } from '../events.js';
import { MIGRATIONS } from '../paths.js';
import { emailAudit, users } from '../schema/pg.js';
import { connectError } from './connect.js';
import { lockDataDir } from './lock.js';
import { type AppDatabase, WELCOME_CREDIT, welcomeEmail } from './types.js';

const MIGRATION_CONFIG = { migrationsFolder: MIGRATIONS.pg, migrationsTable: 'bus_demo_migrations' };

/** The demo on a PostgreSQL server through postgres.js. */
export async function openPostgres(url: string, label: string): Promise<AppDatabase<PgTx>> {
  const [{ default: postgres }, { drizzle }, { migrate }] = await Promise.all([
    import('postgres'),
    import('drizzle-orm/postgres-js'),
    import('drizzle-orm/postgres-js/migrator'),
  ]);
  const client = postgres(url, { max: 10, connect_timeout: 10, onnotice: () => {} });
  try {
    await client`select 1`;
  } catch (error) {
    await client.end({ timeout: 0 }).catch(() => undefined);
    throw connectError('PostgreSQL', url, error);
  }
  const db = drizzle({ client });
  return postgresApp({
    kind: 'postgres',
    label,
    db,
    migrateOwn: () => migrate(db, MIGRATION_CONFIG),
    close: () => client.end({ timeout: 5 }),
  });
}

/**
 * The demo on the embedded PGlite: the database in `dataDir/pglite`, next to the lock file that
 * keeps a second demo process out.
 */
export async function openPGlite(dataDir: string, label: string): Promise<AppDatabase<PgTx>> {
  const [{ PGlite }, { drizzle }, { migrate }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ]);
  let client: PGlite;
  const pgdata = join(dataDir, 'pglite');
  try {
    mkdirSync(pgdata, { recursive: true });
  } catch (error) {
    throw connectError('PGlite', dataDir, error);
  }
  // PGlite is a database in this process: two processes on one folder would corrupt it.
  const unlock = lockDataDir(dataDir);
  try {
    client = new PGlite(pgdata);
    await client.waitReady;
    await client.query('select 1');
  } catch (error) {
    unlock();
    throw connectError('PGlite', dataDir, error);
  }
  const db = drizzle({ client });
  return postgresApp({
    kind: 'pglite',
    label,
    db,
    migrateOwn: () => migrate(db, MIGRATION_CONFIG),
    close: async () => {
      try {
        await client.close();
      } finally {
        unlock();
      }
    },
  });
}

interface PostgresAppParts {
  kind: 'pglite' | 'postgres';
  label: string;
  db: PgTx;
  migrateOwn(): Promise<void>;
  close(): Promise<void>;
}

function postgresApp({ kind, label, db, migrateOwn, close }: PostgresAppParts): AppDatabase<PgTx> {
  return {
    kind,
    label,
    store: postgresStore(db),

    async migrate() {
      await migrateOwn();
      await busMigrate(db);
    },

    async signUp(bus, user) {
      // The transactional outbox: the user row and the event rows commit together, or neither.
      await db.transaction(async (tx) => {
        await tx.insert(users).values(user);
        await bus.publishTxn(tx, SendEmailEvent, welcomeEmail(user));
      });
    },

    async grantWelcomeCredit(email) {
      const granted = await db
        .update(users)
        .set({ credits: sql`${users.credits} + ${WELCOME_CREDIT}`, welcomeCreditAt: sql`now()` })
        .where(and(eq(users.email, email), isNull(users.welcomeCreditAt)))
        .returning({ id: users.id });
      if (granted.length > 0) return true;
      // Nothing updated: granted before (a re-run), or no such user, which would be a bug.
      if ((await db.$count(users, eq(users.email, email))) === 0)
        throw new Error(`no user with email ${email}`);
      return false;
    },

    async recordAudit(entry) {
      await db.insert(emailAudit).values(entry).onConflictDoNothing({ target: emailAudit.eventId });
    },

    async stats() {
      const [all, credited, audit] = await Promise.all([
        db.$count(users),
        db.$count(users, isNotNull(users.welcomeCreditAt)),
        db.$count(emailAudit),
      ]);
      return { users: all, credited, auditEntries: audit };
    },

    close,
  };
}
