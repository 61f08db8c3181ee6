/** @jsxImportSource hono/jsx */
// Server-rendered screens. Hono's JSX escapes every interpolated value, so row payloads, errors
// and names render as text; nothing here builds HTML by concatenation.
import type {
  ArchivedEventRow,
  BusAdmin,
  EventRow,
  FoundRow,
  QueueOverview,
  ScheduleOverview,
} from 'bus-core';
import type { Child } from 'hono/jsx';

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
  children?: Child;
}) {
  const { ctx } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
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

/** A POST form with the CSRF token; absent in read-only mode. */
function ActionForm(props: {
  ctx: PageContext;
  action: string;
  fields: Record<string, string | undefined>;
  label: string;
  confirm?: string;
  danger?: boolean;
  testId?: string;
}) {
  if (props.ctx.readOnly) return null;
  return (
    <form
      class="inline"
      method="post"
      action={`${props.ctx.base}/actions/${props.action}`}
      data-confirm={props.confirm}
    >
      <input type="hidden" name="_csrf" value={props.ctx.csrf} />
      {Object.entries(props.fields).map(([name, value]) =>
        value === undefined ? null : <input type="hidden" name={name} value={value} />,
      )}
      <button type="submit" class={props.danger ? 'danger' : undefined} data-testid={props.testId}>
        {props.label}
      </button>
    </form>
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
  queues: QueueOverview[];
  workers: WorkerRow[];
  flash?: any;
}) {
  const { ctx } = props;
  return (
    <Layout ctx={ctx} current="" heading="Queues" flash={props.flash}>
      <div class="table-wrap">
        <table data-testid="queues">
          <thead>
            <tr>
              <th>queue</th>
              <th>state</th>
              <th class="num">available</th>
              <th class="num">scheduled</th>
              <th class="num">running</th>
              <th class="num">retrying</th>
              <th class="num">oldest ready</th>
              <th class="num">completed</th>
              <th class="num">failed</th>
              <th class="num">cancelled</th>
              <th class="num">workers</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {props.queues.length === 0 ? (
              <tr>
                <td colspan={12} class="muted">
                  No queue has rows, a pause or a worker yet.
                </td>
              </tr>
            ) : null}
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
                  </td>
                  <td class="num">
                    <a href={rows('available')}>{q.available}</a>
                  </td>
                  <td class="num">
                    <a href={rows('scheduled')}>{q.scheduled}</a>
                  </td>
                  <td class="num">
                    <a href={rows('running')}>{q.running}</a>
                  </td>
                  <td class="num">{q.retrying}</td>
                  <td class="num">
                    {q.oldestAvailableAt ? age(ctx.now.getTime() - q.oldestAvailableAt.getTime()) : '–'}
                  </td>
                  <td class="num">
                    <a href={archive('completed')}>{q.archivedCompleted}</a>
                  </td>
                  <td class="num">
                    <a href={archive('failed')}>{q.archivedFailed}</a>
                  </td>
                  <td class="num">
                    <a href={archive('cancelled')}>{q.archivedCancelled}</a>
                  </td>
                  <td class="num">{workers}</td>
                  <td>
                    {q.paused ? (
                      <ActionForm
                        ctx={ctx}
                        action="resume"
                        fields={{ queue: q.queue }}
                        label="Resume"
                        testId="resume"
                      />
                    ) : (
                      <ActionForm
                        ctx={ctx}
                        action="pause"
                        fields={{ queue: q.queue }}
                        label="Pause"
                        danger
                        testId="pause"
                        confirm={`Pause queue ${q.queue} in every process?`}
                      />
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <h2>Throughput</h2>
      <p class="muted">
        Rows finished per second, from the archive counts sampled every 5 s while this page is open (queues
        whose archive policy drops completed rows count failures only).
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
    <Layout ctx={ctx} current="/events" heading="Rows" flash={props.flash}>
      <Filters ctx={ctx} path="/events" query={query} archive={false} />
      {ctx.readOnly ? null : (
        <form
          id="selected"
          method="post"
          action={`${ctx.base}/actions/cancel`}
          data-confirm="Cancel the selected rows?"
        >
          <input type="hidden" name="_csrf" value={ctx.csrf} />
          <input type="hidden" name="back" value={back} />
        </form>
      )}
      <div class="actions">
        {ctx.readOnly ? null : (
          <button type="submit" form="selected" class="danger" data-testid="cancel-selected">
            Cancel selected
          </button>
        )}
        {hasFilter(query) ? (
          <ActionForm
            ctx={ctx}
            action="cancel"
            fields={{
              queue: query.queue,
              eventName: query.eventName,
              handlerName: query.handlerName,
              errorContains: query.errorContains,
              state: query.state,
              back,
            }}
            label="Cancel every row matching the filter"
            danger
            testId="cancel-filter"
            confirm="Cancel every live row matching this filter (not only this page)?"
          />
        ) : null}
      </div>
      <div class="table-wrap">
        <table data-testid="rows">
          <thead>
            <tr>
              {ctx.readOnly ? null : <th />}
              <th class="num">id</th>
              <th>queue</th>
              <th>event</th>
              <th>handler</th>
              <th>state</th>
              <th class="num">attempts</th>
              <th>due</th>
              <th>holder</th>
              <th>last error</th>
            </tr>
          </thead>
          <tbody>
            {props.rows.length === 0 ? (
              <tr>
                <td colspan={10} class="muted">
                  No live row matches.
                </td>
              </tr>
            ) : null}
            {props.rows.map((row) => {
              const state = liveState(row, ctx.now);
              return (
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
                  <td>
                    <span class={`badge ${state}`}>{state}</span>
                  </td>
                  <td class="num">{`${row.attempts} / ${row.maxRetries + 1}`}</td>
                  <td>
                    <Time at={row.scheduledAt} now={ctx.now} />
                  </td>
                  <td>{row.lockedBy ?? ''}</td>
                  <td class="error">{row.lastError ?? ''}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <Pager ctx={ctx} path="/events" query={query} rows={props.rows} limit={props.limit} />
    </Layout>
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
    <Layout ctx={ctx} current="/archive" heading="Archive" flash={props.flash}>
      <Filters ctx={ctx} path="/archive" query={query} archive />
      {ctx.readOnly ? null : (
        <form
          id="selected"
          method="post"
          action={`${ctx.base}/actions/redrive`}
          data-confirm="Redrive the selected rows?"
        >
          <input type="hidden" name="_csrf" value={ctx.csrf} />
          <input type="hidden" name="back" value={back} />
          {query.status === 'completed' ? <input type="hidden" name="statuses" value="completed" /> : null}
        </form>
      )}
      <div class="actions">
        {ctx.readOnly ? null : (
          <button type="submit" form="selected" data-testid="redrive-selected">
            Redrive selected
          </button>
        )}
        {hasFilter(query) && redrivable ? (
          <ActionForm
            ctx={ctx}
            action="redrive"
            fields={{
              queue: query.queue,
              eventName: query.eventName,
              handlerName: query.handlerName,
              errorContains: query.errorContains,
              statuses: query.status,
              back,
            }}
            label="Redrive every failed or cancelled row matching the filter"
            testId="redrive-filter"
            confirm="Redrive every archived row matching this filter (not only this page)?"
          />
        ) : null}
      </div>
      <div class="table-wrap">
        <table data-testid="rows">
          <thead>
            <tr>
              {ctx.readOnly ? null : <th />}
              <th class="num">id</th>
              <th>queue</th>
              <th>event</th>
              <th>handler</th>
              <th>status</th>
              <th class="num">attempts</th>
              <th>finished</th>
              <th>last error</th>
            </tr>
          </thead>
          <tbody>
            {props.rows.length === 0 ? (
              <tr>
                <td colspan={9} class="muted">
                  No archived row matches.
                </td>
              </tr>
            ) : null}
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
                <td>
                  <span class={`badge ${row.status}`}>{row.status}</span>
                </td>
                <td class="num">{row.attempts}</td>
                <td>
                  <Time at={row.finishedAt} now={ctx.now} />
                </td>
                <td class="error">{row.lastError ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager ctx={ctx} path="/archive" query={query} rows={props.rows} limit={props.limit} />
    </Layout>
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
          <Time at={row.createdAt} now={ctx.now} /> <span class="muted">{row.createdAt.toISOString()}</span>
        </dd>
        {live ? (
          <>
            <dt>due</dt>
            <dd>
              <Time at={live.scheduledAt} now={ctx.now} />{' '}
              <span class="muted">{live.scheduledAt.toISOString()}</span>
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
              <Time at={archived!.finishedAt} now={ctx.now} />{' '}
              <span class="muted">{archived!.finishedAt.toISOString()}</span>
            </dd>
          </>
        )}
        <dt>last error</dt>
        <dd class="error">{row.lastError ?? '–'}</dd>
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
      <div class="table-wrap">
        <table data-testid="schedules">
          <thead>
            <tr>
              <th>schedule</th>
              <th>expression</th>
              <th>state</th>
              <th>last run</th>
              <th>next run</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {props.schedules.length === 0 ? (
              <tr>
                <td colspan={6} class="muted">
                  No schedule is declared or stored.
                </td>
              </tr>
            ) : null}
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
                <td>
                  {s.paused ? <span class="muted">paused</span> : <Time at={s.nextTickAt} now={ctx.now} />}
                </td>
                <td>
                  {s.paused ? (
                    <ActionForm
                      ctx={ctx}
                      action="resume-schedule"
                      fields={{ name: s.name }}
                      label="Resume"
                      testId="resume-schedule"
                    />
                  ) : (
                    <ActionForm
                      ctx={ctx}
                      action="pause-schedule"
                      fields={{ name: s.name }}
                      label="Pause"
                      danger
                      testId="pause-schedule"
                      confirm={`Pause schedule ${s.name} in every process?`}
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Layout>
  );
}

/** Worker processes seen recently. */
export function WorkersPage(props: { ctx: PageContext; workers: WorkerRow[]; seenWithinMs: number }) {
  const { ctx } = props;
  return (
    <Layout ctx={ctx} current="/workers" heading="Workers">
      <p class="muted">{`Processes whose heartbeat is at most ${age(props.seenWithinMs)} old.`}</p>
      <div class="table-wrap">
        <table data-testid="workers">
          <thead>
            <tr>
              <th>worker</th>
              <th>queues</th>
              <th>host and pid</th>
              <th>started</th>
              <th>last seen</th>
            </tr>
          </thead>
          <tbody>
            {props.workers.length === 0 ? (
              <tr>
                <td colspan={5} class="muted">
                  No worker process seen recently.
                </td>
              </tr>
            ) : null}
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
          </tbody>
        </table>
      </div>
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
