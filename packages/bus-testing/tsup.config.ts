import { defineConfig } from 'tsup';

export default defineConfig({
  // Named entries: the conformance suite lives in a folder but ships as dist/conformance.*.
  entry: { index: 'src/index.ts', conformance: 'src/conformance/index.ts', vite: 'src/vite.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  external: ['vitest', 'bus-core', 'esbuild'],
});
