import type { ArchivePolicy } from 'bus-core';
import type { AppStats } from './db/types.js';

/** Where the live view and the summary go: `process.stdout`, or anything with `write`. */
export interface DemoOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  /** The terminal's width; live lines are cut to it so that redrawing in place stays aligned. */
  columns?: number;
}

/** `line` cut to `width` visible characters (ANSI colour codes do not count). */
export function fitLine(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i);
      if (end !== -1) {
        out += line.slice(i, end + 1);
        i = end;
        continue;
      }
    }
    if (visible >= width) continue;
    out += line[i];
    visible++;
  }
  return out;
}

/** Who counted a number: bus's archive table, or the demo's handlers (when the archive keeps no such rows). */
export type CountedBy = 'archive' | 'handlers';

/** One queue at one moment. */
export interface QueueView {
  queue: string;
  archivePolicy: ArchivePolicy;
  /** Live rows found at start, left by an earlier run. */
  earlier: number;
  /** Rows published by this run's sign-ups. */
  published: number;
  /** Live rows waiting: due now, or due later (a retry's backoff). */
  queued: number;
  /** Live rows leased to a worker. */
  running: number;
  /** Live rows that failed at least once and wait for or run their retry. */
  retrying: number;
  completed: number;
  completedBy: CountedBy;
  /** Rows that failed for good (every try used). */
  failed: number;
  failedBy: CountedBy;
  /** Rows this run added to the archive table. */
  archived: number;
  /** Rows finished (completed or failed) per second, lately. */
  perSecond: number;
}

/** The live view's input. */
export interface LiveState {
  database: string;
  phase: 'starting' | 'signing up' | 'draining' | 'stopping';
  elapsedMs: number;
  signedUp: number;
  usersTarget: number;
  /** Sign-ups per second asked for. */
  rate: number;
  /** Sign-ups per second achieved (lower when the database is saturated). */
  actualRate: number;
  failRate: number;
  queues: QueueView[];
  /** Rows of a stopped run that bus's rescuer returned to their queue. */
  rescued: number;
  busErrors: number;
  lastBusError: string | undefined;
}

/** One queue in the final summary. */
export interface QueueSummary {
  queue: string;
  archivePolicy: ArchivePolicy;
  /** Stable names of the handlers whose rows go to this queue. */
  handlers: string[];
  earlier: number;
  published: number;
  completed: number;
  completedBy: CountedBy;
  failed: number;
  failedBy: CountedBy;
  /** Live rows at the end (0 after a full run; handed to the next run after Ctrl+C). */
  left: number;
  archived: number;
  /** Failed attempts that were retried. */
  retries: number;
  /** Runs cut short at shutdown, their rows handed back to the queue. */
  handedBack: number;
  /** Runs whose outcome bus did not record because the worker had lost the row's lease: they run again. */
  lostLeases: number;
  /** Finished rows per second over the run. */
  perSecond: number;
  /** `earlier + published = completed + failed + left`, and the cross-checks agree. */
  reconciled: boolean;
}

/** What a run did, and whether its numbers add up. */
export interface DemoSummary {
  database: string;
  kind: 'pglite' | 'postgres' | 'mysql';
  /** Stopped by Ctrl+C (or the caller's signal) before every row was finished. */
  interrupted: boolean;
  durationMs: number;
  users: { requested: number; signedUp: number; rate: number; actualRate: number };
  failRate: number;
  queues: QueueSummary[];
  totals: {
    earlier: number;
    published: number;
    completed: number;
    failed: number;
    left: number;
    archived: number;
  };
  /** Totals of the demo's own tables (all runs). */
  app: AppStats;
  /** No live rows were left. */
  drained: boolean;
  /** Every queue reconciles and no check failed. */
  reconciled: boolean;
  /** What did not add up, one line each. */
  problems: string[];
  /** Errors bus logged (claim or settle failures, …), and the last one. */
  busErrors: number;
  lastBusError: string | undefined;
}

interface Paint {
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
}

