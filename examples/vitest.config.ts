import { decorators } from 'bus-testing/vite';
import { defineProject } from 'vitest/config';

export default defineProject({
  // Vite 8 leaves standard decorators to Node, which cannot parse them: compile them first.
  plugins: [decorators()],
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: { name: 'bus-examples', include: ['test/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 },
});
