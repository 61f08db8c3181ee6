import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/schema.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  // migrate() finds the shipped ./drizzle folder from import.meta.url, also in the CJS build.
  shims: true,
});
