import type {
  AdminArchiveFilter,
  AdminLiveFilter,
  AdminPage,
  AdminReport,
  AdminTarget,
  AdminWriteOptions,
  BusAdmin,
  FoundRow,
  QueueLimitsOverview,
  QueueOverview,
  ScheduleOverview,
} from './admin-api.js';
import { type ArchivePolicy, shouldArchive } from './archive-policy.js';
import type {
  ArchivedEventRow,
  ArchiveStatus,
  EventRow,
  LiveState,
  PauseRow,
  RowFilter,
  WorkerRow,
} from './contract/inspect.js';
import { CONTRACT_LIMITS, isRowId } from './contract/limits.js';
import type { QueueStore } from './contract/store.js';
import { BusError, describeError } from './errors.js';
import { type QueueLimits, queueLimitsOf, storedLimitsOf } from './flow/limits.js';
import { assertQueueName } from './handler.js';
import { checkReason } from './handler-controls.js';
import { type Logger, silentLogger } from './logger.js';
import { type QueueConfig, type ResolvedQueueConfig, validateQueueConfigs } from './queue-config.js';
import { queueOverviews } from './queue-overview.js';
import { BusSchedules } from './schedules/api.js';
import {
  assertKnownKeys,
  prepareIds,
  prepareListParams,
  prepareRowFilter,
  prepareState,
  prepareStatuses,
} from './store-params.js';
import { inBatches, retryConflicts } from './store-retry.js';

const { maxBatch, maxIds, maxNameLength, maxDelayMs } = CONTRACT_LIMITS;
/** Ids one admin call takes at most (`AdminTarget.ids`). */
export const MAX_ADMIN_IDS = 10_000;
const DEFAULT_LIST_LIMIT = 100;
const DEFAULT_WORKERS_WINDOW_MS = 60_000;
const PRUNE_LIMIT = 10_000;
const DEFAULT_CANCEL_REASON = 'cancelled by an operator';

const TARGET_KEYS: ReadonlySet<string> = new Set(['ids', 'filter', 'all']);
const LIVE_FILTER_KEYS: ReadonlySet<string> = new Set([
  'queue',
  'eventName',
  'handlerName',
  'errorContains',
  'state',
]);
const ARCHIVE_FILTER_KEYS: ReadonlySet<string> = new Set([
  'queue',
  'eventName',
  'handlerName',
  'errorContains',
  'statuses',
]);
const PAGE_KEYS = ['afterId', 'newestFirst', 'limit'];
const EVENTS_KEYS: ReadonlySet<string> = new Set([...LIVE_FILTER_KEYS, ...PAGE_KEYS]);
const ARCHIVE_KEYS: ReadonlySet<string> = new Set([
  'queue',
  'eventName',
  'handlerName',
  'errorContains',
  'status',
  ...PAGE_KEYS,
]);

/** Options of `createAdmin`. */
export interface CreateAdminOptions<TTx> {
  store: QueueStore<TTx>;
  /**
   * The bus's queue configurations, when known: their archive policies decide whether a
   * cancelled row is archived (without them it is), and `pause` accepts them before they have rows.
   */
  queues?: readonly QueueConfig[];
  /** Where failures worth a line go (default: silent; the admin API reports through its results). */
  logger?: Logger;
}

/** What a bus gives its own admin beyond `createAdmin`'s options: its process follows at once. */
export interface AdminHooks {
  /** Pauses changed: apply them in this process now rather than at the next poll. */
  pausesChanged(): Promise<void>;
  /** Rows of these queues (all, when undefined) may be due now. */
  wake(queues?: readonly string[]): void;
}

/**
 * The operator API without a bus: cancel, redrive, run now, pause and every view, on any store
 * (the CLI and the dashboard use it). A bus has its own as `bus.admin`, which also knows its
 * queues' archive policies and makes its own process follow a pause at once.
 *
 * @example
 * const admin = createAdmin({ store: postgresStore(db) });
 * const report = await admin.redrive({ filter: { queue: 'email' } });
 */
