import { defineConfig } from 'tsup';

// An app, not a library: one ESM bundle of the demo's own code; its dependencies (bus-core, the
// drivers, Drizzle, the database clients) stay imports resolved from node_modules at run time.
export default defineConfig({
  entry: ['src/cli.ts', 'src/index.ts'],
  format: ['esm'],
  dts: false,
  clean: true,
  sourcemap: true,
  target: 'node20',
});
