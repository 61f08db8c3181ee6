import { migrate as busMigrate, type MySqlTx, mysqlStore } from 'bus-mysql';
import { and, eq, isNotNull, isNull, sql } from 'drizzle-orm';
import { SendEmailEvent } from '../events.js';
import { MIGRATIONS } from '../paths.js';
import { emailAudit, users } from '../schema/mysql.js';
import { connectError } from './connect.js';
import { type AppDatabase, WELCOME_CREDIT, welcomeEmail } from './types.js';

/** The demo on MySQL 8 or MariaDB 10.6+ through mysql2. */
export async function openMySql(url: string, label: string): Promise<AppDatabase<MySqlTx>> {
  const [{ default: mysql }, { drizzle }, { migrate }] = await Promise.all([
    import('mysql2/promise'),
    import('drizzle-orm/mysql2'),
    import('drizzle-orm/mysql2/migrator'),
  ]);
  let pool: ReturnType<typeof mysql.createPool>;
  try {
    pool = mysql.createPool({ uri: url, connectionLimit: 10, connectTimeout: 10_000 });
  } catch (error) {
    throw connectError('MySQL', url, error);
  }
  try {
    await pool.query('select 1');
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw connectError('MySQL', url, error);
  }
  const db = drizzle({ client: pool });

  return {
    kind: 'mysql',
    label,
    store: mysqlStore(db),

    async migrate() {
      await migrate(db, { migrationsFolder: MIGRATIONS.mysql, migrationsTable: 'bus_demo_migrations' });
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
      const [result] = await db
        .update(users)
        .set({
          credits: sql`${users.credits} + ${WELCOME_CREDIT}`,
          welcomeCreditAt: sql`CURRENT_TIMESTAMP(3)`,
        })
        .where(and(eq(users.email, email), isNull(users.welcomeCreditAt)));
      if (result.affectedRows > 0) return true;
      // Nothing updated: granted before (a re-run), or no such user, which would be a bug.
      if ((await db.$count(users, eq(users.email, email))) === 0)
        throw new Error(`no user with email ${email}`);
      return false;
    },

    async recordAudit(entry) {
      await db
        .insert(emailAudit)
        .values(entry)
        .onDuplicateKeyUpdate({ set: { eventId: sql`${emailAudit.eventId}` } });
    },

    async stats() {
      const [all, credited, audit] = await Promise.all([
        db.$count(users),
        db.$count(users, isNotNull(users.welcomeCreditAt)),
        db.$count(emailAudit),
      ]);
      return { users: all, credited, auditEntries: audit };
    },

    close: () => pool.end(),
  };
}
