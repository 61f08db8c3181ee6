import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'node20',
  },
  {
    // The binaries: ESM only (top-level await), with their shebang kept.
    entry: ['src/cli.ts', 'src/standalone.ts'],
    format: ['esm'],
    dts: false,
    sourcemap: true,
    target: 'node20',
  },
]);