export function createAdmin<TTx>(options: CreateAdminOptions<TTx>): BusAdmin<TTx> {
  if (typeof options !== 'object' || options === null) {
    throw new BusError('INVALID_CONFIG', 'createAdmin needs options with a store', { value: options });
  }
  assertKnownKeys(options, new Set(['store', 'queues', 'logger']), 'createAdmin options');
  const { store } = options;
  if (
    typeof store !== 'object' ||
    store === null ||
    typeof store.admin !== 'object' ||
    store.admin === null
  ) {
    throw new BusError(
      'INVALID_CONFIG',
      'createAdmin needs a store with an admin member (a job-control store)',
      {
        value: store,
      },
    );
  }
  const queues = options.queues === undefined ? [] : validateQueueConfigs(options.queues);
  return new Admin(store, queues, options.logger ?? silentLogger);
}

/** `BusAdmin` on a store: validates every input, loops bulk work in `maxBatch`-sized store calls. */
export class Admin<TTx> implements BusAdmin<TTx> {
  readonly #policies: ReadonlyMap<string, ArchivePolicy>;
  readonly #schedules: BusSchedules;

  /** `schedules` is the bus's own `bus.schedules` (one implementation); without one, the stored rows'. */
  constructor(
    private readonly store: QueueStore<TTx>,
    queues: readonly ResolvedQueueConfig[],
    private readonly logger: Logger,
    private readonly hooks?: AdminHooks,
    schedules?: BusSchedules,
  ) {
    this.#policies = new Map(queues.map((q) => [q.queueName, q.archivePolicy]));
    this.#schedules = schedules ?? new BusSchedules(store as QueueStore<unknown>);
  }

