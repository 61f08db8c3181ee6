/** @jsxImportSource hono/jsx */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { getRequestListener } from '@hono/node-server';
import type { AdminArchiveFilter, AdminLiveFilter, BusAdmin } from 'bus-core';
import { BusError, isBusError } from 'bus-core';
import { type Context, Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
// Made by scripts/bundle-client.mjs at build time (git-ignored): the browser script and styles.
import ASSETS from './assets.generated.json';
import { freshQueues } from './fresh-queues.js';
import { describePayload } from './payload.js';
import { type CountsState, QueueCounts } from './queue-counts.js';

import {
  ArchivePage,
  ErrorPage,
  EventsPage,
  type ListQuery,
  type PageContext,
  QueuesPage,
  RowPage,
  SchedulesPage,
  WorkersPage,
} from './views.js';

/** Options of `createDashboard`. */
export interface DashboardOptions {
  /** The admin API the screens read and act through: `bus.admin` or `createAdmin({ store })`. */
  admin: BusAdmin<any>;
  /** Where the dashboard is mounted, e.g. `/admin/bus` (default: the root). */
  basePath?: string;
  /**
   * Decides whether a request may see the dashboard (and act, unless read-only): return `true`
   * to let it through. Required unless `readOnly: true`, which then answers loopback hosts only.
   */
  authorize?: (request: Request) => boolean | Promise<boolean>;
  /** Hides every action and refuses their POSTs (403). */
  readOnly?: boolean;
  /** The name in the page header (default `bus`). */
  title?: string;
  /**
   * How often the queues screen's counts are taken while somebody looks, in ms (default 5000,
   * 500 to 60000). A count that took `d` ms is not taken again for 9 × `d`, whatever this says.
   */
  countsIntervalMs?: number;
}

/** A standard fetch handler, servable by Hono, Express, Fastify, Next.js route handlers or node:http. */
export interface Dashboard {
  fetch(request: Request): Promise<Response>;
}

const CSRF_COOKIE = 'bus_dashboard_csrf';
const PAGE_LIMIT = 50;
const ID_PATTERN = /^[1-9][0-9]{0,18}$/;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);
const DEFAULT_COUNTS_INTERVAL_MS = 5000;
// After an action the next count may come sooner than the interval, but not sooner than this.
const COUNTS_FLOOR_MS = 2000;
// Nobody asked for the counts this long: stop counting (no timer left behind).
const COUNTS_IDLE_MS = 60_000;
// A first visit waits this long for the first count before it shows "counting…".
const FIRST_COUNT_BUDGET_MS = 150;
// How often a page without counts yet reloads itself (no script needed).
const COUNTING_REFRESH_S = 2;

/**
 * Whether a request's URL names a loopback host (what `readOnly` without `authorize` requires).
 *
 * @example
 * createDashboard({ admin: bus.admin, authorize: isLoopbackRequest }); // this machine only
 */
export function isLoopbackRequest(request: Request): boolean {
  const host = new URL(request.url).hostname;
  return LOOPBACK.has(host) || host.endsWith('.localhost');
}

function normalizeBase(basePath: string | undefined): string {
  if (basePath === undefined || basePath === '' || basePath === '/') return '';
  if (typeof basePath !== 'string' || !/^\/[A-Za-z0-9._~\-/]*$/.test(basePath)) {
    throw new BusError(
      'INVALID_CONFIG',
      `basePath must be a path like /admin/bus (got ${JSON.stringify(basePath)})`,
    );
  }
  return basePath.replace(/\/+$/, '');
}

/**
 * The dashboard as a fetch handler over the admin API: queues, rows, one row, the archive,
 * schedules and workers, with cancel, redrive, run now and pause/resume as CSRF-protected POSTs.
 * Refuses to be created without `authorize` unless `readOnly: true`.
 *
 * @example
 * import { serve } from '@hono/node-server';
 * const dashboard = createDashboard({ admin: bus.admin, basePath: '/bus', authorize: (req) => isAdmin(req) });
 * serve({ fetch: dashboard.fetch, port: 3000 });
 */
