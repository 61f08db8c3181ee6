import { runConformanceSuite } from 'bus-testing/conformance';
import { afterAll, beforeAll, beforeEach, describe, it } from 'vitest';
import { type MySqlTx, mysqlStore } from '../src/index.js';
import { createTestDatabase, type TestDatabase, truncate } from './helpers.js';

let t: TestDatabase | undefined;

runConformanceSuite<MySqlTx>(
  {
    name: 'mysql (MariaDB, mysql2)',
    async setup() {
      t = await createTestDatabase();
      return mysqlStore(t.db);
    },
    setupJsonPayload: async () => mysqlStore(t!.db, { jsonPayload: true }),
    async reset() {
      await truncate(t!);
    },
    async teardown() {
      await t?.drop();
    },
  },
  { describe, it, beforeAll, afterAll, beforeEach },
);
