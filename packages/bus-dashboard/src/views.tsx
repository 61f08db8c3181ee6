/** @jsxImportSource hono/jsx */
// Server-rendered screens. Hono's JSX escapes every interpolated value, so row payloads, errors
// and names render as text; nothing here builds HTML by concatenation.
import type { ArchivedEventRow, BusAdmin, EventRow, FoundRow, ScheduleOverview } from 'bus-core';
import type { Child } from 'hono/jsx';
import type { QueueRow } from './fresh-queues.js';
import { limitsText } from './limits-text.js';

/** A worker process as the admin API lists it. */
type WorkerRow = Awaited<ReturnType<BusAdmin['workers']>>[number];

/** What every page needs from the request. */
export interface PageContext {
  base: string;
  csrf: string;
  readOnly: boolean;
  title: string;
  assets: { js: string; css: string };
  now: Date;
}

const NAV = [
  ['', 'Queues'],
  ['/events', 'Rows'],
  ['/archive', 'Archive'],
  ['/schedules', 'Schedules'],
  ['/workers', 'Workers'],
] as const;

/** The page frame: header, navigation, flash message and the bundled assets. */
export function Layout(props: {
  ctx: PageContext;
  current: string;
  heading: string;
  flash?: { text: string; error?: boolean } | undefined;
  /** Reload the page after this many seconds (works without the script). */
  refreshSeconds?: number | undefined;
  children?: Child;
}) {
  const { ctx } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {props.refreshSeconds === undefined ? null : (
          <meta http-equiv="refresh" content={String(props.refreshSeconds)} />
        )}
        <title>{`${props.heading} · ${ctx.title}`}</title>
        <link rel="stylesheet" href={ctx.assets.css} />
        <script src={ctx.assets.js} defer />
      </head>
      <body>
        <header>
          <span class="brand">{ctx.title}</span>
          <nav>
            {NAV.map(([path, label]) => (
              <a
                href={`${ctx.base}${path}` || '/'}
                aria-current={props.current === path ? 'page' : undefined}
              >
                {label}
              </a>
            ))}
          </nav>
          {ctx.readOnly ? <span class="mode">read-only</span> : null}
        </header>
        <main>
          <h1>{props.heading}</h1>
          {props.flash ? (
            <div class={props.flash.error ? 'flash error' : 'flash'} aria-live="polite">
              {props.flash.text}
            </div>
          ) : null}
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** Hidden form fields; an undefined value is left out, so a filter's empty fields post nothing. */
type Fields = Record<string, string | undefined>;

/** The one POST form of every action: the CSRF token first, then the hidden fields. */
function PostForm(props: {
  ctx: PageContext;
  action: string;
  fields: Fields;
  confirm?: string | undefined;
  id?: string;
  class?: string;
  children?: Child;
}) {
  return (
    <form
      id={props.id}
      class={props.class}
      method="post"
      action={`${props.ctx.base}/actions/${props.action}`}
      data-confirm={props.confirm}
    >
      <input type="hidden" name="_csrf" value={props.ctx.csrf} />
      {Object.entries(props.fields).map(([name, value]) =>
        value === undefined ? null : <input type="hidden" name={name} value={value} />,
      )}
      {props.children}
    </form>
  );
}

/** A one-button POST form with the CSRF token; absent in read-only mode. */
function ActionForm(props: {
  ctx: PageContext;
  action: string;
  fields: Fields;
  label: string;
  confirm?: string;
  danger?: boolean;
  testId?: string;
}) {
  if (props.ctx.readOnly) return null;
  return (
    <PostForm
      ctx={props.ctx}
      class="inline"
      action={props.action}
      fields={props.fields}
      confirm={props.confirm}
    >
      <button type="submit" class={props.danger ? 'danger' : undefined} data-testid={props.testId}>
        {props.label}
      </button>
    </PostForm>
  );
}

/** Pause or Resume of a queue or a schedule: the same confirm, test ids and form for both. */
function PauseToggle(props: { ctx: PageContext; kind: 'queue' | 'schedule'; name: string; paused: boolean }) {
  const suffix = props.kind === 'schedule' ? '-schedule' : '';
  // The queue actions take the queue's name as `queue`, the schedule actions as `name`.
  const fields = props.kind === 'schedule' ? { name: props.name } : { queue: props.name };
  return props.paused ? (
    <ActionForm
      ctx={props.ctx}
      action={`resume${suffix}`}
      fields={fields}
      label="Resume"
      testId={`resume${suffix}`}
    />
  ) : (
    <ActionForm
      ctx={props.ctx}
      action={`pause${suffix}`}
      fields={fields}
      label="Pause"
      danger
      testId={`pause${suffix}`}
      confirm={`Pause ${props.kind} ${props.name} in every process?`}
    />
  );
}

/** A header cell: its label (`''` for an empty one), or `{ num }` for a right-aligned number column. */
type Column = string | { num: string };

/**
 * The table of every list screen: header, the "nothing here" row spanning every column, the rows.
 * `selectable` adds the checkbox column of the row lists (shown only when actions are allowed,
 * counted in the empty row's span either way).
 */
function DataTable(props: {
  ctx: PageContext;
  testId: string;
  columns: Column[];
  selectable?: boolean;
  empty: string;
  count: number;
  children?: Child;
}) {
  return (
    <div class="table-wrap">
      <table data-testid={props.testId}>
        <thead>
          <tr>
            {props.selectable && !props.ctx.readOnly ? <th /> : null}
            {props.columns.map((c) =>
              typeof c === 'string' ? c ? <th>{c}</th> : <th /> : <th class="num">{c.num}</th>,
            )}
          </tr>
        </thead>
        <tbody>
          {props.count === 0 ? (
            <tr>
              <td colspan={props.columns.length + (props.selectable ? 1 : 0)} class="muted">
                {props.empty}
              </td>
            </tr>
          ) : null}
          {props.children}
        </tbody>
      </table>
    </div>
  );
}

/** A time for people, then the exact instant: how the row detail shows its times. */
function ExactTime(props: { at: Date; now: Date }) {
  return (
    <>
      <Time at={props.at} now={props.now} /> <span class="muted">{props.at.toISOString()}</span>
    </>
  );
}

/** "3 s", "4 min", "2 h": an age for people. */
export function age(ms: number): string {
  if (ms < 0) return `in ${age(-ms)}`;
  const s = ms / 1000;
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} d`;
}

function Time(props: { at: Date | null | undefined; now: Date }) {
  if (!props.at) return <span class="muted">–</span>;
  const diff = props.now.getTime() - props.at.getTime();
  return (
    <time datetime={props.at.toISOString()} title={props.at.toISOString()}>
      {diff >= 0 ? `${age(diff)} ago` : age(diff)}
    </time>
  );
}

/** The queues screen: depth by state, oldest ready age, archive counts, pause state. */
export function QueuesPage(props: {
  ctx: PageContext;
  queues: QueueRow[];
  workers: WorkerRow[];
  /** How old the background counts are (`undefined`: none yet), and whether the latest failed. */
  counts: { ageMs: number | undefined; failure: string | undefined };
  refreshSeconds?: number | undefined;
  flash?: any;
}) {
  const { ctx, counts } = props;
  // Before the first count the cells say so rather than show zeros.
  const n = (q: QueueRow, value: number, href?: string) =>
    !q.counted ? <span class="muted">…</span> : href === undefined ? value : <a href={href}>{value}</a>;
  return (
    <Layout ctx={ctx} current="" heading="Queues" flash={props.flash} refreshSeconds={props.refreshSeconds}>
      {counts.failure === undefined ? null : (
        <div class="flash error" data-testid="counts-failed">
          {`counts failed: ${counts.failure}`}
        </div>
      )}
      <p class="muted" data-testid="counts-age">
        {counts.ageMs === undefined
          ? 'counting… (this page refreshes)'
          : `counted ${age(counts.ageMs)} ago; the counts are taken in the background while this page is open`}
      </p>
      <DataTable
        ctx={ctx}
        testId="queues"
        columns={[
          'queue',
          'state',
          { num: 'available' },
          { num: 'scheduled' },
          { num: 'running' },
          { num: 'retrying' },
          { num: 'oldest ready' },
          { num: 'completed' },
          { num: 'failed' },
          { num: 'cancelled' },
          { num: 'workers' },
          '',
        ]}
        empty={
          counts.ageMs === undefined ? 'Counting the queues…' : 'No queue has rows, a pause or a worker yet.'
        }
        count={props.queues.length}
      >
        {props.queues.map((q) => {
          const rows = (state: string) =>
            `${ctx.base}/events?queue=${encodeURIComponent(q.queue)}&state=${state}`;
          const archive = (status: string) =>
            `${ctx.base}/archive?queue=${encodeURIComponent(q.queue)}&status=${status}`;
          const workers = props.workers.filter((w) => w.queues.includes(q.queue)).length;
          return (
            <tr data-queue={q.queue}>
              <td>
                <a href={`${ctx.base}/events?queue=${encodeURIComponent(q.queue)}`}>{q.queue}</a>
              </td>
              <td>
                {q.paused ? <span class="badge paused">paused</span> : <span class="badge">active</span>}
                {q.pausedHandlers.length > 0 ? (
                  <span class="muted"> {`handlers paused: ${q.pausedHandlers.join(', ')}`}</span>
                ) : null}
                {q.limits ? (
                  <span class="muted" data-testid="queue-limits">
                    {` limits: ${limitsText(q.limits)}`}
                  </span>
                ) : null}
              </td>
              <td class="num">{n(q, q.available, rows('available'))}</td>
              <td class="num">{n(q, q.scheduled, rows('scheduled'))}</td>
              <td class="num">{n(q, q.running, rows('running'))}</td>
              <td class="num">{n(q, q.retrying)}</td>
              <td class="num">
                {!q.counted ? (
                  <span class="muted">…</span>
                ) : q.oldestAvailableAt ? (
                  age(ctx.now.getTime() - q.oldestAvailableAt.getTime())
                ) : (
                  '–'
                )}
              </td>
              <td class="num">{n(q, q.archivedCompleted, archive('completed'))}</td>
              <td class="num">{n(q, q.archivedFailed, archive('failed'))}</td>
              <td class="num">{n(q, q.archivedCancelled, archive('cancelled'))}</td>
              <td class="num">{workers}</td>
              <td>
                <PauseToggle ctx={ctx} kind="queue" name={q.queue} paused={q.paused} />
              </td>
            </tr>
          );
        })}
      </DataTable>
      <h2>Throughput</h2>
      <p class="muted">
        Rows finished per second, from the archive counts: the background counts are read every 5 s while this
        page is open and each is plotted once, at the time it was taken (queues whose archive policy drops
        completed rows count failures only).
      </p>
      <div class="chart" data-chart data-src={`${ctx.base}/api/queues`} data-interval="5000" />
    </Layout>
  );
}

/** The filters of the row lists, as the query string carries them. */
export interface ListQuery {
  queue?: string | undefined;
  eventName?: string | undefined;
  handlerName?: string | undefined;
  errorContains?: string | undefined;
  state?: string | undefined;
  status?: string | undefined;
  afterId?: string | undefined;
  newestFirst?: boolean | undefined;
}

/** `query` as a query string (empty fields left out), for links and the back address of actions. */
export function queryString(query: ListQuery, extra: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries({ ...query, ...extra })) {
    if (value === undefined || value === '' || value === false) continue;
    params.set(key, value === true ? '1' : String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

function Filters(props: { ctx: PageContext; path: string; query: ListQuery; archive: boolean }) {
  const q = props.query;
  const field = (name: keyof ListQuery, label: string) => (
    <label>
      {label}
      <input name={name} value={(q[name] as string | undefined) ?? ''} size={14} />
    </label>
  );
  return (
    <form class="filters" method="get" action={`${props.ctx.base}${props.path}`} data-testid="filters">
      {field('queue', 'queue')}
      {field('eventName', 'event')}
      {field('handlerName', 'handler')}
      {field('errorContains', 'error contains')}
      {props.archive ? (
        <label>
          status
          <select name="status">
            {['', 'failed', 'cancelled', 'completed'].map((s) => (
              <option value={s} selected={(q.status ?? '') === s}>
                {s || 'any'}
              </option>
            ))}
          </select>
        </label>
      ) : (
        <label>
          state
          <select name="state">
            {['', 'available', 'scheduled', 'running'].map((s) => (
              <option value={s} selected={(q.state ?? '') === s}>
                {s || 'any'}
              </option>
            ))}
          </select>
        </label>
      )}
      <label>
        order
        <select name="newestFirst">
          <option value="">oldest first</option>
          <option value="1" selected={q.newestFirst === true}>
            newest first
          </option>
        </select>
      </label>
      <button type="submit" class="primary">
        Filter
      </button>
    </form>
  );
}

function liveState(row: EventRow, now: Date): string {
  if (row.lockedBy !== null || row.lockedUntil !== null) return 'running';
  return row.scheduledAt.getTime() > now.getTime() ? 'scheduled' : 'available';
}

function hasFilter(query: ListQuery): boolean {
  return Boolean(
    query.queue || query.eventName || query.handlerName || query.errorContains || query.state || query.status,
  );
}

function Pager(props: {
  ctx: PageContext;
  path: string;
  query: ListQuery;
  rows: { id: string }[];
  limit: number;
}) {
  const last = props.rows[props.rows.length - 1];
  return (
    <div class="pager">
      {props.query.afterId ? (
        <a href={`${props.ctx.base}${props.path}${queryString({ ...props.query, afterId: undefined })}`}>
          first page
        </a>
      ) : null}
      {last && props.rows.length >= props.limit ? (
        <a
          data-testid="next"
          href={`${props.ctx.base}${props.path}${queryString({ ...props.query, afterId: last.id })}`}
        >
          next page
        </a>
      ) : null}
    </div>
  );
}

/** The filter fields every bulk action posts, so "every row matching the filter" means the list's filter. */
function filterFields(query: ListQuery): Fields {
  return {
    queue: query.queue,
    eventName: query.eventName,
    handlerName: query.handlerName,
    errorContains: query.errorContains,
  };
}

/**
 * The frame of both row lists (live rows and archive): filters, the form the row checkboxes post
 * with, the bulk actions, the table (checkbox, linked id, queue, event, handler, then the screen's
 * own cells) and keyset paging.
 */
function RowList<R extends EventRow | ArchivedEventRow>(props: {
  ctx: PageContext;
  path: '/events' | '/archive';
  heading: string;
  query: ListQuery;
  rows: R[];
  limit: number;
  flash?: any;
  selected: { action: string; confirm: string; fields: Fields; button: Child };
  bulk: Child;
  columns: Column[];
  empty: string;
  cells: (row: R) => Child;
}) {
  const { ctx, query } = props;
  const archive = props.path === '/archive';
  return (
    <Layout ctx={ctx} current={props.path} heading={props.heading} flash={props.flash}>
      <Filters ctx={ctx} path={props.path} query={query} archive={archive} />
      {ctx.readOnly ? null : (
        <PostForm
          ctx={ctx}
          id="selected"
          action={props.selected.action}
          fields={props.selected.fields}
          confirm={props.selected.confirm}
        />
      )}
      <div class="actions">
        {ctx.readOnly ? null : props.selected.button}
        {props.bulk}
      </div>
      <DataTable
        ctx={ctx}
        testId="rows"
        selectable
        columns={[{ num: 'id' }, 'queue', 'event', 'handler', ...props.columns]}
        empty={props.empty}
        count={props.rows.length}
      >
        {props.rows.map((row) => (
          <tr data-id={row.id}>
            {ctx.readOnly ? null : (
              <td>
                <input
                  type="checkbox"
                  name="ids"
                  value={row.id}
                  form="selected"
                  aria-label={`select ${row.id}`}
                />
              </td>
            )}
            <td class="num">
              <a href={`${ctx.base}/events/${row.id}`}>{row.id}</a>
            </td>
            <td>{row.queue}</td>
            <td>{row.eventName}</td>
            <td>{row.handlerName}</td>
            {props.cells(row)}
          </tr>
        ))}
      </DataTable>
      <Pager ctx={ctx} path={props.path} query={query} rows={props.rows} limit={props.limit} />
    </Layout>
  );
}

/** The live rows screen: filters, keyset paging, cancel of selected rows or of the whole filter. */
export function EventsPage(props: {
  ctx: PageContext;
  query: ListQuery;
  rows: EventRow[];
  limit: number;
  flash?: any;
}) {
  const { ctx, query } = props;
  const back = `/events${queryString(query)}`;
  return (
    <RowList
      ctx={ctx}
      path="/events"
      heading="Rows"
      query={query}
      rows={props.rows}
      limit={props.limit}
      flash={props.flash}
      selected={{
        action: 'cancel',
        confirm: 'Cancel the selected rows?',
        fields: { back },
        button: (
          <button type="submit" form="selected" class="danger" data-testid="cancel-selected">
            Cancel selected
          </button>
        ),
      }}
      bulk={
        hasFilter(query) ? (
          <ActionForm
            ctx={ctx}
            action="cancel"
            fields={{ ...filterFields(query), state: query.state, back }}
            label="Cancel every row matching the filter"
            danger
            testId="cancel-filter"
            confirm="Cancel every live row matching this filter (not only this page)?"
          />
        ) : null
      }
      columns={['state', { num: 'attempts' }, 'due', 'holder', 'last error']}
      empty="No live row matches."
      cells={(row) => {
        const state = liveState(row, ctx.now);
        return (
          <>
            <td>
              <span class={`badge ${state}`}>{state}</span>
            </td>
            <td class="num">{`${row.attempts} / ${row.maxRetries + 1}`}</td>
            <td>
              <Time at={row.scheduledAt} now={ctx.now} />
            </td>
            <td>{row.lockedBy ?? ''}</td>
            <td class="error">{row.lastError ?? ''}</td>
          </>
        );
      }}
    />
  );
}

/** The archive screen: searchable, with redrive of selected rows or of the whole filter. */
export function ArchivePage(props: {
  ctx: PageContext;
  query: ListQuery;
  rows: ArchivedEventRow[];
  limit: number;
  flash?: any;
}) {
  const { ctx, query } = props;
  const back = `/archive${queryString(query)}`;
  const redrivable = query.status !== 'completed';
  return (
    <RowList
      ctx={ctx}
      path="/archive"
      heading="Archive"
      query={query}
      rows={props.rows}
      limit={props.limit}
      flash={props.flash}
      selected={{
        action: 'redrive',
        confirm: 'Redrive the selected rows?',
        fields: { back, statuses: query.status === 'completed' ? 'completed' : undefined },
        button: (
          <button type="submit" form="selected" data-testid="redrive-selected">
            Redrive selected
          </button>
        ),
      }}
      bulk={
        hasFilter(query) && redrivable ? (
          <ActionForm
            ctx={ctx}
            action="redrive"
            fields={{ ...filterFields(query), statuses: query.status, back }}
            label="Redrive every failed or cancelled row matching the filter"
            testId="redrive-filter"
            confirm="Redrive every archived row matching this filter (not only this page)?"
          />
        ) : null
      }
      columns={['status', { num: 'attempts' }, 'finished', 'last error']}
      empty="No archived row matches."
      cells={(row) => (
        <>
          <td>
            <span class={`badge ${row.status}`}>{row.status}</span>
          </td>
          <td class="num">{row.attempts}</td>
          <td>
            <Time at={row.finishedAt} now={ctx.now} />
          </td>
          <td class="error">{row.lastError ?? ''}</td>
        </>
      )}
    />
  );
}

/** One row in detail: decoded payload, JSON column, attempts, error, times, holder, actions. */
export function RowPage(props: { ctx: PageContext; found: FoundRow; payload: string; flash?: any }) {
  const { ctx, found } = props;
  const row = found.row;
  const back = `/events/${row.id}`;
  const live = found.where === 'live' ? found.row : null;
  const archived = found.where === 'archive' ? found.row : null;
  const state = live ? liveState(live, ctx.now) : archived!.status;
  return (
    <Layout ctx={ctx} current={live ? '/events' : '/archive'} heading={`Row ${row.id}`} flash={props.flash}>
      <div class="actions">
        <span class={`badge ${state}`} data-testid="state">
          {live ? `live · ${state}` : `archived · ${state}`}
        </span>
        {live ? (
          <ActionForm
            ctx={ctx}
            action="cancel"
            fields={{ ids: row.id, back }}
            label="Cancel"
            danger
            testId="cancel"
            confirm={`Cancel row ${row.id}?`}
          />
        ) : null}
        {live && state === 'scheduled' ? (
          <ActionForm
            ctx={ctx}
            action="run-now"
            fields={{ ids: row.id, back }}
            label="Run now"
            testId="run-now"
          />
        ) : null}
        {archived ? (
          <ActionForm
            ctx={ctx}
            action="redrive"
            fields={{ ids: row.id, statuses: archived.status, back }}
            label="Redrive"
            testId="redrive"
          />
        ) : null}
      </div>
      <dl class="detail" data-testid="detail">
        <dt>queue</dt>
        <dd>{row.queue}</dd>
        <dt>event</dt>
        <dd>{row.eventName}</dd>
        <dt>handler</dt>
        <dd>{row.handlerName}</dd>
        <dt>attempts</dt>
        <dd>{`${row.attempts} of ${row.maxRetries + 1}${live && live.snoozes > 0 ? `, snoozed ${live.snoozes} times` : ''}`}</dd>
        <dt>priority</dt>
        <dd>{row.priority}</dd>
        <dt>created</dt>
        <dd>
          <ExactTime at={row.createdAt} now={ctx.now} />
        </dd>
        {live ? (
          <>
            <dt>due</dt>
            <dd>
              <ExactTime at={live.scheduledAt} now={ctx.now} />
            </dd>
            <dt>lease holder</dt>
            <dd>{live.lockedBy ?? '–'}</dd>
            <dt>lease ends</dt>
            <dd>
              <Time at={live.lockedUntil} now={ctx.now} />
            </dd>
          </>
        ) : (
          <>
            <dt>finished</dt>
            <dd>
              <ExactTime at={archived!.finishedAt} now={ctx.now} />
            </dd>
          </>
        )}
        <dt>last error</dt>
        <dd class="error">{row.lastError ?? '–'}</dd>
        {row.partitionKey ? (
          <>
            <dt>partition key</dt>
            <dd data-testid="partition-key">{row.partitionKey}</dd>
          </>
        ) : null}
        {row.traceContext ? (
          <>
            <dt>trace context</dt>
            <dd>{row.traceContext}</dd>
          </>
        ) : null}
      </dl>
      <h2>Payload (msgpack, decoded)</h2>
      <pre data-testid="payload">{props.payload}</pre>
      {row.payloadJson !== null && row.payloadJson !== undefined ? (
        <>
          <h2>JSON column</h2>
          <pre data-testid="payload-json">{JSON.stringify(row.payloadJson, null, 2)}</pre>
        </>
      ) : null}
    </Layout>
  );
}

/** Recurring schedules: expression, paused state, last and next tick, with pause/resume. */
export function SchedulesPage(props: { ctx: PageContext; schedules: ScheduleOverview[]; flash?: any }) {
  const { ctx } = props;
  return (
    <Layout ctx={ctx} current="/schedules" heading="Schedules" flash={props.flash}>
      <p class="muted">
        Pausing a schedule stops it publishing in every process until it is resumed; ticks due meanwhile
        follow its missed-tick policy.
      </p>
      <DataTable
        ctx={ctx}
        testId="schedules"
        columns={['schedule', 'expression', 'state', 'last run', 'next run', '']}
        empty="No schedule is declared or stored."
        count={props.schedules.length}
      >
        {props.schedules.map((s) => (
          <tr data-schedule={s.name}>
            <td>{s.name}</td>
            <td>
              <code>{s.signature ?? '–'}</code>
            </td>
            <td data-testid="schedule-state">
              {s.paused ? <span class="badge paused">paused</span> : 'active'}
            </td>
            <td>
              <Time at={s.lastTickAt} now={ctx.now} />
            </td>
            <td>{s.paused ? <span class="muted">paused</span> : <Time at={s.nextTickAt} now={ctx.now} />}</td>
            <td>
              <PauseToggle ctx={ctx} kind="schedule" name={s.name} paused={s.paused} />
            </td>
          </tr>
        ))}
      </DataTable>
    </Layout>
  );
}

/** Worker processes seen recently. */
export function WorkersPage(props: { ctx: PageContext; workers: WorkerRow[]; seenWithinMs: number }) {
  const { ctx } = props;
  return (
    <Layout ctx={ctx} current="/workers" heading="Workers">
      <p class="muted">{`Processes whose heartbeat is at most ${age(props.seenWithinMs)} old.`}</p>
      <DataTable
        ctx={ctx}
        testId="workers"
        columns={['worker', 'queues', 'host and pid', 'started', 'last seen']}
        empty="No worker process seen recently."
        count={props.workers.length}
      >
        {props.workers.map((w) => (
          <tr>
            <td>{w.workerId}</td>
            <td>{w.queues.join(', ')}</td>
            <td>{w.info}</td>
            <td>
              <Time at={w.startedAt} now={ctx.now} />
            </td>
            <td>
              <Time at={w.lastSeenAt} now={ctx.now} />
            </td>
          </tr>
        ))}
      </DataTable>
    </Layout>
  );
}

/** An error page (bad input, a refused action): the message is the BusError's, escaped. */
export function ErrorPage(props: { ctx: PageContext; status: number; message: string }) {
  return (
    <Layout ctx={props.ctx} current="" heading={props.status === 404 ? 'Not found' : 'Refused'}>
      <div class="flash error" role="alert">
        {props.message}
      </div>
      <p>
        <a href={props.ctx.base || '/'}>Back to the queues</a>
      </p>
    </Layout>
  );
}