export function createDashboard(options: DashboardOptions): Dashboard {
  if (typeof options !== 'object' || options === null) {
    throw new BusError('INVALID_CONFIG', 'createDashboard needs an options object with admin');
  }
  const { admin } = options;
  if (typeof admin !== 'object' || admin === null || typeof admin.queues !== 'function') {
    throw new BusError('INVALID_CONFIG', 'createDashboard needs admin: bus.admin or createAdmin({ store })');
  }
  const readOnly = options.readOnly === true;
  if (options.authorize !== undefined && typeof options.authorize !== 'function') {
    throw new BusError('INVALID_CONFIG', 'authorize must be a function (request) => boolean');
  }
  if (options.authorize === undefined && !readOnly) {
    throw new BusError(
      'INVALID_CONFIG',
      'createDashboard needs authorize(request) (or readOnly: true, served on localhost only): it is never open by default',
    );
  }
  const base = normalizeBase(options.basePath);
  const countsIntervalMs =
    options.countsIntervalMs === undefined ? DEFAULT_COUNTS_INTERVAL_MS : options.countsIntervalMs;
  if (
    typeof countsIntervalMs !== 'number' ||
    !Number.isInteger(countsIntervalMs) ||
    countsIntervalMs < 500 ||
    countsIntervalMs > COUNTS_IDLE_MS
  ) {
    throw new BusError(
      'INVALID_CONFIG',
      `countsIntervalMs must be a whole number of ms from 500 to ${COUNTS_IDLE_MS} (got ${typeof countsIntervalMs === 'string' ? JSON.stringify(countsIntervalMs) : String(countsIntervalMs)})`,
    );
  }
  const counts = new QueueCounts({
    read: async () => {
      // Database time before the count: the counts are at least as fresh as this says.
      const countedAt = await admin.now();
      return { queues: await admin.queues(), countedAt };
    },
    intervalMs: countsIntervalMs,
    floorMs: Math.min(COUNTS_FLOOR_MS, countsIntervalMs),
    idleMs: COUNTS_IDLE_MS,
  });
  // The counts as of now, this request's pauses, limits and workers over them.
  const queuesNow = async () => {
    counts.want();
    const [, pauses, limits, workers] = await Promise.all([
      counts.firstCount(FIRST_COUNT_BUDGET_MS),
      admin.pauses(),
      admin.limits(),
      admin.workers(),
    ]);
    const state = counts.state();
    return { state, workers, queues: freshQueues(state.counted?.queues, { pauses, limits, workers }) };
  };
  const authorize = options.authorize ?? isLoopbackRequest;
  const title = options.title ?? 'bus';
  const assets = {
    js: `${base}/assets/app.${ASSETS.hashes.js}.js`,
    css: `${base}/assets/app.${ASSETS.hashes.css}.css`,
  };

  const app = new Hono({ strict: false });
  const router = base ? app.basePath(base) : app;

  app.use('*', async (c, next) => {
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'same-origin');
    c.header('X-Frame-Options', 'DENY');
    c.header(
      'Content-Security-Policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    let allowed = false;
    try {
      allowed = (await authorize(c.req.raw)) === true;
    } catch {
      allowed = false;
    }
    if (!allowed) return c.text('Unauthorized: the dashboard needs credentials', 401);
    await next();
  });

  const csrfOf = (c: Context): string => {
    const existing = getCookie(c, CSRF_COOKIE);
    if (existing && /^[0-9a-f]{32}$/.test(existing)) return existing;
    const token = randomBytes(16).toString('hex');
    setCookie(c, CSRF_COOKIE, token, { path: base || '/', httpOnly: true, sameSite: 'Strict' });
    return token;
  };
  const page = async (c: Context): Promise<PageContext> => ({
    base,
    csrf: readOnly ? '' : csrfOf(c),
    readOnly,
    title,
    assets,
    now: await admin.now(),
  });

  const fail = async (c: Context, error: unknown) => {
    const status = isBusError(error) ? 400 : 500;
    const message = isBusError(error)
      ? `${error.code}: ${error.message}`
      : 'The dashboard failed on this request.';
    if (!isBusError(error)) console.error('bus-dashboard:', error);
    return c.html(<ErrorPage ctx={await page(c)} status={status} message={message} />, status);
  };

  router.get('/assets/:file', (c) => {
    const file = c.req.param('file');
    const cache = { 'Cache-Control': 'public, max-age=31536000, immutable' };
    if (file === `app.${ASSETS.hashes.js}.js`) {
      return c.body(ASSETS.js, 200, { 'Content-Type': 'text/javascript; charset=utf-8', ...cache });
    }
    if (file === `app.${ASSETS.hashes.css}.css`) {
      return c.body(ASSETS.css, 200, { 'Content-Type': 'text/css; charset=utf-8', ...cache });
    }
    return c.text('Not found', 404);
  });

  router.get('/', async (c) => {
    try {
      const [{ state, queues, workers }, ctx] = await Promise.all([queuesNow(), page(c)]);
      return c.html(
        <QueuesPage
          ctx={ctx}
          queues={queues}
          workers={workers}
          counts={countsView(state, ctx.now)}
          refreshSeconds={state.counted === undefined ? COUNTING_REFRESH_S : undefined}
          flash={flashOf(c)}
        />,
      );
    } catch (error) {
      return fail(c, error);
    }
  });

  router.get('/api/queues', async (c) => {
    try {
      const [{ state, queues }, now] = await Promise.all([queuesNow(), admin.now()]);
      const counted = state.counted;
      // Before the first count there are no numbers to give: no queues rather than zeros.
      return c.json({
        queues: counted === undefined ? [] : queues.map(({ counted: _counted, ...q }) => q),
        countedAt: counted?.countedAt.toISOString() ?? null,
        ageMs: counted === undefined ? null : Math.max(0, now.getTime() - counted.countedAt.getTime()),
        counting: state.counting,
        ...(state.failure === undefined ? {} : { error: `counts failed: ${state.failure}` }),
      });
    } catch (error) {
      return c.json({ error: isBusError(error) ? error.code : 'FAILED' }, isBusError(error) ? 400 : 500);
    }
  });

  router.get('/events', async (c) => {
    try {
      const query = listQuery(c, false);
      const [rows, ctx] = await Promise.all([
        admin.events({ ...liveFilter(query), ...paging(query) }),
        page(c),
      ]);
      return c.html(<EventsPage ctx={ctx} query={query} rows={rows} limit={PAGE_LIMIT} flash={flashOf(c)} />);
    } catch (error) {
      return fail(c, error);
    }
  });

  router.get('/events/:id', async (c) => {
    try {
      const id = c.req.param('id');
      if (!ID_PATTERN.test(id))
        throw new BusError(
          'INVALID_ARGUMENT',
          `row id must be a positive integer (got ${JSON.stringify(id)})`,
        );
      const [found, ctx] = await Promise.all([admin.event(id), page(c)]);
      if (!found) {
        return c.html(
          <ErrorPage ctx={ctx} status={404} message={`No live or archived row has id ${id}.`} />,
          404,
        );
      }
      return c.html(
        <RowPage ctx={ctx} found={found} payload={describePayload(found.row.payload)} flash={flashOf(c)} />,
      );
    } catch (error) {
      return fail(c, error);
    }
  });

  router.get('/archive', async (c) => {
    try {
      const query = listQuery(c, true);
      const status = query.status as 'completed' | 'failed' | 'cancelled' | undefined;
      const [rows, ctx] = await Promise.all([
        admin.archive({ ...rowFilter(query), ...(status ? { status } : {}), ...paging(query) }),
        page(c),
      ]);
      return c.html(
        <ArchivePage ctx={ctx} query={query} rows={rows} limit={PAGE_LIMIT} flash={flashOf(c)} />,
      );
    } catch (error) {
      return fail(c, error);
    }
  });

  router.get('/schedules', async (c) => {
    try {
      const [schedules, ctx] = await Promise.all([admin.schedules(), page(c)]);
      return c.html(<SchedulesPage ctx={ctx} schedules={schedules} flash={flashOf(c)} />);
    } catch (error) {
      return fail(c, error);
    }
  });

  router.get('/workers', async (c) => {
    try {
      const seenWithinMs = 5 * 60_000;
      const [workers, ctx] = await Promise.all([admin.workers({ seenWithinMs }), page(c)]);
      return c.html(<WorkersPage ctx={ctx} workers={workers} seenWithinMs={seenWithinMs} />);
    } catch (error) {
      return fail(c, error);
    }
  });

  router.post('/actions/:action', async (c) => {
    if (readOnly) return c.text('Forbidden: the dashboard is read-only', 403);
    // Browsers say where a request comes from; a cross-site POST is refused before the token.
    if (c.req.header('sec-fetch-site') === 'cross-site') return c.text('Forbidden: cross-site request', 403);
    let form: FormData;
    try {
      form = await c.req.raw.formData();
    } catch {
      return c.text('Bad request: expected a form', 400);
    }
    const sent = form.get('_csrf');
    const cookie = getCookie(c, CSRF_COOKIE);
    if (typeof sent !== 'string' || !cookie || !sameToken(sent, cookie)) {
      return c.text('Forbidden: missing or wrong CSRF token (reload the page)', 403);
    }
    const action = c.req.param('action');
    const back = action.endsWith('-schedule')
      ? '/schedules'
      : safeBack(form.get('back'), action === 'pause' || action === 'resume');
    try {
      const text = await runAction(admin, action, form);
      // The redirect does not wait for a count; the next one comes as soon as its spacing allows.
      if (text.kind === 'cancel' || text.kind === 'redrive' || text.kind === 'run-now') counts.markStale();
      return c.redirect(`${base}${withFlash(back, text)}`, 303);
    } catch (error) {
      return fail(c, error);
    }
  });

  router.all('*', async (c) =>
    c.html(<ErrorPage ctx={await page(c)} status={404} message="No such page." />, 404),
  );

  return { fetch: (request: Request) => Promise.resolve(app.fetch(request)) };
}

