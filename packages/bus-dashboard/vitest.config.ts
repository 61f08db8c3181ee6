import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: { name: 'bus-dashboard', testTimeout: 60_000, hookTimeout: 60_000 },
});
