import { BusError } from 'bus-core';
import type { ListenParams, Subscription } from 'bus-core/driver';

/**
 * `QueueStore.listen` on MySQL/MariaDB, which have nothing like LISTEN/NOTIFY: rejects with
 * `UNSUPPORTED` (the store's `capabilities.notify` is false, so the core never calls it; other
 * processes find new rows by polling).
 */
export async function listen(_params: ListenParams): Promise<Subscription> {
  throw new BusError(
    'UNSUPPORTED',
    'MySQL and MariaDB have no LISTEN/NOTIFY: mysqlStore cannot listen (capabilities.notify is false); workers poll every sleepInterval',
  );
}
