import type { BusAdmin } from 'bus-core';
import { isBusError } from 'bus-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createDashboard } from '../src/dashboard.js';
import { eventually } from './dashboard-suite.js';
import { createTestDatabase, seed, type TestDatabase } from './fixtures.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('postgres');
  await seed(db.store);
});
afterAll(() => db?.drop());

/**
 * The real admin on the real database, with its count held back or failing on demand: how a
 * slow count at a million rows, or a database that goes away, looks to the queues screen.
 */
function controlledAdmin(admin: BusAdmin<any>) {
  const control = {
    calls: 0,
    hold: undefined as { promise: Promise<void>; release(): void } | undefined,
    failWith: undefined as Error | undefined,
    holdCounts() {
      let release!: () => void;
      const promise = new Promise<void>((resolve) => {
        release = resolve;
      });
      control.hold = { promise, release };
    },
    release() {
      control.hold?.release();
      control.hold = undefined;
    },
  };
  const proxy = new Proxy(admin, {
    get(target, property) {
      if (property === 'queues') {
        return async () => {
          control.calls++;
          await control.hold?.promise;
          if (control.failWith !== undefined) throw control.failWith;
          return target.queues();
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { admin: proxy, control };
}

const html = async (dashboard: { fetch(r: Request): Promise<Response> }, path = '/') => {
  const response = await dashboard.fetch(new Request(`http://localhost${path}`));
  expect(response.status).toBe(200);
  return response.text();
};

describe('the queues screen answers from background counts', () => {
  test('countsIntervalMs that is not a whole number of ms from 500 to 60000 is refused', () => {
    for (const bad of [0, 499, 60_001, 1.5, Number.NaN, '5000', null]) {
      let caught: unknown;
      try {
        createDashboard({ admin: db.connection.admin, readOnly: true, countsIntervalMs: bad as any });
      } catch (error) {
        caught = error;
      }
      expect(isBusError(caught, 'INVALID_CONFIG')).toBe(true);
      expect((caught as Error).message).toMatch(
        /countsIntervalMs must be a whole number of ms from 500 to 60000/,
      );
      expect((caught as Error).message).not.toContain('\n');
    }
    expect(() =>
      createDashboard({ admin: db.connection.admin, readOnly: true, countsIntervalMs: 500 }),
    ).not.toThrow();
  });

  test('before the first count ends: known queues, "counting…" and a page that reloads itself', async () => {
    const { admin, control } = controlledAdmin(db.connection.admin);
    control.holdCounts();
    const dashboard = createDashboard({ admin, readOnly: true });
    const started = performance.now();
    const page = await html(dashboard);
    // Waited the short budget for the count, not the count.
    expect(performance.now() - started).toBeLessThan(5000);
    expect(page).toContain('counting… (this page refreshes)');
    expect(page).toContain('<meta http-equiv="refresh" content="2"');
    // email and reports are known from worker-a, whose heartbeat is fresh.
    expect(page).toContain('data-queue="email"');
    expect(page).toContain('data-queue="reports"');
    expect(page).not.toContain('data-queue="billing"');
    const api = await (await dashboard.fetch(new Request('http://localhost/api/queues'))).json();
    expect(api).toEqual({ queues: [], countedAt: null, ageMs: null, counting: true });
    // Two more requests while it runs: still the one count.
    await html(dashboard);
    expect(control.calls).toBe(1);
    control.release();
    await eventually(async () => (await html(dashboard)).includes('counted '), 10_000, 'the first count');
    const counted = await html(dashboard);
    expect(counted).not.toContain('http-equiv="refresh"');
    expect(counted).toContain('data-queue="billing"');
    expect(counted).toMatch(/counted \d+ s ago/);
    // What scripts/list-latency.mjs waits for before it times the queues screen.
    expect(counted).toContain('data-testid="counts-age">counted ');
  });

  test('a failed count shows its error beside the last good counts; the next good one clears it', async () => {
    const { admin, control } = controlledAdmin(db.connection.admin);
    const dashboard = createDashboard({ admin, readOnly: true, countsIntervalMs: 500 });
    await eventually(async () => (await html(dashboard)).includes('counted '), 10_000, 'the first count');
    control.failWith = new Error('database went away');
    let page = '';
    await eventually(
      async () => {
        page = await html(dashboard);
        return page.includes('counts failed: database went away');
      },
      10_000,
      'the failure on the page',
    );
    expect(page).toContain('data-queue="billing"');
    expect(page).toMatch(/counted \d+ s ago/);
    const api = await (await dashboard.fetch(new Request('http://localhost/api/queues'))).json();
    expect(api.error).toBe('counts failed: database went away');
    expect(api.queues.find((q: { queue: string }) => q.queue === 'billing')).toBeDefined();
    control.failWith = undefined;
    await eventually(
      async () => !(await html(dashboard)).includes('counts failed'),
      10_000,
      'a good count after the failure',
    );
  });

  test('an action redirects without waiting on a count, and its rows show in the next one', async () => {
    const { admin, control } = controlledAdmin(db.connection.admin);
    const dashboard = createDashboard({ admin, authorize: () => true });
    await eventually(async () => (await html(dashboard)).includes('counted '), 10_000, 'the first count');
    const before = control.calls;
    // The next count will hang until released: the action must not wait on it.
    control.holdCounts();
    const [row] = await db.store.insert({
      rows: [
        {
          queue: 'actions',
          eventName: 'actions.event',
          handlerName: 'actions.handle',
          payload: new Uint8Array([0xc0]),
          maxRetries: 0,
          priority: 0,
          due: 0,
        },
      ],
    });
    const token = '0123456789abcdef0123456789abcdef';
    const post = await dashboard.fetch(
      new Request('http://localhost/actions/cancel', {
        method: 'POST',
        headers: { cookie: `bus_dashboard_csrf=${token}` },
        body: new URLSearchParams({ _csrf: token, ids: row! }),
      }),
    );
    expect(post.status).toBe(303);
    expect(post.headers.get('location')).toBe('/?done=cancel&n=1&u=0');
    control.release();
    await eventually(
      async () => {
        const api = await (await dashboard.fetch(new Request('http://localhost/api/queues'))).json();
        return api.queues.find((q: { queue: string }) => q.queue === 'actions')?.archivedCancelled === 1;
      },
      15_000,
      'the cancelled row counted',
    );
    expect(control.calls).toBeGreaterThan(before);
  });
});
