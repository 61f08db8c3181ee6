import { BusError } from './errors.js';
import type { ResolvedQueueConfig } from './queue-config.js';
import type { RegisteredHandler } from './registry.js';

/**
 * How many pooled connections the workers of one process need so that no statement of theirs
 * waits on another that cannot finish: one for the bus's own statements (claims, settles,
 * heartbeats, rescues, prunes and publishes are short and queue for it), plus one for each run of
 * a `transactional` handler that may be in progress at once (a run holds its connection from the
 * handler's start to its commit; with none left, heartbeats wait behind the runs and leases run
 * out). The LISTEN connection of a store that has one is opened beside the pool.
 *
 * @example
 * const { needed } = connectionsNeeded(queues, registry.handlers()); // 1 + transactional slots
 */
export function connectionsNeeded(
  queues: readonly ResolvedQueueConfig[],
  handlers: readonly RegisteredHandler[],
): { needed: number; transactionalSlots: number } {
  const transactionalQueues = new Set(
    handlers.filter((h) => h.settings.transactional === true).map((h) => h.settings.queueName),
  );
  const transactionalSlots = queues
    .filter((q) => transactionalQueues.has(q.queueName))
    .reduce((sum, q) => sum + q.workers, 0);
  return { needed: 1 + transactionalSlots, transactionalSlots };
}

/**
 * Throws `POOL_TOO_SMALL` when the store's client says its pool holds fewer connections than the
 * workers of `queues` need (see `connectionsNeeded`); a store that does not say passes.
 *
 * @example
 * assertPoolSize(store.capabilities.poolSize, queues, registry.handlers());
 */
export function assertPoolSize(
  poolSize: number | undefined,
  queues: readonly ResolvedQueueConfig[],
  handlers: readonly RegisteredHandler[],
): void {
  if (poolSize === undefined) return;
  const { needed, transactionalSlots } = connectionsNeeded(queues, handlers);
  if (poolSize >= needed) return;
  const why =
    transactionalSlots === 0
      ? 'one for its claims, settles and heartbeats'
      : `one for its claims, settles and heartbeats and ${transactionalSlots} for the transactional handlers that may run at once (the workers of their queues)`;
  throw new BusError(
    'POOL_TOO_SMALL',
    `the store's connection pool holds ${poolSize} connection${poolSize === 1 ? '' : 's'}, but these workers need ${needed}: ${why}; raise the pool size (postgres.js max, mysql2 connectionLimit) or lower those queues' workers`,
    { value: { poolSize, needed } },
  );
}
