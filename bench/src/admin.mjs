// Creating and dropping the benchmark's databases.
import postgres from 'postgres';
import { MYSQL, PG, pgUrl } from './util.mjs';

/** Drops (forcefully) and creates a PostgreSQL database. */
export async function recreatePgDatabase(name) {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
  const sql = postgres(pgUrl(PG.adminDb), { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await sql.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await sql.end();
  }
}

export async function dropPgDatabase(name) {
  const sql = postgres(pgUrl(PG.adminDb), { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await sql.end();
  }
}

/** Creates the MariaDB/MySQL database if missing and drops the given tables. */
export async function resetMysqlTables(tables) {
  const { default: mysql } = await import('mysql2/promise');
  const conn = await mysql.createConnection({
    host: MYSQL.host,
    port: MYSQL.port,
    user: MYSQL.user,
    password: MYSQL.password,
  });
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${MYSQL.database}\``);
    await conn.query(`USE \`${MYSQL.database}\``);
    for (const table of tables) await conn.query(`DROP TABLE IF EXISTS \`${table}\``);
  } finally {
    await conn.end();
  }
}

export async function mysqlPool(extra = {}) {
  const { default: mysql } = await import('mysql2/promise');
  return mysql.createPool({
    host: MYSQL.host,
    port: MYSQL.port,
    user: MYSQL.user,
    password: MYSQL.password,
    database: MYSQL.database,
    connectionLimit: 8,
    ...extra,
  });
}
