import { defineProject } from 'vitest/config';

// The consumer test: packs every package, installs the tarballs with npm into scratch apps outside
// the workspace and uses them as a user would (see consumer.test.ts). Only that file is a test:
// fixtures/ holds the scratch apps' sources.
export default defineProject({
  test: {
    name: 'consumer',
    include: ['consumer.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 600_000,
  },
});
