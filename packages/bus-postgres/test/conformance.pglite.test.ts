import { runConformanceSuite } from 'bus-testing/conformance';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, it } from 'vitest';
import { postgresStore } from '../src/index.js';
import { createPglite } from './helpers.js';

let lite: Awaited<ReturnType<typeof createPglite>>;

runConformanceSuite(
  {
    name: 'postgres (PGlite)',
    // One connection: a second session cannot run while a transaction is open (it would wait).
    singleConnection: true,
    async setup() {
      lite = await createPglite();
      return postgresStore(lite.db);
    },
    setupJsonPayload: async () => postgresStore(lite.db, { jsonPayload: true }),
    reset: async () => {
      await lite.db.execute(
        sql`TRUNCATE bus_events, bus_events_archive, bus_events_pauses, bus_events_workers, bus_events_limits, bus_events_starts`,
      );
    },
    teardown: () => lite.close(),
  },
  { describe, it, beforeAll, afterAll, beforeEach },
);
