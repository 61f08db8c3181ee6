import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { encodePayload } from 'bus-core';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createDashboard } from '../src/dashboard.js';
import { type DashboardServer, startServer } from '../src/server.js';
import { createTestDatabase, HOSTILE, type Seeded, seed, type TestDatabase } from './fixtures.js';

/** Where screenshots go (a CI artifact; git-ignored). */
export const OUTPUT = join(import.meta.dirname, '..', 'test-output');

/** Debian's Chromium, headless, with nothing that phones home. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Waits until `check` holds (polling the database), failing after `ms`. */
export async function eventually(
  check: () => Promise<boolean>,
  ms = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The browser test of every screen and action, against one real database: the same test for
 * PostgreSQL and MariaDB. It reads the database through the admin API to see each action land.
 */
export function dashboardSuite(kind: 'postgres' | 'mysql'): void {
  describe(`dashboard in Chromium on ${kind}`, () => {
    let db: TestDatabase;
    let rows: Seeded;
    let server: DashboardServer;
    let browser: Browser;
    let page: Page;
    const errors: Error[] = [];
    const shots = join(OUTPUT, kind);
    const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

    beforeAll(async () => {
      mkdirSync(shots, { recursive: true });
      db = await createTestDatabase(kind);
      rows = await seed(db.store);
      server = await startServer({ admin: db.connection.admin, port: 0 });
      browser = await launchChromium();
      page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      page.on('dialog', (dialog) => void dialog.accept());
      page.on('pageerror', (error) => errors.push(error));
    });
    afterAll(async () => {
      await browser?.close();
      await server?.close();
      await db?.drop();
    });

    const base = () => server.url.replace(/\/$/, '');
    const countsAge = () => page.locator('[data-testid="counts-age"]').innerText();
    const cell = (queue: string, n: number) =>
      page.locator(`tr[data-queue="${queue}"] td`).nth(n).innerText();
    // The queues screen answers from counts taken in the background: reload it until they say
    // what `ready` waits for.
    const queuesUntil = (ready: () => Promise<boolean>, what: string) =>
      eventually(
        async () => {
          await page.goto(server.url);
          return (await countsAge()).startsWith('counted ') && (await ready());
        },
        30_000,
        what,
      );

    test('the queues screen shows depth by state, archive counts, workers and the chart', async () => {
      // A first visit: the first count, or "counting…" and a page that reloads itself until it ends.
      await page.goto(server.url);
      const first = await countsAge();
      if (!first.startsWith('counted ')) {
        expect(first).toBe('counting… (this page refreshes)');
        expect(await page.locator('meta[http-equiv="refresh"]').getAttribute('content')).toBe('2');
        await page
          .locator('[data-testid="counts-age"]:text-matches("^counted ")')
          .waitFor({ timeout: 15_000 });
      }
      expect(await page.locator('meta[http-equiv="refresh"]').count()).toBe(0);
      expect(await countsAge()).toMatch(/^counted \d+ s ago/);
      const email = page.locator('tr[data-queue="email"]');
      expect(await email.locator('td').nth(2).innerText()).toBe('6');
      expect(await email.locator('td').nth(3).innerText()).toBe('3');
      const billing = page.locator('tr[data-queue="billing"]');
      expect(await billing.locator('td').nth(7).innerText()).toBe('1');
      expect(await billing.locator('td').nth(8).innerText()).toBe('3');
      expect(await page.locator('tr[data-queue="reports"] td').nth(4).innerText()).toBe('1');
      expect(await email.locator('td').nth(10).innerText()).toBe('1');
      // uPlot drew its canvas from the bundled script (served by the dashboard, no CDN).
      await page.locator('.chart canvas').first().waitFor({ timeout: 10_000 });
      await shot('queues');
    });

    test('rows published later show on the queues screen once counted, with how old the counts are', async () => {
      const published = await db.store.insert({
        rows: Array.from({ length: 7 }, (_, i) => ({
          queue: 'later',
          eventName: 'later.event',
          handlerName: 'later.handle',
          payload: encodePayload({ i }),
          maxRetries: 0,
          priority: 0,
          due: 0,
        })),
      });
      expect(published.length).toBe(7);
      await queuesUntil(
        async () => (await page.locator('tr[data-queue="later"]').count()) === 1,
        'queue later',
      );
      expect(await cell('later', 2)).toBe('7');
      expect(await countsAge()).toMatch(/^counted \d+ s ago/);
      const api = await page.request.get(`${base()}/api/queues`);
      const body = await api.json();
      expect(body.queues.find((q: { queue: string }) => q.queue === 'later')?.available).toBe(7);
      expect(Date.parse(body.countedAt)).toBeGreaterThan(0);
      expect(body.ageMs).toBeGreaterThanOrEqual(0);
      expect(body.ageMs).toBeLessThan(60_000);
      expect(body.counting === true || body.counting === false).toBe(true);
      expect(body.error).toBeUndefined();
      await db.connection.admin.cancel({ filter: { queue: 'later' } });
    });

    test('rows: filter by queue and state, page with the keyset cursor', async () => {
      await page.goto(`${base()}/events`);
      await page.fill('input[name="queue"]', 'email');
      await page.selectOption('select[name="state"]', 'scheduled');
      await page.click('form[data-testid="filters"] button[type="submit"]');
      await page.waitForURL(/state=scheduled/);
      const ids = await page
        .locator('table[data-testid="rows"] tbody tr')
        .evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-id')));
      expect(ids).toEqual(rows.scheduled);
      await shot('rows');
      await page.goto(`${base()}/events?queue=email&errorContains=${encodeURIComponent('100%_')}`);
      expect(await page.locator('table[data-testid="rows"] tbody').innerText()).toContain(
        'No live row matches',
      );
    });

    test('one row: the msgpack payload decoded and a <script> in it rendered as text', async () => {
      await page.goto(`${base()}/events/${rows.hostile}`);
      expect(await page.locator('[data-testid="payload"]').innerText()).toContain(
        '<script>window.__pwned = true</script>',
      );
      expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
      expect(await page.locator('main script, main img').count()).toBe(0);
      await shot('row');
      await page.goto(`${base()}/archive?status=failed`);
      expect(await page.locator('table[data-testid="rows"]').innerText()).toContain(HOSTILE.slice(0, 30));
      expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
    });

    test('cancel a row from its page: it is archived as cancelled', async () => {
      const id = rows.available[0]!;
      await page.goto(`${base()}/events/${id}`);
      await page.click('[data-testid="cancel"]');
      await page.locator('.flash').waitFor();
      expect(await page.locator('.flash').innerText()).toBe('Cancelled 1 row.');
      const found = await db.connection.admin.event(id);
      expect(found?.where).toBe('archive');
      expect(found?.where === 'archive' && found.row.status).toBe('cancelled');
      expect(await page.locator('[data-testid="state"]').innerText()).toBe('archived · cancelled');
    });

    test('cancel selected rows from the list, with the count reported', async () => {
      await page.goto(`${base()}/events?queue=email&state=available`);
      for (const id of rows.available.slice(1, 3)) await page.check(`input[name="ids"][value="${id}"]`);
      await page.click('[data-testid="cancel-selected"]');
      await page.locator('.flash').waitFor();
      expect(await page.locator('.flash').innerText()).toBe('Cancelled 2 rows.');
      const live = await db.connection.admin.events({ queue: 'email', state: 'available' });
      expect(live.map((r) => r.id)).not.toContain(rows.available[1]);
      expect(live.map((r) => r.id)).not.toContain(rows.available[2]);
      expect(live.map((r) => r.id)).toContain(rows.available[3]);
      // The next background count (brought forward by the action) shows the rows gone.
      await queuesUntil(async () => (await cell('email', 2)) === '3', 'email with 3 available rows');
      expect(await cell('email', 9)).toBe('3');
    });

    test('run now makes a scheduled row due', async () => {
      const id = rows.scheduled[0]!;
      await page.goto(`${base()}/events/${id}`);
      await page.click('[data-testid="run-now"]');
      await page.locator('.flash').waitFor();
      const [row] = await db.connection.admin
        .events({ queue: 'email', state: 'available', limit: 1000 })
        .then((all) => all.filter((r) => r.id === id));
      expect(row).toBeDefined();
    });

    test('archive: search failed rows, redrive one, then bulk-redrive the filter', async () => {
      await page.goto(`${base()}/archive`);
      await page.fill('input[name="queue"]', 'billing');
      await page.selectOption('select[name="status"]', 'failed');
      await page.click('form[data-testid="filters"] button[type="submit"]');
      await page.waitForURL(/status=failed/);
      expect(await page.locator('table[data-testid="rows"] tbody tr').count()).toBe(3);
      await shot('archive');
      await page.check(`input[name="ids"][value="${rows.failed[0]}"]`);
      await page.click('[data-testid="redrive-selected"]');
      await page.locator('.flash').waitFor();
      expect(await page.locator('.flash').innerText()).toBe('Redrove 1 row.');
      const back = await db.connection.admin.event(rows.failed[0]!);
      expect(back?.where).toBe('live');
      expect(back?.row.attempts).toBe(0);
      await page.click('[data-testid="redrive-filter"]');
      await page.locator('.flash').waitFor();
      expect(await page.locator('.flash').innerText()).toBe('Redrove 2 rows.');
      const live = await db.connection.admin.events({ queue: 'billing' });
      expect(live.map((r) => r.id).sort()).toEqual([...rows.failed].sort());
      expect((await db.connection.admin.archive({ queue: 'billing', status: 'failed' })).length).toBe(0);
    });

    test('pause and resume a queue: the redirect shows the change at once, counts as they were', async () => {
      await page.goto(server.url);
      expect(await countsAge()).toMatch(/^counted /);
      await page.locator('tr[data-queue="email"] [data-testid="pause"]').click();
      await page.locator('.flash').waitFor();
      expect(await page.locator('tr[data-queue="email"] .badge').innerText()).toBe('paused');
      expect(await countsAge()).toMatch(/^counted /);
      expect((await db.connection.admin.pauses()).map((p) => [p.queue, p.handlerName])).toEqual([
        ['email', null],
      ]);
      await shot('queues-paused');
      await page.locator('tr[data-queue="email"] [data-testid="resume"]').click();
      await page.locator('.flash').waitFor();
      expect(await page.locator('.flash').innerText()).toBe('Resumed the queue.');
      expect(await page.locator('tr[data-queue="email"] .badge').innerText()).toBe('active');
      expect(await db.connection.admin.pauses()).toEqual([]);
    });

    test('schedules: expression, last and next run; pause and resume one and see the database change', async () => {
      // The rows the schedule runner writes at start-up; one signature carries a <script>.
      await db.store.schedules.sync({
        schedules: [
          { name: 'nightly-report', signature: 'cron 0 3 * * * UTC' },
          { name: 'odd-one', signature: HOSTILE },
        ],
      });
      // A tick published an hour ago, the next due in two (what the runner records with each tick).
      const now = (await db.store.now()).getTime();
      const recorded = await db.store.schedules.recordTick({
        name: 'nightly-report',
        tickAt: new Date(now - 3_600_000),
        nextTickAt: new Date(now + 7_200_000),
        signature: 'cron 0 3 * * * UTC',
      });
      expect(recorded).toBe(true);
      const paused = async () =>
        Object.fromEntries((await db.store.schedules.list()).map((r) => [r.name, r.paused]));
      await page.goto(server.url);
      await page.click('nav a:has-text("Schedules")');
      await page.waitForURL(/\/schedules$/);
      const nightly = page.locator('tr[data-schedule="nightly-report"]');
      expect(await nightly.innerText()).toContain('cron 0 3 * * * UTC');
      expect(await nightly.locator('[data-testid="schedule-state"]').innerText()).toBe('active');
      expect(await nightly.locator('td').nth(3).innerText()).toMatch(/^(59 min|1\.0 h) ago$/);
      expect(await nightly.locator('td').nth(4).innerText()).toMatch(/^in (1\.9|2\.0) h$/);
      expect(await page.locator('tr[data-schedule="odd-one"] code').innerText()).toBe(HOSTILE);
      expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
      await shot('schedules');
      await nightly.locator('[data-testid="pause-schedule"]').click();
      await page.locator('.flash').waitFor();
      expect(await page.locator('.flash').innerText()).toBe('Paused the schedule.');
      expect(await nightly.locator('[data-testid="schedule-state"]').innerText()).toBe('paused');
      expect(await paused()).toEqual({ 'nightly-report': true, 'odd-one': false });
      await shot('schedules-paused');
      await nightly.locator('[data-testid="resume-schedule"]').click();
      await page.locator('.flash').waitFor();
      expect(await page.locator('.flash').innerText()).toBe('Resumed the schedule.');
      expect(await paused()).toEqual({ 'nightly-report': false, 'odd-one': false });

      const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
      const unknown = await page.request.post(`${base()}/actions/pause-schedule`, {
        form: { _csrf: csrf, name: 'no-such-schedule' },
      });
      expect(unknown.status()).toBe(400);
      expect(await unknown.text()).toContain('UNKNOWN_SCHEDULE');
      const badForms: Record<string, string>[] = [{ _csrf: csrf }, { _csrf: csrf, name: 'x'.repeat(201) }];
      for (const form of badForms) {
        const refused = await page.request.post(`${base()}/actions/resume-schedule`, { form });
        expect(refused.status()).toBe(400);
        expect(await refused.text()).toContain('INVALID_ARGUMENT');
      }
      const noToken = await fetch(`${base()}/actions/pause-schedule`, {
        method: 'POST',
        body: new URLSearchParams({ name: 'nightly-report' }),
      });
      expect(noToken.status).toBe(403);

      // Read-only: the screen without buttons, and the POST refused.
      const readOnly = createDashboard({ admin: db.connection.admin, readOnly: true });
      const html = await (await readOnly.fetch(new Request('http://localhost/schedules'))).text();
      expect(html).toContain('nightly-report');
      expect(html).not.toContain('/actions/');
      const post = await readOnly.fetch(
        new Request('http://localhost/actions/pause-schedule', {
          method: 'POST',
          body: new URLSearchParams({ name: 'nightly-report' }),
        }),
      );
      expect(post.status).toBe(403);
      expect(await paused()).toEqual({ 'nightly-report': false, 'odd-one': false });
    });

    test('workers seen recently', async () => {
      await page.goto(`${base()}/workers`);
      expect(await page.locator('table[data-testid="workers"]').innerText()).toContain('worker-a');
      expect(await page.locator('table[data-testid="workers"]').innerText()).toContain('test-host pid 1');
      await shot('workers');
    });

    test('a phone-sized screen still shows the queues', async () => {
      const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
      try {
        await phone.goto(server.url);
        await phone.locator('tr[data-queue="email"]').waitFor();
        await phone.screenshot({ path: join(shots, 'queues-phone.png'), fullPage: true });
      } finally {
        await phone.close();
      }
    });

    test('bad input gets a clear refusal, not a crash', async () => {
      const bad = await page.goto(`${base()}/events?state=exploded`);
      expect(bad?.status()).toBe(400);
      expect(await page.locator('.flash.error').innerText()).toContain(
        'state must be available, scheduled or running',
      );
      expect((await page.goto(`${base()}/events/abc`))?.status()).toBe(400);
      expect((await page.goto(`${base()}/events/999999`))?.status()).toBe(404);
      expect((await page.goto(`${base()}/archive?afterId=-1`))?.status()).toBe(400);
    });

    test('an action the admin API refuses shows its BusError; garbage ids touch nothing', async () => {
      await page.goto(server.url);
      const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
      const unknown = await page.request.post(`${base()}/actions/pause`, {
        form: { _csrf: csrf, queue: 'no-such-queue' },
      });
      expect(unknown.status()).toBe(400);
      expect(await unknown.text()).toContain('UNKNOWN_QUEUE');
      const garbage = await page.request.post(`${base()}/actions/cancel`, {
        form: { _csrf: csrf, ids: '1 OR 1=1; DROP TABLE bus_events' },
      });
      // The admin API reports ids that cannot be row ids as unknown: nothing is touched.
      expect(await garbage.text()).toContain('Cancelled 0 rows; 1 not live (finished or unknown).');
      const nothing = await page.request.post(`${base()}/actions/cancel`, { form: { _csrf: csrf } });
      expect(nothing.status()).toBe(400);
      expect(await nothing.text()).toContain('select rows or set a filter first');
      const bogus = await page.request.post(`${base()}/actions/explode`, { form: { _csrf: csrf } });
      expect(bogus.status()).toBe(400);
      expect(await db.connection.admin.pauses()).toEqual([]);
      expect((await db.connection.admin.events({ limit: 1000 })).length).toBeGreaterThan(0);
    });

    test('POSTs without the CSRF token, or from another site, are refused and change nothing', async () => {
      const id = rows.available[3]!;
      const noToken = await fetch(`${base()}/actions/cancel`, {
        method: 'POST',
        body: new URLSearchParams({ ids: id }),
      });
      expect(noToken.status).toBe(403);
      const crossSite = await fetch(`${base()}/actions/cancel`, {
        method: 'POST',
        headers: {
          'sec-fetch-site': 'cross-site',
          cookie: 'bus_dashboard_csrf=0123456789abcdef0123456789abcdef',
        },
        body: new URLSearchParams({ ids: id, _csrf: '0123456789abcdef0123456789abcdef' }),
      });
      expect(crossSite.status).toBe(403);
      expect((await db.connection.admin.event(id))?.where).toBe('live');
    });

    test('no page raised a script error', () => {
      expect(errors).toEqual([]);
    });
  });
}
