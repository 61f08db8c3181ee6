import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { BusAdmin } from 'bus-core';
import { BusError } from 'bus-core';
import { createDashboard, isLoopbackRequest } from './dashboard.js';

/** Options of the standalone server. */
export interface ServerOptions {
  admin: BusAdmin<any>;
  /** Interface to bind (default `127.0.0.1`); any other needs `token` or `basicAuth`. */
  host?: string;
  /** Port (default 4680; 0 picks a free one). */
  port?: number;
  /** A secret: requests send it as `Authorization: Bearer …`, or open `/?token=…` once (a cookie keeps it). */
  token?: string;
  /** `user:password` for HTTP basic authentication. */
  basicAuth?: string;
  readOnly?: boolean;
  basePath?: string;
  title?: string;
}

/** A running standalone dashboard. */
export interface DashboardServer {
  /** The address to open (with the token's one-time query when a token is set). */
  url: string;
  port: number;
  close(): Promise<void>;
}

const TOKEN_COOKIE = 'bus_dashboard_token';
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookie(request: Request, name: string): string | undefined {
  for (const part of (request.headers.get('cookie') ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return undefined;
}

/**
 * Serves the dashboard on node:http. Bound to 127.0.0.1 unless `host` says otherwise, and then
 * only with a token or basic-auth credentials; on loopback without credentials it answers only
 * requests addressed to a loopback host name (so a DNS-rebinding page cannot reach it).
 *
 * @example
 * const server = await startServer({ admin: createAdmin({ store }), port: 4680 });
 * console.log(server.url);
 */
export async function startServer(options: ServerOptions): Promise<DashboardServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 4680;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new BusError(
      'INVALID_CONFIG',
      `port must be an integer from 0 to 65535 (got ${String(options.port)})`,
    );
  }
  if (options.token !== undefined && options.token.length < 16) {
    throw new BusError('INVALID_CONFIG', 'the token must be at least 16 characters');
  }
  if (options.basicAuth !== undefined && !/^[^:]+:.{8,}$/.test(options.basicAuth)) {
    throw new BusError(
      'INVALID_CONFIG',
      'basic auth must be user:password with a password of at least 8 characters',
    );
  }
  const guarded = options.token !== undefined || options.basicAuth !== undefined;
  if (!LOOPBACK_HOSTS.has(host) && !guarded) {
    throw new BusError(
      'INVALID_CONFIG',
      `the dashboard binds ${host}, beyond this machine: set a token (--token or BUS_DASHBOARD_TOKEN) or basic auth (--basic-auth or BUS_DASHBOARD_BASIC_AUTH)`,
    );
  }
  const expectedBasic = options.basicAuth
    ? `Basic ${Buffer.from(options.basicAuth).toString('base64')}`
    : undefined;
  const authorize = (request: Request): boolean => {
    if (!guarded) return isLoopbackRequest(request);
    const header = request.headers.get('authorization') ?? '';
    if (options.token !== undefined) {
      if (same(header, `Bearer ${options.token}`)) return true;
      const fromCookie = cookie(request, TOKEN_COOKIE);
      if (fromCookie !== undefined && same(fromCookie, options.token)) return true;
    }
    return expectedBasic !== undefined && same(header, expectedBasic);
  };
  const dashboard = createDashboard({
    admin: options.admin,
    authorize,
    ...(options.readOnly ? { readOnly: true } : {}),
    ...(options.basePath ? { basePath: options.basePath } : {}),
    ...(options.title ? { title: options.title } : {}),
  });
  const handle = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const offered = url.searchParams.get('token');
    if (options.token !== undefined && offered !== null && request.method === 'GET') {
      if (!same(offered, options.token)) return new Response('Unauthorized: wrong token', { status: 401 });
      url.searchParams.delete('token');
      return new Response(null, {
        status: 303,
        headers: {
          location: `${url.pathname}${url.search}`,
          'set-cookie': `${TOKEN_COOKIE}=${encodeURIComponent(options.token)}; Path=/; HttpOnly; SameSite=Strict`,
        },
      });
    }
    const response = await dashboard.fetch(request);
    if (response.status === 401 && expectedBasic !== undefined) {
      const headers = new Headers(response.headers);
      headers.set('WWW-Authenticate', 'Basic realm="bus-dashboard", charset="UTF-8"');
      return new Response(response.body, { status: 401, headers });
    }
    return response;
  };
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: handle, hostname: host, port }, () => resolve(s));
    s.once('error', reject);
  });
  const actual = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const path = options.basePath ? options.basePath.replace(/\/+$/, '') : '';
  const url = `http://${shown}:${actual}${path}/${options.token ? `?token=${encodeURIComponent(options.token)}` : ''}`;
  return {
    url,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        (server as any).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
