import { defineConfig } from 'vitest/config';

// One vitest run over every package, so `.ci/run` gets one pass/fail count.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    projects: ['packages/*', 'apps/*', 'examples', 'consumer'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // postgres.js 3.4 fetches array types on every new connection without catching the query
    // (connection.js: `return fetchArrayTypes()`), so a connection that dies while connecting
    // rejects with nobody listening. The outage tests cut connections on purpose; only that exact
    // rejection is ignored, and only a refused connection: anything else still fails the run.
    onUnhandledError(error) {
      const e = error as { code?: unknown; query?: unknown };
      const arrayTypesFetch = typeof e.query === 'string' && e.query.includes('from pg_catalog.pg_type a');
      return !(arrayTypesFetch && (e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET'));
    },
  },
});