// What the queues screen says about its counts: how old, failing, or not taken yet.
function countsView(state: CountsState, now: Date) {
  return {
    ageMs:
      state.counted === undefined
        ? undefined
        : Math.max(0, now.getTime() - state.counted.countedAt.getTime()),
    failure: state.failure,
  };
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The page an action returns to: a path of the dashboard, never another site. */
function safeBack(value: FormDataEntryValue | null, toQueues: boolean): string {
  if (typeof value === 'string' && /^\/(events|archive)(\/[0-9]+)?(\?[^#\s]*)?$/.test(value) && !toQueues) {
    return value;
  }
  return '/';
}

// The flash is a fixed message with numbers, carried as codes: no request text is reflected.
const FLASH = {
  cancel: (n: number, u: number) =>
    `Cancelled ${n} row${n === 1 ? '' : 's'}${u ? `; ${u} not live (finished or unknown)` : ''}.`,
  redrive: (n: number, u: number) =>
    `Redrove ${n} row${n === 1 ? '' : 's'}${u ? `; ${u} not in the archive with that status` : ''}.`,
  'run-now': (n: number, u: number) =>
    `Made ${n} row${n === 1 ? '' : 's'} due now${u ? `; ${u} running or unknown` : ''}.`,
  pause: (n: number) => (n ? 'Paused the queue.' : 'The queue was paused already.'),
  resume: (n: number) => (n ? 'Resumed the queue.' : 'The queue was not paused.'),
  'pause-schedule': (n: number) => (n ? 'Paused the schedule.' : 'The schedule was paused already.'),
  'resume-schedule': (n: number) => (n ? 'Resumed the schedule.' : 'The schedule was not paused.'),
} as const;

function withFlash(
  back: string,
  flash: { kind: keyof typeof FLASH; count: number; unknown: number },
): string {
  const url = new URL(back, 'http://x');
  url.searchParams.delete('afterId');
  url.searchParams.set('done', flash.kind);
  url.searchParams.set('n', String(flash.count));
  url.searchParams.set('u', String(flash.unknown));
  return `${url.pathname}${url.search}`;
}

function flashOf(c: Context): { text: string } | undefined {
  const kind = c.req.query('done') as keyof typeof FLASH | undefined;
  if (!kind || !(kind in FLASH)) return undefined;
  const n = Number.parseInt(c.req.query('n') ?? '0', 10) || 0;
  const u = Number.parseInt(c.req.query('u') ?? '0', 10) || 0;
  return { text: FLASH[kind](n, u) };
}

const TEXT_FIELDS = ['queue', 'eventName', 'handlerName', 'errorContains'] as const;

async function runAction(
  admin: BusAdmin<any>,
  action: string,
  form: FormData,
): Promise<{ kind: keyof typeof FLASH; count: number; unknown: number }> {
  const text = (name: string): string | undefined => {
    const value = form.get(name);
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const ids = form.getAll('ids').filter((v): v is string => typeof v === 'string' && v !== '');
  const filter: Record<string, string> = {};
  for (const name of TEXT_FIELDS) {
    const value = text(name);
    if (value !== undefined) filter[name] = value;
  }
  switch (action) {
    case 'cancel': {
      const state = text('state');
      if (state !== undefined && !['available', 'scheduled', 'running'].includes(state)) {
        throw new BusError(
          'INVALID_ARGUMENT',
          `state must be available, scheduled or running (got ${JSON.stringify(state)})`,
        );
      }
      if (ids.length === 0 && Object.keys(filter).length === 0 && state === undefined) {
        throw new BusError(
          'INVALID_ARGUMENT',
          'select rows or set a filter first (the dashboard never cancels everything)',
        );
      }
      const target: AdminLiveFilter = {
        ...filter,
        ...(state ? { state: state as AdminLiveFilter['state'] } : {}),
      };
      const report = await admin.cancel(
        { ...(ids.length ? { ids } : {}), ...(Object.keys(target).length ? { filter: target } : {}) },
        { reason: 'cancelled from the dashboard' },
      );
      return { kind: 'cancel', count: report.count, unknown: report.unknown.length };
    }
    case 'redrive': {
      const statuses = form.getAll('statuses').filter((v): v is string => typeof v === 'string' && v !== '');
      for (const s of statuses) {
        if (!['failed', 'cancelled', 'completed'].includes(s)) {
          throw new BusError(
            'INVALID_ARGUMENT',
            `status must be failed, cancelled or completed (got ${JSON.stringify(s)})`,
          );
        }
      }
      if (ids.length === 0 && Object.keys(filter).length === 0) {
        throw new BusError(
          'INVALID_ARGUMENT',
          'select rows or set a filter first (the dashboard never redrives everything)',
        );
      }
      const target: AdminArchiveFilter = {
        ...filter,
        ...(statuses.length ? { statuses: statuses as AdminArchiveFilter['statuses'] } : {}),
      };
      const report = await admin.redrive({
        ...(ids.length ? { ids } : {}),
        ...(Object.keys(target).length ? { filter: target } : {}),
      });
      return { kind: 'redrive', count: report.count, unknown: report.unknown.length };
    }
    case 'run-now': {
      if (ids.length === 0) throw new BusError('INVALID_ARGUMENT', 'run now needs row ids');
      const report = await admin.runNow(ids);
      return { kind: 'run-now', count: report.count, unknown: report.unknown.length };
    }
    case 'pause':
    case 'resume': {
      const queue = text('queue');
      if (queue === undefined) throw new BusError('INVALID_ARGUMENT', `${action} needs a queue`);
      const handlerName = text('handlerName');
      const result =
        action === 'pause'
          ? await admin.pause(queue, handlerName ? { handlerName } : {})
          : await admin.resume(queue, handlerName ? { handlerName } : {});
      return { kind: action, count: result.changed ? 1 : 0, unknown: 0 };
    }
    case 'pause-schedule':
    case 'resume-schedule': {
      const name = text('name');
      if (name === undefined) throw new BusError('INVALID_ARGUMENT', `${action} needs a schedule name`);
      const result =
        action === 'pause-schedule' ? await admin.pauseSchedule(name) : await admin.resumeSchedule(name);
      return { kind: action, count: result.changed ? 1 : 0, unknown: 0 };
    }
    default:
      throw new BusError('INVALID_ARGUMENT', 'no such action');
  }
}

function listQuery(c: Context, archive: boolean): ListQuery {
  const get = (name: string) => {
    const value = c.req.query(name);
    return value === undefined || value === '' ? undefined : value;
  };
  const query: ListQuery = {
    queue: get('queue'),
    eventName: get('eventName'),
    handlerName: get('handlerName'),
    errorContains: get('errorContains'),
    afterId: get('afterId'),
    newestFirst: get('newestFirst') === '1',
  };
  if (archive) {
    const status = get('status');
    if (status !== undefined && !['completed', 'failed', 'cancelled'].includes(status)) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `status must be completed, failed or cancelled (got ${JSON.stringify(status)})`,
      );
    }
    query.status = status;
  } else {
    const state = get('state');
    if (state !== undefined && !['available', 'scheduled', 'running'].includes(state)) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `state must be available, scheduled or running (got ${JSON.stringify(state)})`,
      );
    }
    query.state = state;
  }
  if (query.afterId !== undefined && !ID_PATTERN.test(query.afterId)) {
    throw new BusError('INVALID_ARGUMENT', `afterId must be a row id (got ${JSON.stringify(query.afterId)})`);
  }
  return query;
}

function rowFilter(query: ListQuery) {
  const filter: Record<string, string> = {};
  for (const name of TEXT_FIELDS) if (query[name] !== undefined) filter[name] = query[name]!;
  return filter;
}

function liveFilter(query: ListQuery): AdminLiveFilter {
  return { ...rowFilter(query), ...(query.state ? { state: query.state as AdminLiveFilter['state'] } : {}) };
}

function paging(query: ListQuery) {
  return {
    limit: PAGE_LIMIT,
    ...(query.afterId ? { afterId: query.afterId } : {}),
    ...(query.newestFirst ? { newestFirst: true } : {}),
  };
}

/**
 * The dashboard as a node:http `(req, res)` listener, for node:http, Express and other servers
 * that do not take a fetch handler (it is `@hono/node-server`'s `getRequestListener`).
 *
 * @example
 * http.createServer(toNodeListener(createDashboard({ admin: bus.admin, authorize }))).listen(3000);
 */
export function toNodeListener(dashboard: Dashboard): ReturnType<typeof getRequestListener> {
  return getRequestListener(dashboard.fetch);
}