const ansi = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
const COLOR: Paint = {
  bold: ansi(1, 22),
  dim: ansi(2, 22),
  green: ansi(32, 39),
  red: ansi(31, 39),
  yellow: ansi(33, 39),
};
const PLAIN: Paint = { bold: (s) => s, dim: (s) => s, green: (s) => s, red: (s) => s, yellow: (s) => s };

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function perSecond(n: number): string {
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

/** A table with right-aligned numbers; `*` marks a number counted by the demo's handlers. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

const mark = (n: number, by: CountedBy) => `${n}${by === 'handlers' ? '*' : ' '}`;

const FOOTNOTE =
  "* counted by the demo's handlers: this queue's archive policy keeps no such rows, so the database cannot tell";

/** The live view: a header line, one line per queue, notes. */
export function renderLive(state: LiveState, color = false): string[] {
  const p = color ? COLOR : PLAIN;
  const failPct = `${Math.round(state.failRate * 1000) / 10}%`;
  const header = [
    `${p.bold('bus demo')} on ${state.database}  ·  ${state.phase}  ·  ${seconds(state.elapsedMs)}`,
    `users signed up ${state.signedUp}/${state.usersTarget} at ${perSecond(state.actualRate)}/s (asked ${state.rate}/s)  ·  the mail service rejects ${failPct} of sends`,
    '',
  ];
  const showEarlier = state.queues.some((q) => q.earlier > 0);
  const head = [
    'queue',
    'archive',
    ...(showEarlier ? ['earlier'] : []),
    'published',
    'queued',
    'running',
    'retrying',
    'completed',
    'failed',
    'archived',
    'done/s',
  ];
  const rows = state.queues.map((q) => [
    q.queue,
    q.archivePolicy,
    ...(showEarlier ? [String(q.earlier)] : []),
    String(q.published),
    String(q.queued),
    String(q.running),
    String(q.retrying),
    mark(q.completed, q.completedBy),
    mark(q.failed, q.failedBy),
    String(q.archived),
    perSecond(q.perSecond),
  ]);
  const notes = [p.dim(FOOTNOTE)];
  if (showEarlier) notes.push(p.dim('earlier: unfinished rows of an earlier run, picked up by this one'));
  if (state.rescued > 0) {
    notes.push(
      p.yellow(
        `rescued ${state.rescued} rows whose lease had run out (their worker stopped, or could not renew it)`,
      ),
    );
  }
  if (state.busErrors > 0)
    notes.push(p.yellow(`bus errors: ${state.busErrors} (last: ${state.lastBusError})`));
  notes.push(
    state.phase === 'stopping'
      ? p.yellow(
          'stopping: running handlers finish (up to 10 s), the rest goes back to its queue; Ctrl+C again quits at once',
        )
      : p.dim('Ctrl+C stops gracefully; the next run picks up what is left'),
  );
  return [...header, ...table(head, rows), '', ...notes];
}

/** One progress line, for output that is not a terminal. */
export function renderProgress(state: LiveState): string {
  const queues = state.queues
    .map((q) => {
      const done = q.completed + q.failed;
      const extra = q.retrying > 0 ? ` (${q.retrying} retrying)` : '';
      return `${q.queue} ${done}/${q.earlier + q.published}${extra}`;
    })
    .join(' | ');
  return `[${seconds(state.elapsedMs).padStart(7)}] users ${state.signedUp}/${state.usersTarget} | ${queues}`;
}

/** The final summary: the totals per queue and whether they reconcile. */
export function renderSummary(s: DemoSummary, color = false): string[] {
  const p = color ? COLOR : PLAIN;
  const out: string[] = [];
  const signUpWord = s.users.signedUp === 1 ? 'sign-up' : 'sign-ups';
  out.push(
    p.bold(`Summary`) +
      ` · ${s.database} · ${seconds(s.durationMs)}${s.interrupted ? ' · stopped by Ctrl+C' : ''}`,
    `${s.users.signedUp} of ${s.users.requested} ${signUpWord} at ${perSecond(s.users.actualRate)}/s; each wrote a user and published SendEmailEvent in one transaction: one row per handler (${s.queues.map((q) => q.queue).join(', ')})`,
    '',
  );
  const showEarlier = s.totals.earlier > 0;
  const head = [
    'queue',
    'archive',
    ...(showEarlier ? ['earlier'] : []),
    'published',
    'completed',
    'failed',
    'left',
    'archived',
    'retries',
    'done/s',
    '',
  ];
  const rows = s.queues.map((q) => [
    q.queue,
    q.archivePolicy,
    ...(showEarlier ? [String(q.earlier)] : []),
    String(q.published),
    mark(q.completed, q.completedBy),
    mark(q.failed, q.failedBy),
    String(q.left),
    String(q.archived),
    String(q.retries),
    perSecond(q.perSecond),
    q.reconciled ? p.green('✓') : p.red('✗'),
  ]);
  const t = s.totals;
  rows.push([
    'total',
    '',
    ...(showEarlier ? [String(t.earlier)] : []),
    String(t.published),
    `${t.completed} `,
    `${t.failed} `,
    String(t.left),
    String(t.archived),
    String(s.queues.reduce((n, q) => n + q.retries, 0)),
    '',
    '',
  ]);
  out.push(...table(head, rows), p.dim(FOOTNOTE), '');

  const rowsIn = t.earlier + t.published;
  const from = showEarlier
    ? `the ${rowsIn} rows (${t.earlier} from an earlier run, ${t.published} published now)`
    : `the ${rowsIn} rows`;
  if (s.reconciled && s.drained) {
    out.push(
      p.green(
        `✓ reconciled: every one of ${from} is completed (${t.completed}) or archived as failed (${t.failed}); nothing is left`,
      ),
    );
  } else if (s.reconciled) {
    out.push(
      p.green(
        `✓ the numbers add up: ${from} = ${t.completed} completed + ${t.failed} failed + ${t.left} left`,
      ),
      p.yellow(`  ${t.left} rows are left in the queues: run the demo again and it picks them up`),
    );
  } else {
    out.push(p.red('✗ the numbers do not add up:'), ...s.problems.map((line) => p.red(`  - ${line}`)));
  }
  const email = s.queues.find((q) => q.queue === 'email');
  if (email !== undefined && email.failed > 0) {
    out.push(
      `  ${email.failed === 1 ? '1 welcome mail' : `${email.failed} welcome mails`} failed all 4 tries: see bus_events_archive (status failed) for the last error`,
    );
  }
  const handedBack = s.queues.reduce((n, q) => n + q.handedBack, 0);
  if (handedBack > 0) {
    out.push(
      `  ${handedBack} running handlers were stopped at shutdown; their rows went back to the queue unharmed`,
    );
  }
  const lost = s.queues.reduce((n, q) => n + q.lostLeases, 0);
  if (lost > 0) {
    out.push(
      p.yellow(
        `  ${lost} runs finished after their worker had lost the row's lease; bus did not record them and the rows run again (at-least-once: the handlers are idempotent)`,
      ),
    );
  }
  out.push(
    `  demo_users: ${s.app.users} users (all runs), ${s.app.credited} with their welcome credit; demo_email_audit: ${s.app.auditEntries} entries`,
  );
  if (s.busErrors > 0) out.push(p.yellow(`  bus logged ${s.busErrors} errors; the last: ${s.lastBusError}`));
  return out;
}
