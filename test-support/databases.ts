/**
 * The one place the test suites of every package (bus-postgres, bus-mysql, the demo, the consumer
 * test) learn where their databases are: one environment variable per engine. A suite that cannot
 * reach its server fails with `unreachable(...)`; it never skips.
 */

/** PostgreSQL for tests: `BUS_TEST_POSTGRES_URL`, else the local server's `test` database. */
export const TEST_POSTGRES_URL =
  process.env.BUS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** MariaDB/MySQL for tests (a server URL, no database): `BUS_TEST_MYSQL_URL`, else local root. */
export const TEST_MYSQL_URL = process.env.BUS_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

/** The error a suite throws when its server does not answer: it names the variable to set. */
export function unreachable(engine: 'postgres' | 'mysql', url: string, cause: unknown): Error {
  const variable = engine === 'postgres' ? 'BUS_TEST_POSTGRES_URL' : 'BUS_TEST_MYSQL_URL';
  return new Error(`the test ${engine} server at ${url} is unreachable (set ${variable}): ${String(cause)}`, {
    cause,
  });
}
