import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isBusError } from 'bus-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createDashboard, toNodeListener } from '../src/dashboard.js';
import { startServer } from '../src/server.js';
import { launchChromium } from './dashboard-suite.js';
import { createTestDatabase, seed, type TestDatabase } from './fixtures.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('postgres');
  await seed(db.store);
});
afterAll(() => db?.drop());

const get = (dashboard: { fetch(r: Request): Promise<Response> }, url: string, init?: RequestInit) =>
  dashboard.fetch(new Request(url, init));

describe('mounted', () => {
  test('refuses to be created without authorize unless read-only', () => {
    let caught: unknown;
    try {
      createDashboard({ admin: db.connection.admin });
    } catch (error) {
      caught = error;
    }
    expect(isBusError(caught, 'INVALID_CONFIG')).toBe(true);
    expect(String((caught as Error).message)).toContain('authorize');
    for (const garbage of [null, 42, { admin: {} }, { admin: db.connection.admin, authorize: 'yes' }]) {
      expect(() => createDashboard(garbage as any)).toThrow(/INVALID_CONFIG|admin|authorize/);
    }
    expect(() =>
      createDashboard({ admin: db.connection.admin, authorize: () => true, basePath: 'no-slash"><script>' }),
    ).toThrow(/basePath/);
  });

  test('authorize decides every request, assets included', async () => {
    const seen: string[] = [];
    const dashboard = createDashboard({
      admin: db.connection.admin,
      authorize: (request) => {
        seen.push(new URL(request.url).pathname);
        return request.headers.get('x-operator') === 'yes';
      },
    });
    expect((await get(dashboard, 'http://app.test/')).status).toBe(401);
    expect((await get(dashboard, 'http://app.test/api/queues')).status).toBe(401);
    expect((await get(dashboard, 'http://app.test/', { headers: { 'x-operator': 'yes' } })).status).toBe(200);
    expect(seen).toEqual(['/', '/api/queues', '/']);
    const throwing = createDashboard({
      admin: db.connection.admin,
      authorize: () => {
        throw new Error('auth backend down');
      },
    });
    expect((await get(throwing, 'http://app.test/')).status).toBe(401);
  });

  test('read-only without authorize: loopback hosts only, no action rendered, every POST refused', async () => {
    const dashboard = createDashboard({ admin: db.connection.admin, readOnly: true });
    const page = await get(dashboard, 'http://localhost/');
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('read-only');
    expect(html).not.toContain('<form class="inline" method="post"');
    expect(html).not.toContain('/actions/');
    expect((await get(dashboard, 'http://dashboard.example.test/')).status).toBe(401);
    const post = await get(dashboard, 'http://127.0.0.1/actions/pause', {
      method: 'POST',
      body: new URLSearchParams({ queue: 'email' }),
    });
    expect(post.status).toBe(403);
    expect(await db.connection.admin.pauses()).toEqual([]);
  });

  test('served under a base path by plain node:http: links, assets and actions stay under it', async () => {
    const dashboard = createDashboard({
      admin: db.connection.admin,
      authorize: () => true,
      basePath: '/ops/bus/',
    });
    const server: Server = createServer(toNodeListener(dashboard));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ops/bus`;
      const html = await (await fetch(`${base}/`)).text();
      expect(html).toContain('href="/ops/bus/events"');
      const css = /href="(\/ops\/bus\/assets\/app\.[0-9a-f]+\.css)"/.exec(html)?.[1];
      const js = /src="(\/ops\/bus\/assets\/app\.[0-9a-f]+\.js)"/.exec(html)?.[1];
      expect(css && js).toBeTruthy();
      expect(
        (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}${js}`)).headers.get(
          'content-type',
        ),
      ).toContain('javascript');
      expect((await fetch(`${base}/workers`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/workers`)).status).toBe(
        404,
      );
      const headers = (await fetch(`${base}/`)).headers;
      expect(headers.get('content-security-policy')).toContain("script-src 'self'");
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('standalone', () => {
  test('binding beyond loopback needs a token or basic auth', async () => {
    await expect(startServer({ admin: db.connection.admin, host: '0.0.0.0', port: 0 })).rejects.toThrow(
      /token|basic auth/,
    );
    await expect(startServer({ admin: db.connection.admin, port: 0, token: 'short' })).rejects.toThrow(
      /16 characters/,
    );
    await expect(startServer({ admin: db.connection.admin, port: 0, basicAuth: 'nocolon' })).rejects.toThrow(
      /user:password/,
    );
    await expect(startServer({ admin: db.connection.admin, port: 70_000 })).rejects.toThrow(/port/);
  });

  test('a token: refused without it (in the browser too), accepted as a bearer header or once in the URL', async () => {
    const token = 'a-token-of-sufficient-length';
    const server = await startServer({ admin: db.connection.admin, port: 0, token });
    const browser = await launchChromium();
    try {
      const root = `http://127.0.0.1:${server.port}/`;
      expect((await fetch(root)).status).toBe(401);
      expect(
        (await fetch(root, { headers: { authorization: 'Bearer wrong-token-of-some-length' } })).status,
      ).toBe(401);
      expect((await fetch(root, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect((await fetch(`${root}?token=nope`)).status).toBe(401);
      const page = await browser.newPage();
      const refused = await page.goto(root);
      expect(refused?.status()).toBe(401);
      expect(await page.locator('body').innerText()).toContain('Unauthorized');
      const opened = await page.goto(server.url);
      expect(opened?.status()).toBe(200);
      expect(page.url()).toBe(root);
      await page.locator('tr[data-queue="email"]').waitFor();
    } finally {
      await browser.close();
      await server.close();
    }
  });

  test('basic auth: a challenge without credentials, the page with them', async () => {
    const server = await startServer({ admin: db.connection.admin, port: 0, basicAuth: 'ops:correct-horse' });
    try {
      const root = `http://127.0.0.1:${server.port}/`;
      const refused = await fetch(root);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toContain('Basic');
      const wrong = `Basic ${Buffer.from('ops:wrong-horse').toString('base64')}`;
      expect((await fetch(root, { headers: { authorization: wrong } })).status).toBe(401);
      const right = `Basic ${Buffer.from('ops:correct-horse').toString('base64')}`;
      expect((await fetch(root, { headers: { authorization: right } })).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  test('on loopback without credentials it answers loopback host names only (no DNS rebinding)', async () => {
    const server = await startServer({ admin: db.connection.admin, port: 0 });
    try {
      expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(200);
      // fetch() may not set Host; node:http may, as a rebinding page's browser would.
      const status = await new Promise<number | undefined>((resolve, reject) => {
        request(
          { host: '127.0.0.1', port: server.port, path: '/', headers: { host: 'attacker.example.test' } },
          (res) => {
            res.resume();
            resolve(res.statusCode);
          },
        )
          .on('error', reject)
          .end();
      });
      expect(status).toBe(401);
    } finally {
      await server.close();
    }
  });
});
