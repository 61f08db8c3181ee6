export type { BusOptions } from './bus-options.js';

import { Admin } from './admin.js';
import type { BusAdmin } from './admin-api.js';
import { type BusOptions, resolveBusOptions } from './bus-options.js';
import type {
  ArchivedEventRow,
  ArchiveStatus,
  EventRow,
  LiveState,
  QueueCounts,
  RowFilter,
} from './contract/inspect.js';
import type { QueueStore } from './contract/store.js';
import { WorkerController } from './controller.js';
import { BusError, firstLine, isBusError } from './errors.js';
import { assertStableName, type EventDefinition } from './event.js';
import { assertPartitionKey } from './flow/partition-key.js';
import {
  assertPriority,
  type ConstructibleHandlerClass,
  type EventHandler,
  type HandlerClass,
} from './handler.js';
import type { Logger } from './logger.js';
import { recordPublished } from './otel/metrics.js';
import { publishSpan } from './otel/spans.js';
import { dueOf, type PublishOptions, publishRows } from './publish-rows.js';
import type { ResolvedQueueConfig } from './queue-config.js';
import type { HandlerFactory, RegisterOptions, Registry } from './registry.js';
import { BusSchedules } from './schedules/api.js';
import type { ScheduleDefinition } from './schedules/define.js';
import { ScheduleRunner } from './schedules/runner.js';
import { prepareListParams } from './store-params.js';
import { retryConflicts } from './store-retry.js';
import {
  insertKeyedRows,
  type UniqueOptions,
  uniquenessOfRows,
  validateUniqueOptions,
} from './unique-key.js';
import {
  type PublishedRow,
  throwOnDuplicate,
  type UniquePublishResult,
  uniqueResultOf,
} from './unique-result.js';

/** Filters of both `bus.inspect` lists: every given one must match; `limit` defaults to 1000. */
interface InspectFilterBase extends RowFilter {
  /** At most 1000 ids; strings that cannot be row ids match nothing. */
  ids?: string[];
  /** Only rows after this id in the list's order: pass the last id of a page to get the next. */
  afterId?: string;
  /** Descending id order (newest first); `afterId` then means smaller ids. */
  newestFirst?: boolean;
  /** 1 to 10 000 (default 1000). */
  limit?: number;
}

/** Filters of `bus.inspect.events`. */
export interface InspectEventsFilter extends InspectFilterBase {
  /** Only rows in this state, judged by the database's clock. */
  state?: LiveState;
}

/** Filters of `bus.inspect.archive`. */
export interface InspectArchiveFilter extends InspectFilterBase {
  status?: ArchiveStatus;
}

const COMMON_FILTER_KEYS = [
  'queue',
  'eventName',
  'handlerName',
  'errorContains',
  'ids',
  'afterId',
  'newestFirst',
  'limit',
];
const LIVE_FILTER_KEYS: ReadonlySet<string> = new Set([...COMMON_FILTER_KEYS, 'state']);
const ARCHIVE_FILTER_KEYS: ReadonlySet<string> = new Set([...COMMON_FILTER_KEYS, 'status']);

/** Read-only views of the tables, for dashboards and tests. */
export interface BusInspection {
  /** Rows per queue and state. */
  counts(): Promise<QueueCounts[]>;
  /** Live rows, by id or queue, in id order. */
  events(filter?: InspectEventsFilter): Promise<EventRow[]>;
  /** Archived rows, by id, queue or status, in id order. */
  archive(filter?: InspectArchiveFilter): Promise<ArchivedEventRow[]>;
  /** The database's clock, which decides when rows are due. */
  now(): Promise<Date>;
}

/**
 * The bus: registers handlers, publishes events (fanning out one row per handler) and owns the
 * worker controller. Generic over the store's transaction type, so `publishTxn` only takes a
 * transaction of the right driver.
 */
export class Bus<TTx = unknown> {
  /** Starts and stops this process's workers. */
  readonly controller: WorkerController;
  /** Read-only inspection of the queue tables. */
  readonly inspect: BusInspection;
  /**
   * The operator API (cancel, redrive, run now, pause, views), knowing this bus's queues: their
   * archive policies, and its own workers follow a pause or resume at once.
   */
  readonly admin: BusAdmin<TTx>;
  /** Recurring schedules: list, pause, resume (docs/schedules.md). */
  readonly schedules: BusSchedules;
  readonly #scheduleRunner: ScheduleRunner;
  readonly #store: QueueStore<TTx>;
  readonly #registry: Registry;
  readonly #queues: readonly ResolvedQueueConfig[];
  readonly #logger: Logger;
  #state: 'created' | 'initializing' | 'ready' | 'shut-down' = 'created';

