import { defineProject } from 'vitest/config';
import { decorators } from './src/vite.js';

export default defineProject({
  // Vite 8 leaves standard decorators to Node, which cannot parse them: compile them first.
  plugins: [decorators()],
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: { name: 'bus-testing', testTimeout: 60_000, hookTimeout: 60_000 },
});