  async cancel(
    target: AdminTarget,
    options: AdminWriteOptions<TTx> & { reason?: string } = {},
  ): Promise<AdminReport> {
    checkOptions(options, ['tx', 'reason'], 'cancel');
    const reason = checkReason(options.reason ?? DEFAULT_CANCEL_REASON, 'cancel');
    const { ids, invalid, filter } = this.#target(target, LIVE_FILTER_KEYS, 'cancel');
    const state = (target.filter as AdminLiveFilter | undefined)?.state;
    const liveFilter: RowFilter & { state?: LiveState } = { ...filter };
    if (state !== undefined) liveFilter.state = prepareState(state);
    const tx = options.tx;
    const touched: string[] = [];
    // One archive decision per store call: queues whose policy drops failures first, one call per
    // queue; then the rest, archived.
    const groups =
      ids === undefined && isEmpty(liveFilter)
        ? (await this.#allQueues()).map((queue) => ({ queue, archive: this.#archiveOf(queue) }))
        : this.#archiveGroups(liveFilter.queue);
    for (const group of groups) {
      const groupFilter = group.queue === undefined ? liveFilter : { ...liveFilter, queue: group.queue };
      const cancel = (limit: number, batch?: string[]) =>
        this.#write(tx, () =>
          this.store.admin.cancel({
            ...(batch === undefined ? {} : { ids: batch }),
            ...(isEmpty(groupFilter) ? {} : { filter: groupFilter }),
            limit,
            archive: group.archive,
            reason,
            ...(tx === undefined ? {} : { tx }),
          }),
        );
      touched.push(...(await this.#loop(ids, cancel)));
    }
    return report(ids, invalid, touched);
  }

  async redrive(
    target: AdminTarget<AdminArchiveFilter>,
    options: AdminWriteOptions<TTx> = {},
  ): Promise<AdminReport> {
    checkOptions(options, ['tx'], 'redrive');
    const { ids, invalid, filter } = this.#target(target, ARCHIVE_FILTER_KEYS, 'redrive');
    const given = target.filter?.statuses;
    const statuses =
      given === undefined ? (['failed', 'cancelled'] as ArchiveStatus[]) : prepareStatuses(given);
    const tx = options.tx;
    // The store is always given ids or a filter: `all` goes queue by queue.
    const filters =
      ids === undefined && isEmpty(filter) ? (await this.#allQueues()).map((queue) => ({ queue })) : [filter];
    const touched: string[] = [];
    for (const f of filters) {
      const redrive = (limit: number, batch?: string[]) =>
        this.#write(tx, () =>
          this.store.admin.redrive({
            ...(batch === undefined ? {} : { ids: batch }),
            ...(isEmpty(f) ? {} : { filter: f }),
            statuses,
            limit,
            ...(tx === undefined ? {} : { tx }),
          }),
        );
      touched.push(...(await this.#loop(ids, redrive)));
    }
    if (touched.length > 0) this.hooks?.wake(filter.queue === undefined ? undefined : [filter.queue]);
    return report(ids, invalid, touched);
  }

  async runNow(ids: readonly string[], options: AdminWriteOptions<TTx> = {}): Promise<AdminReport> {
    checkOptions(options, ['tx'], 'runNow');
    const { valid, invalid } = prepareIds(ids, MAX_ADMIN_IDS);
    const tx = options.tx;
    const touched: string[] = [];
    for (const batch of inBatches(valid, maxIds)) {
      touched.push(
        ...(await this.#write(tx, () =>
          this.store.admin.runNow({ ids: batch, ...(tx === undefined ? {} : { tx }) }),
        )),
      );
    }
    if (touched.length > 0) this.hooks?.wake();
    return report(valid, invalid, touched);
  }

  async pause(
    queue: string,
    options: AdminWriteOptions<TTx> & { handlerName?: string } = {},
  ): Promise<{ changed: boolean }> {
    const params = await this.#pauseParams(queue, options, 'pause');
    const changed = await this.#write(options.tx, () => this.store.admin.pause(params));
    if (options.tx === undefined) await this.hooks?.pausesChanged();
    return { changed };
  }

  async resume(
    queue: string,
    options: AdminWriteOptions<TTx> & { handlerName?: string } = {},
  ): Promise<{ changed: boolean }> {
    const params = await this.#pauseParams(queue, options, 'resume');
    const changed = await this.#write(options.tx, () => this.store.admin.resume(params));
    if (options.tx === undefined) {
      await this.hooks?.pausesChanged();
      if (changed) this.hooks?.wake([queue]);
    }
    return { changed };
  }

  async setLimits(
    queue: string,
    limits: QueueLimits | null,
    options: AdminWriteOptions<TTx> = {},
  ): Promise<{ changed: boolean }> {
    checkOptions(options, ['tx'], 'setLimits');
    // A queue a configuration could name: limits on any other name would never apply.
    assertQueueName(queue, 'INVALID_ARGUMENT');
    const stored = limits === null ? null : storedLimitsOf(queue, limits);
    const tx = options.tx;
    const changed = await this.#write(tx, () =>
      this.store.admin.setLimits({ queue, limits: stored, ...(tx === undefined ? {} : { tx }) }),
    );
    if (tx === undefined) await this.hooks?.pausesChanged();
    return { changed };
  }

  async limits(): Promise<QueueLimitsOverview[]> {
    return (await this.store.inspect.listLimits()).map((row) => ({
      queue: row.queue,
      limits: queueLimitsOf(row),
      updatedAt: row.updatedAt,
    }));
  }

  async queues(): Promise<QueueOverview[]> {
    const [counts, pauses, workers, limits] = await Promise.all([
      this.store.inspect.countByQueue(),
      this.store.inspect.listPauses(),
      this.store.inspect.listWorkers({ seenWithinMs: DEFAULT_WORKERS_WINDOW_MS }),
      this.store.inspect.listLimits(),
    ]);
    return queueOverviews({
      names: this.#policies.keys(),
      counts,
      pauses,
      workers,
      limits: limits.map((l) => ({ queue: l.queue, limits: queueLimitsOf(l) })),
    });
  }

  pauses(): Promise<PauseRow[]> {
    return this.store.inspect.listPauses();
  }

  async schedules(): Promise<ScheduleOverview[]> {
    return (await this.#schedules.list()).map(({ declared: _declared, ...overview }) => overview);
  }

  pauseSchedule(name: string): Promise<{ changed: boolean }> {
    return this.#schedules.pause(name);
  }

  resumeSchedule(name: string): Promise<{ changed: boolean }> {
    return this.#schedules.resume(name);
  }

  async events(filter: AdminLiveFilter & AdminPage = {}): Promise<EventRow[]> {
    const params = prepareListParams(filter, { keys: EVENTS_KEYS, defaultLimit: DEFAULT_LIST_LIMIT });
    if (params === undefined) return [];
    const { status: _status, ...live } = params;
    return this.store.inspect.listEvents(live);
  }

  async archive(
    filter: RowFilter & { status?: ArchiveStatus } & AdminPage = {},
  ): Promise<ArchivedEventRow[]> {
    const params = prepareListParams(filter, { keys: ARCHIVE_KEYS, defaultLimit: DEFAULT_LIST_LIMIT });
    if (params === undefined) return [];
    const { state: _state, ...archived } = params;
    return this.store.inspect.listArchive(archived);
  }

  async event(id: string): Promise<FoundRow | null> {
    if (typeof id !== 'string') {
      throw new BusError('INVALID_ARGUMENT', `event needs a row id string (got ${String(id)})`, {
        value: id,
      });
    }
    // Text that cannot be a row id names no row.
    if (!isRowId(id)) return null;
    const [live] = await this.store.inspect.listEvents({ ids: [id], limit: 1 });
    if (live !== undefined) return { where: 'live', row: live };
    const [archived] = await this.store.inspect.listArchive({ ids: [id], limit: 1 });
    return archived === undefined ? null : { where: 'archive', row: archived };
  }

  async workers(options: { seenWithinMs?: number } = {}): Promise<WorkerRow[]> {
    checkOptions(options, ['seenWithinMs'], 'workers');
    const seenWithinMs = checkMs(options.seenWithinMs ?? DEFAULT_WORKERS_WINDOW_MS, 'workers: seenWithinMs');
    return this.store.inspect.listWorkers({ seenWithinMs });
  }

  async purgeArchive(options: { olderThanMs: number }): Promise<number> {
    if (typeof options !== 'object' || options === null) {
      throw new BusError('INVALID_ARGUMENT', 'purgeArchive needs { olderThanMs }', { value: options });
    }
    checkOptions(options, ['olderThanMs'], 'purgeArchive');
    const olderThanMs = checkMs(options.olderThanMs, 'purgeArchive: olderThanMs');
    let total = 0;
    for (;;) {
      const n = await retryConflicts(() => this.store.prune({ olderThanMs, limit: PRUNE_LIMIT }));
      total += n;
      if (n < PRUNE_LIMIT) return total;
    }
  }

  now(): Promise<Date> {
    return this.store.now();
  }

  // Ids, invalid strings and the row filter of a target; a target with neither ids nor a filter
  // field needs `all: true`.
  #target(
    target: AdminTarget<object>,
    filterKeys: ReadonlySet<string>,
    what: string,
  ): { ids: string[] | undefined; invalid: string[]; filter: RowFilter } {
    if (typeof target !== 'object' || target === null || Array.isArray(target)) {
      throw new BusError('INVALID_ARGUMENT', `${what} needs a target: { ids }, { filter } or { all: true }`, {
        value: target,
      });
    }
    assertKnownKeys(target, TARGET_KEYS, `${what} target`);
    if (target.all !== undefined && typeof target.all !== 'boolean') {
      throw new BusError('INVALID_ARGUMENT', `${what}: all must be a boolean (got ${String(target.all)})`, {
        value: target.all,
      });
    }
    const raw = target.filter ?? {};
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new BusError('INVALID_ARGUMENT', `${what}: filter must be an object`, { value: raw });
    }
    assertKnownKeys(raw, filterKeys, `${what} filter`);
    const filter = prepareRowFilter(raw as RowFilter);
    const narrowed = !isEmpty(filter) || (raw as { state?: unknown }).state !== undefined;
    let ids: string[] | undefined;
    let invalid: string[] = [];
    if (target.ids !== undefined) ({ valid: ids, invalid } = prepareIds(target.ids, MAX_ADMIN_IDS));
    if (target.ids === undefined && !narrowed && target.all !== true) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `${what}: the target names no ids and no filter field, so it would touch every row; pass all: true to mean that`,
        { value: target },
      );
    }
    return { ids, invalid, filter };
  }

  // Store calls of at most `maxBatch` rows until the store has no more: by id batches, or by
  // filter until a call returns fewer than asked for.
  async #loop(
    ids: string[] | undefined,
    call: (limit: number, batch?: string[]) => Promise<string[]>,
  ): Promise<string[]> {
    const touched: string[] = [];
    if (ids !== undefined) {
      for (const batch of inBatches(ids, Math.min(maxIds, maxBatch)))
        touched.push(...(await call(batch.length, batch)));
      return touched;
    }
    for (;;) {
      const got = await call(maxBatch);
      touched.push(...got);
      if (got.length < maxBatch) return touched;
    }
  }

  // Outside a transaction a conflict rolled the call back and it is safe to run again; inside
  // the caller's, the caller's whole transaction is gone: theirs to retry.
  #write<T>(tx: TTx | undefined, fn: () => Promise<T>): Promise<T> {
    return tx === undefined ? retryConflicts(fn) : fn();
  }

  // Whether a cancelled row of `queue` is archived: its policy when the bus knows it, else kept.
  #archiveOf(queue: string): boolean {
    const policy = this.#policies.get(queue);
    return policy === undefined ? true : shouldArchive(policy, 'cancelled');
  }

  // Which archive flag each cancel call gets: the queues whose policy drops failures one by one,
  // then the rest, archived.
  #archiveGroups(queue: string | undefined): { queue?: string; archive: boolean }[] {
    if (queue !== undefined) return [{ queue, archive: this.#archiveOf(queue) }];
    const dropping = [...this.#policies.keys()].filter((q) => !this.#archiveOf(q));
    return [...dropping.map((q) => ({ queue: q, archive: false })), { archive: true }];
  }

  // Every queue with rows (live or archived) or a configuration: what `all: true` walks.
  async #allQueues(): Promise<string[]> {
    const names = new Set<string>(this.#policies.keys());
    for (const c of await this.store.inspect.countByQueue()) names.add(c.queue);
    return [...names];
  }

  async #pauseParams(
    queue: string,
    options: AdminWriteOptions<TTx> & { handlerName?: string },
    what: 'pause' | 'resume',
  ): Promise<{ queue: string; handlerName: string | null; tx?: TTx }> {
    checkOptions(options, ['tx', 'handlerName'], what);
    checkName(queue, `${what}: queue`);
    if (options.handlerName !== undefined) checkName(options.handlerName, `${what}: handlerName`);
    const handlerName = options.handlerName ?? null;
    if (!(await this.#knownQueue(queue))) {
      throw new BusError(
        'UNKNOWN_QUEUE',
        `${what}: queue ${JSON.stringify(queue)} is not configured in this bus and the store knows no rows, pauses or workers of it`,
        { value: queue },
      );
    }
    return { queue, handlerName, ...(options.tx === undefined ? {} : { tx: options.tx }) };
  }

  async #knownQueue(queue: string): Promise<boolean> {
    if (this.#policies.has(queue)) return true;
    try {
      const [counts, pauses, workers] = await Promise.all([
        this.store.inspect.countByQueue(),
        this.store.inspect.listPauses(),
        this.store.inspect.listWorkers({ seenWithinMs: maxDelayMs }),
      ]);
      return (
        counts.some((c) => c.queue === queue) ||
        pauses.some((p) => p.queue === queue) ||
        workers.some((w) => w.queues.includes(queue))
      );
    } catch (error) {
      this.logger.warn('looking up a queue for pause failed', { queue, error: describeError(error) });
      throw error;
    }
  }
}

function report(ids: string[] | undefined, invalid: string[], touched: string[]): AdminReport {
  if (ids === undefined) return { count: touched.length, ids: [], unknown: [] };
  const done = new Set(touched);
  return {
    count: touched.length,
    ids: ids.filter((id) => done.has(id)),
    unknown: [...invalid, ...ids.filter((id) => !done.has(id))],
  };
}

function isEmpty(filter: object): boolean {
  return Object.keys(filter).length === 0;
}

function checkOptions(options: unknown, keys: string[], what: string): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new BusError('INVALID_ARGUMENT', `${what}: options must be an object`, { value: options });
  }
  assertKnownKeys(options, new Set(keys), `${what} options`);
}

function checkName(name: unknown, what: string): void {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > maxNameLength ||
    name.includes('\u0000')
  ) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `${what} must be a name of 1 to ${maxNameLength} characters without U+0000 (got ${typeof name === 'string' ? JSON.stringify(name.slice(0, 50)) : String(name)})`,
      { value: name },
    );
  }
}

function checkMs(ms: unknown, what: string): number {
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0 || ms > maxDelayMs) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `${what} must be an integer number of ms from 0 to ${maxDelayMs} (got ${String(ms)})`,
      {
        value: ms,
      },
    );
  }
  return ms;
}
