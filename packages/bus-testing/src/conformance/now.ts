import assert from 'node:assert/strict';
import type { SuiteContext } from './context.js';

/** `now` and `checkSchema`: the database's clock, and the tables the target set up are enough. */
export function clockAndSchemaTests(s: SuiteContext): void {
  const { describe, it } = s.runner;

  describe('now and checkSchema', () => {
    it("now() is the database's clock, to the millisecond, close to the host's", async () => {
      const before = Date.now();
      const now = await s.store.now();
      const after = Date.now();
      assert.ok(now instanceof Date && !Number.isNaN(now.getTime()), 'a valid Date');
      // The database runs on this host in every target the suite knows; a few seconds of skew at most.
      assert.ok(
        now.getTime() > before - 5_000 && now.getTime() < after + 5_000,
        `now() ${now.toISOString()}`,
      );
      const later = await s.store.now();
      assert.ok(later.getTime() >= now.getTime(), 'it does not go back');
    });

    it('checkSchema resolves on the tables the target set up', async () => {
      assert.equal(await s.store.checkSchema(), undefined);
    });
  });
}
