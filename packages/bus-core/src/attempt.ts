import type { ArchivePolicy } from './archive-policy.js';
import { decodePayload } from './codec.js';
import type { SettleOutcome } from './contract/settle.js';
import { BusError, describeError } from './errors.js';
import type { EventHandler, HandlerContext } from './handler.js';
import { abortRun, type HeldRow, signalOf } from './held-row.js';
import type { Logger } from './logger.js';
import type { RegisteredHandler, Registry } from './registry.js';
import { completedOutcome, exhaustedByCrashes, failureOutcome } from './retry-policy.js';
import type { Settler } from './settler.js';

/** What one attempt needs from its queue. */
export interface AttemptDeps {
  registry: Registry;
  instances: ReadonlyMap<string, EventHandler<unknown>>;
  settler: Settler;
  logger: Logger;
  archivePolicy: ArchivePolicy;
}

/**
 * How an attempt ended: an outcome for the settler to write, or a transactional completion that
 * was already written in the handler's transaction.
 */
export type AttemptResult =
  /** `error`: what the attempt failed with, for its span's exception event. */
  { kind: 'outcome'; outcome: SettleOutcome; error?: unknown } | { kind: 'completed-in-transaction' };

/** The handler's context; `signal` is built on first use. */
class RunContext implements HandlerContext<unknown> {
  readonly attempt: number;
  readonly snoozes: number;
  readonly id: string;
  readonly eventName: string;
  readonly handlerName: string;
  readonly queue: string;
  readonly maxRetries: number;
  readonly createdAt: Date;
  readonly partitionKey: string | null;
  tx: unknown = undefined;
  readonly #held: HeldRow;

  constructor(held: HeldRow) {
    const row = held.row;
    this.#held = held;
    this.attempt = row.attempts;
    this.snoozes = row.snoozes;
    this.id = row.id;
    this.eventName = row.eventName;
    this.handlerName = row.handlerName;
    this.queue = row.queue;
    this.maxRetries = row.maxRetries;
    this.createdAt = row.createdAt;
    this.partitionKey = row.partitionKey ?? null;
  }

  get signal(): AbortSignal {
    return signalOf(this.#held);
  }
}

/**
 * One attempt of one row: checks it can run (tries left, handler and event known, payload
 * decodes), runs the handler with its timeout, and decides the outcome with the retry policy.
 * Never throws: every failure becomes a failure outcome.
 */
export async function runAttempt(held: HeldRow, deps: AttemptDeps): Promise<AttemptResult> {
  const { row } = held;
  const { registry, instances } = deps;
  const exhausted = exhaustedByCrashes(row);
  if (exhausted) return failed(held, exhausted, registry.handler(row.handlerName), deps);

  const handler = registry.handler(row.handlerName);
  const instance = instances.get(row.handlerName);
  if (handler === undefined || instance === undefined) {
    const error = new BusError(
      'UNKNOWN_HANDLER',
      `no handler named ${row.handlerName} is registered in this worker for queue ${row.queue}`,
      { value: row.handlerName },
    );
    return failed(held, error, undefined, deps);
  }
  if (handler.event.name !== row.eventName) {
    const error = new BusError(
      'UNKNOWN_EVENT',
      `row ${row.id} has event ${row.eventName} but handler ${handler.name} handles ${handler.event.name}`,
      { value: row.eventName },
    );
    return failed(held, error, handler, deps);
  }
  let payload: unknown;
  try {
    payload = decodePayload(row.payload);
  } catch (error) {
    return failed(held, error, handler, deps);
  }

  const ctx = new RunContext(held);
  try {
    if (handler.settings.transactional) {
      await runTransactional(held, handler, instance, payload, ctx, deps);
      return { kind: 'completed-in-transaction' };
    }
    await invoke(held, handler, instance, payload, ctx);
  } catch (error) {
    return failed(held, error, handler, deps);
  }
  return { kind: 'outcome', outcome: completedOutcome(row, deps.archivePolicy) };
}

function failed(
  held: HeldRow,
  error: unknown,
  handler: RegisteredHandler | undefined,
  deps: AttemptDeps,
): AttemptResult {
  const outcome = failureOutcome(held.row, error, deps.archivePolicy, handler, (bad) =>
    deps.logger.error('calculateScheduledAt returned or threw a bad value; using the default backoff', {
      handler: held.row.handlerName,
      value: describeError(bad),
    }),
  );
  return { kind: 'outcome', outcome, error };
}

// The handler's writes and the completion commit together: if the fence fails, the transaction
// rolls back and so do the handler's writes.
async function runTransactional(
  held: HeldRow,
  handler: RegisteredHandler,
  instance: EventHandler<unknown>,
  payload: unknown,
  ctx: RunContext,
  deps: AttemptDeps,
): Promise<void> {
  await deps.settler.inTransaction(async (tx, settle) => {
    ctx.tx = tx;
    await invoke(held, handler, instance, payload, ctx);
    if (!(await settle(completedOutcome(held.row, deps.archivePolicy)))) {
      throw new BusError('LEASE_LOST', `row ${held.row.id} is no longer leased to this worker`, {
        value: held.row.id,
      });
    }
  });
}

function invoke(
  held: HeldRow,
  handler: RegisteredHandler,
  instance: EventHandler<unknown>,
  payload: unknown,
  ctx: HandlerContext<unknown>,
): Promise<void> {
  const timeoutMs = handler.settings.executionTimeout;
  return new Promise<void>((resolve, reject) => {
    let finished = false;
    const finish = (error?: unknown): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      held.onAbort = undefined;
      if (error === undefined) resolve();
      else reject(error);
    };
    if (held.reason !== undefined) {
      reject(held.reason);
      return;
    }
    held.onAbort = finish;
    const timer = setTimeout(() => {
      abortRun(
        held,
        new BusError(
          'HANDLER_TIMEOUT',
          `handler ${handler.name} ran longer than its ${timeoutMs} ms executionTimeout`,
          { value: timeoutMs },
        ),
      );
    }, timeoutMs);
    let result: unknown;
    try {
      result = instance.handle(payload, ctx);
    } catch (error) {
      finish(asError(error, handler.name));
      return;
    }
    Promise.resolve(result).then(
      () => finish(),
      (error: unknown) => finish(asError(error, handler.name)),
    );
  });
}

function asError(error: unknown, handlerName: string): unknown {
  if (error instanceof Error) return error;
  return new BusError(
    'HANDLER_FAILED',
    `handler ${handlerName} threw a non-Error value: ${describeError(error)}`,
    {
      value: error,
    },
  );
}
