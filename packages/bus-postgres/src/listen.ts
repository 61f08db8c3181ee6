import { BusError } from 'bus-core';
import type { ListenParams, Subscription } from 'bus-core/driver';
import { capReconnectBackoff } from './client.js';

/**
 * The part of a postgres.js `Sql` client that LISTEN uses. postgres.js listens on a dedicated
 * connection and re-listens by itself after that connection drops.
 */
export interface PostgresJsListenClient {
  (...args: any[]): unknown;
  listen(
    channel: string,
    onNotify: (payload: string) => void,
    onListen?: () => void,
  ): Promise<{ unlisten(): Promise<unknown> }>;
}

/** The part of a `PGlite` instance that LISTEN uses. */
export interface PGliteListenClient {
  listen(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>;
  query(...args: any[]): Promise<unknown>;
}

/** A client that can LISTEN: a postgres.js `Sql` or a `PGlite` instance. */
export type ListenClient = PostgresJsListenClient | PGliteListenClient;

/** `client` when it can LISTEN, else `undefined`. */
export function resolveListenClient(client: unknown): ListenClient | undefined {
  if (typeof client === 'function' && typeof (client as { listen?: unknown }).listen === 'function') {
    return client as PostgresJsListenClient;
  }
  if (
    typeof client === 'object' &&
    client !== null &&
    typeof (client as { listen?: unknown }).listen === 'function' &&
    typeof (client as { query?: unknown }).query === 'function'
  ) {
    return client as PGliteListenClient;
  }
  return undefined;
}

interface ListenSetup {
  channel: string;
  params: ListenParams;
  checkInterval: number;
  /** Sends `payload` on the channel through the store's ordinary connection. */
  ping(payload: string): Promise<void>;
}

// Queue names start with a letter or digit, so a payload starting with '#' is never a queue.
const PING_PREFIX = '#ping:';
// While the database is unreachable the supervisor checks this often, and once a ping gets
// through it waits this long for the echo before listening again.
const RECOVERY_CHECK_MS = 250;
const RECOVERY_ECHO_MS = 1000;

/** Subscribes to the wake-up channel with the right mechanism for the client. */
export function listenWith(client: ListenClient, setup: ListenSetup): Promise<Subscription> {
  return typeof client === 'function'
    ? listenPostgresJs(client, setup)
    : listenPGlite(client as PGliteListenClient, setup);
}

function deliver(payload: string, params: ListenParams): void {
  if (payload.length === 0 || payload.startsWith('#')) return;
  params.onWake(payload);
}

async function listenPGlite(client: PGliteListenClient, setup: ListenSetup): Promise<Subscription> {
  // PGlite runs in this process: its "connection" cannot drop, so there is nothing to supervise.
  const unlisten = await client.listen(setup.channel, (payload) => deliver(payload, setup.params));
  let closed = false;
  return {
    async close() {
      if (closed) return;
      closed = true;
      await unlisten();
    },
  };
}

/**
 * postgres.js re-listens after its LISTEN connection drops, but gives up silently when the
 * database is still unreachable at that moment. So the listener is supervised: every
 * `checkInterval` it notifies itself through the ordinary pool, and when that ping does not come
 * back within the next interval it reports the failure and listens again. While the database is
 * unreachable (a ping cannot be sent) it checks every `RECOVERY_CHECK_MS` instead, and once a
 * ping goes through again it waits at most `RECOVERY_ECHO_MS` for the echo, so LISTEN is back
 * within a second or two of the database. After every reconnection it wakes every queue this
 * process works on, since notifications sent while it was away are lost.
 */
async function listenPostgresJs(client: PostgresJsListenClient, setup: ListenSetup): Promise<Subscription> {
  const { channel, params, checkInterval } = setup;
  const token = `${PING_PREFIX}${crypto.randomUUID()}`;
  let unlisten: (() => Promise<unknown>) | undefined;
  let listens = 0;
  let pingSentAt: number | undefined;
  let closed = false;
  // Set while the database is unreachable, until a ping has come back.
  let recovering = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  // Notifications sent while the connection was down are lost: wake every queue.
  const wakeAll = () => params.onWake();
  const onNotify = (payload: string) => {
    if (payload === token) {
      pingSentAt = undefined;
      if (recovering) {
        recovering = false;
        wakeAll();
      }
      return;
    }
    deliver(payload, params);
  };
  const onListen = () => {
    listens++;
    if (listens > 1) wakeAll();
  };
  const subscribe = async () => {
    const result = await client.listen(channel, onNotify, onListen);
    // The listening client postgres.js made for this one: bound its reconnect delay too.
    capReconnectBackoff((client.listen as { sql?: unknown }).sql);
    // Closed while this was in flight: do not leave a listener behind.
    if (closed) await result.unlisten();
    else unlisten = () => result.unlisten();
  };
  const resubscribe = async () => {
    const stale = unlisten;
    unlisten = undefined;
    await stale?.().catch(() => undefined);
    await subscribe();
    wakeAll();
  };

  try {
    await subscribe();
  } catch (error) {
    // Polling goes on; the supervisor below keeps trying.
    params.onError(error);
  }

  const check = async () => {
    // One report when the database goes away, not one per check while it stays away.
    const wasRecovering = recovering;
    try {
      if (unlisten === undefined) {
        await subscribe();
        wakeAll();
        return;
      }
      const echoWait = recovering ? Math.min(RECOVERY_ECHO_MS, checkInterval) : checkInterval;
      if (pingSentAt !== undefined && Date.now() - pingSentAt >= echoWait) {
        pingSentAt = undefined;
        recovering = false;
        params.onError(
          new BusError(
            'STORE_FAILED',
            `the LISTEN connection on channel ${channel} stopped delivering; listening again`,
          ),
        );
        await resubscribe();
        return;
      }
      if (pingSentAt === undefined) {
        pingSentAt = Date.now();
        try {
          await setup.ping(token);
        } catch (error) {
          // The database is unreachable; whether the listener survived is checked once it is back.
          pingSentAt = undefined;
          throw error;
        }
      }
    } catch (error) {
      if (closed) return;
      if (!wasRecovering) params.onError(error);
      recovering = true;
    }
  };
  const schedule = () => {
    if (closed) return;
    const delay = recovering ? Math.min(RECOVERY_CHECK_MS, checkInterval) : checkInterval;
    timer = setTimeout(() => {
      void check().finally(schedule);
    }, delay);
    timer.unref?.();
  };
  schedule();

  return {
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      await unlisten?.().catch(() => undefined);
    },
  };
}