  constructor(options: BusOptions<TTx>) {
    const { store, queues, registry, logger, telemetry, rescueInterval, retention, workerId } =
      resolveBusOptions(options);
    this.#store = store;
    this.#queues = queues;
    this.#registry = registry;
    this.#logger = logger;
    this.#scheduleRunner = new ScheduleRunner({
      store: store as QueueStore<unknown>,
      registry,
      logger,
      wake: (queue) => this.controller.wake(queue),
    });
    this.schedules = new BusSchedules(store as QueueStore<unknown>, this.#scheduleRunner);
    this.controller = new WorkerController({
      store: store as QueueStore<unknown>,
      registry: this.#registry,
      queues: this.#queues,
      logger: this.#logger,
      telemetry,
      workerId,
      rescueInterval,
      archiveRetention: retention,
      assertReady: () => this.#assertReady(),
      markShutDown: () => {
        this.#state = 'shut-down';
        this.#scheduleRunner.stop();
      },
      onStarted: () => this.#scheduleRunner.start(),
    });
    this.admin = new Admin(
      store,
      queues,
      logger,
      {
        pausesChanged: () => this.controller.refreshPauses(),
        wake: (names) => {
          if (names === undefined) this.controller.wake();
          else for (const name of names) this.controller.wake(name);
        },
      },
      this.schedules,
    );
    this.inspect = {
      counts: () => store.inspect.countByQueue(),
      events: async (filter) => {
        const params = prepareListParams(filter, { keys: LIVE_FILTER_KEYS });
        if (params === undefined) return [];
        const { status: _status, ...live } = params;
        return store.inspect.listEvents(live);
      },
      archive: async (filter) => {
        const params = prepareListParams(filter, { keys: ARCHIVE_FILTER_KEYS });
        if (params === undefined) return [];
        const { state: _state, ...archived } = params;
        return store.inspect.listArchive(archived);
      },
      now: () => store.now(),
    };
  }

  /**
   * Registers a handler class on this bus's registry (the alternative to the decorator).
   *
   * @example
   * bus.register(SendEmailEvent, SendEmailHandler, { factory: async () => new SendEmailHandler(mailer) });
   */
  register<P>(event: EventDefinition<P>, handlerClass: ConstructibleHandlerClass<P>): this;
  register<P, H extends EventHandler<P>>(
    event: EventDefinition<P>,
    handlerClass: HandlerClass<P, H>,
    options: RegisterOptions<H> & { factory: HandlerFactory<H> },
  ): this;
  register<P, H extends EventHandler<P>>(
    event: EventDefinition<P>,
    handlerClass: HandlerClass<P, H>,
    options?: RegisterOptions<H>,
  ): this {
    const registered = this.#registry.register(event, handlerClass, options);
    if (this.#state !== 'created')
      this.#assertQueueConfigured(registered.name, registered.settings.queueName);
    return this;
  }

  /**
   * Declares a recurring publish (from `defineSchedule`); every process running workers publishes
   * its due ticks, each tick once (docs/schedules.md). Its event needs a handler by `init`.
   *
   * @example
   * bus.schedule(defineSchedule({ name: 'cleanup', event: CleanupEvent, cron: '0 0 3 * * *', payload: {} }));
   */
  schedule(definition: ScheduleDefinition<any>): this {
    if (typeof definition !== 'object' || definition === null || typeof definition.nextAfter !== 'function') {
      throw new BusError('INVALID_SCHEDULE', 'bus.schedule needs a definition from defineSchedule()', {
        value: definition,
      });
    }
    this.#scheduleRunner.add(definition);
    if (this.#state === 'ready') this.#scheduleRunner.assertHandled();
    return this;
  }

  /**
   * Checks that every handler's queue is configured, that the database answers and that it has
   * the bus tables this version needs (`SCHEMA_MISSING` names the migration to run otherwise);
   * publishing before `init` fails with `NOT_INITIALIZED`.
   *
   * @example
   * const bus = createBus({ store, queues });
   * await bus.init();
   */
  async init(): Promise<this> {
    if (this.#state === 'shut-down')
      throw new BusError('SHUT_DOWN', 'the bus was shut down', { value: 'init' });
    if (this.#state === 'ready') return this;
    for (const handler of this.#registry.handlers()) {
      this.#assertQueueConfigured(handler.name, handler.settings.queueName);
    }
    this.#scheduleRunner.assertHandled();
    this.#state = 'initializing';
    try {
      await this.#store.now();
    } catch (cause) {
      this.#state = 'created';
      throw new BusError('STORE_FAILED', `the store's database did not answer: ${firstLine(cause)}`, {
        cause,
      });
    }
    try {
      await this.#store.checkSchema();
    } catch (error) {
      this.#state = 'created';
      if (isBusError(error)) throw error;
      throw new BusError('STORE_FAILED', `the store's schema check failed: ${firstLine(error)}`, {
        cause: error,
      });
    }
    this.#state = 'ready';
    return this;
  }

  /**
   * Publishes one event: one row per registered handler, each in its handler's queue. Resolves
   * with the row ids once they are durable.
   *
   * @example
   * await bus.publish(SendEmailEvent, { to: 'user@example.com', subject: 'Welcome!', body: 'Thanks.' });
   */
  publish<P>(event: EventDefinition<P>, payload: P, options?: PublishOptions): Promise<string[]> {
    return this.#publish(undefined, event, [payload], options);
  }

  /**
   * Publishes many events of one type in one multi-row insert.
   *
   * @example
   * await bus.publishBatch(SendEmailEvent, users.map((u) => ({ to: u.email, subject: 'Hi', body: '…' })));
   */
  publishBatch<P>(
    event: EventDefinition<P>,
    payloads: readonly P[],
    options?: PublishOptions,
  ): Promise<string[]> {
    return this.#publish(undefined, event, payloads, options);
  }

  /**
   * Publishes inside the caller's transaction: the rows exist only if that transaction commits
   * (the transactional outbox).
   *
   * @example
   * await db.transaction(async (tx) => {
   *   await tx.insert(users).values(user);
   *   await bus.publishTxn(tx, SendEmailEvent, { to: user.email, subject: 'Welcome!', body: '…' });
   * });
   */
  publishTxn<P>(tx: TTx, event: EventDefinition<P>, payload: P, options?: PublishOptions): Promise<string[]> {
    return this.#publishInTx(tx, event, [payload], options);
  }

  /**
   * Batch form of `publishTxn`.
   *
   * @example
   * await db.transaction((tx) => bus.publishBatchTxn(tx, SendEmailEvent, emails));
   */
  publishBatchTxn<P>(
    tx: TTx,
    event: EventDefinition<P>,
    payloads: readonly P[],
    options?: PublishOptions,
  ): Promise<string[]> {
    return this.#publishInTx(tx, event, payloads, options);
  }

  #publishInTx<P>(tx: TTx, event: EventDefinition<P>, payloads: readonly P[], options?: PublishOptions) {
    if (tx === undefined || tx === null) {
      return Promise.reject(
        new BusError('INVALID_ARGUMENT', 'publishTxn needs a transaction', { value: tx }),
      );
    }
    return this.#publish(tx, event, payloads, options);
  }

  async #publish<P>(
    tx: TTx | undefined,
    event: EventDefinition<P>,
    payloads: readonly P[],
    options: PublishOptions = {},
  ): Promise<string[]> {
    return (await this.#publishRows(tx, event, payloads, options)).map((r) => r.id);
  }

  /**
   * Publishes one event with a uniqueness key (docs/unique.md): each handler's row is inserted
   * unless a row of that handler already holds the key; then the existing row's id is returned and
   * marked `duplicate` (or, with `onDuplicate: 'throw'`, the publish rejects with `DUPLICATE_PUBLISH`).
   *
   * @example
   * const { duplicate, ids } = await bus.publishUnique(ChargeEvent, { orderId: 42 }, { key: 'order-42' });
   */
  async publishUnique<P>(
    event: EventDefinition<P>,
    payload: P,
    unique: UniqueOptions<P> = {},
    options: Omit<PublishOptions, 'unique'> = {},
  ): Promise<UniquePublishResult> {
    return uniqueResultOf(await this.#publishRows(undefined, event, [payload], { ...options, unique }));
  }

  /**
   * `publishUnique` inside the caller's transaction: the key is taken only if it commits.
   *
   * @example
   * await db.transaction((tx) => bus.publishUniqueTxn(tx, ChargeEvent, { orderId: 42 }, { key: 'order-42' }));
   */
  async publishUniqueTxn<P>(
    tx: TTx,
    event: EventDefinition<P>,
    payload: P,
    unique: UniqueOptions<P> = {},
    options: Omit<PublishOptions, 'unique'> = {},
  ): Promise<UniquePublishResult> {
    if (tx === undefined || tx === null) {
      throw new BusError('INVALID_ARGUMENT', 'publishUniqueTxn needs a transaction', { value: tx });
    }
    return uniqueResultOf(await this.#publishRows(tx, event, [payload], { ...options, unique }));
  }

  async #publishRows<P>(
    tx: TTx | undefined,
    event: EventDefinition<P>,
    payloads: readonly P[],
    options: PublishOptions = {},
  ): Promise<PublishedRow[]> {
    if (this.#state === 'shut-down') {
      throw new BusError('SHUT_DOWN', 'cannot publish: the bus was shut down', { value: event?.name });
    }
    if (this.#state !== 'ready') {
      throw new BusError('NOT_INITIALIZED', 'cannot publish before `await bus.init()`', {
        value: event?.name,
      });
    }
    if (typeof event !== 'object' || event === null || typeof event.name !== 'string') {
      throw new BusError('INVALID_EVENT', 'publish needs an event definition from defineEvent()', {
        value: event,
      });
    }
    // A hand-made event object with a bad name is that mistake, not a missing handler.
    assertStableName('event', event.name);
    if (!Array.isArray(payloads)) {
      throw new BusError('INVALID_ARGUMENT', 'publishBatch needs an array of payloads', { value: payloads });
    }
    const handlers = this.#registry.handlersOf(event.name);
    if (handlers.length === 0) {
      if (options.allowNoHandler === true) return [];
      throw new BusError(
        'NO_HANDLER',
        `no handler is registered for event ${event.name}; nothing would run it`,
        {
          value: event.name,
        },
      );
    }
    const due = dueOf(options);
    if (options.priority !== undefined) assertPriority(options.priority, 'INVALID_ARGUMENT');
    if (options.unique !== undefined) validateUniqueOptions(options.unique);
    if (options.partitionKey !== undefined)
      assertPartitionKey(options.partitionKey, 'publish option partitionKey');
    if (payloads.length === 0) return [];
    const rows = publishRows(event.name, handlers, payloads, {
      due,
      priority: options.priority,
      partitionKey: options.partitionKey,
    });
    const keys = uniquenessOfRows(handlers, payloads, options.unique);
    const keyed = keys.some((k) => k !== null);
    const results = await publishSpan(event.name, payloads.length, async (traceContext) => {
      if (traceContext !== null) for (const row of rows) row.traceContext = traceContext;
      try {
        // A conflict rolled the insert back; outside the caller's transaction it is safe to run
        // again. Inside it, the caller's whole transaction was rolled back: theirs to retry.
        if (keyed) {
          return tx === undefined
            ? await retryConflicts(() => insertKeyedRows(this.#store, rows, keys, undefined))
            : await insertKeyedRows(this.#store, rows, keys, tx);
        }
        const ids =
          tx === undefined
            ? await retryConflicts(() => this.#store.insert({ rows }))
            : await this.#store.insert({ rows, tx });
        return ids.map((id) => ({ id, duplicate: false }));
      } catch (cause) {
        if (isBusError(cause) && cause.code !== 'STORE_FAILED' && cause.code !== 'STORE_CONFLICT')
          throw cause;
        throw new BusError('PUBLISH_FAILED', `publishing ${event.name} failed: ${firstLine(cause)}`, {
          cause,
          value: event.name,
        });
      }
    });
    for (const handler of handlers) {
      recordPublished(
        { queue: handler.settings.queueName, eventName: event.name, handlerName: handler.name },
        payloads.length,
      );
    }
    if (due === 0) {
      // Rows published in a caller's transaction become visible only at its commit, which bus
      // cannot observe: the claim loop then re-polls briefly instead of sleeping a whole interval.
      const afterCommit = tx !== undefined;
      for (const handler of handlers) this.controller.wake(handler.settings.queueName, { afterCommit });
    }
    const published = results.map((r, i) => ({ ...r, handlerName: rows[i]!.handlerName }));
    if (options.unique?.onDuplicate === 'throw') throwOnDuplicate(event.name, published);
    return published;
  }

  #assertReady(): void {
    if (this.#state === 'shut-down')
      throw new BusError('SHUT_DOWN', 'the bus was shut down', { value: 'startWorkers' });
    if (this.#state !== 'ready') {
      throw new BusError('NOT_INITIALIZED', 'call `await bus.init()` before starting workers', {
        value: this.#state,
      });
    }
  }

  #assertQueueConfigured(handlerName: string, queueName: string): void {
    if (!this.#queues.some((q) => q.queueName === queueName)) {
      throw new BusError(
        'QUEUE_NOT_CONFIGURED',
        `handler ${handlerName} uses queue ${queueName}, which has no queue configuration`,
        { value: queueName },
      );
    }
  }
}

/**
 * Creates a bus on a store with its queue configuration; bad configuration throws here.
 *
 * @example
 * const bus = createBus({ store: postgresStore(db), queues: [{ queueName: 'email', workers: 5, batchSize: 5, sleepInterval: 60_000, archivePolicy: 'failed' }] });
 * await bus.init();
 */
export function createBus<TTx>(options: BusOptions<TTx>): Bus<TTx> {
  return new Bus(options);
}
