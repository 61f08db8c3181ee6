import { fileURLToPath } from 'node:url';

// This file sits one level below the package root both as source (src/paths.ts) and bundled
// (dist/cli.js, dist/index.js), so `..` is apps/demo either way.
const root = fileURLToPath(new URL('..', import.meta.url));

/** apps/demo, wherever the demo is run from. */
export const PACKAGE_ROOT = root;

/** Where the demo keeps its embedded PGlite database by default (git-ignored). */
export const DEFAULT_DATA_DIR = fileURLToPath(new URL('../.data', import.meta.url));

/** drizzle-kit's migrations of the demo's own tables, per dialect. */
export const MIGRATIONS = {
  pg: fileURLToPath(new URL('../drizzle/pg', import.meta.url)),
  mysql: fileURLToPath(new URL('../drizzle/mysql', import.meta.url)),
};
