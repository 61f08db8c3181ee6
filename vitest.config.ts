import { defineConfig } from 'vitest/config';

// One vitest run over every package, so `.ci/run` gets one pass/fail count.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    projects: ['packages/*', 'apps/*', 'examples', 'consumer'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Many tests make handlers fail on purpose, and bus prints every failure by default: show the
    // output of failing tests only, so the log of a run says what went wrong.
    silent: 'passed-only',
  },
});
