// vitest.config.ts of an app whose tests import decorated handlers, on vitest with Vite 8.
import { decorators } from 'bus-testing/vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [decorators()],
});
