/**
 * How a worker OS process of the shared scenarios (frozen-process.ts, flow-processes.ts) opens
 * its store, per driver: module text run inside the worker with `env` in scope, defining
 * `store` and `close`. `connections` is the pool size.
 *
 * @example
 * const source = `const env = process.env; ${workerStoreSource('mysql', 6)} …`;
 */
export function workerStoreSource(driver: WorkerDriver, connections: number): string {
  return driver === 'mysql'
    ? `
    const { mysqlStore } = await import('bus-mysql');
    const { drizzle } = await import('drizzle-orm/mysql2');
    const mysql = (await import('mysql2/promise')).default;
    const pool = mysql.createPool({ uri: env.BUS_URL, connectionLimit: ${connections} });
    const store = mysqlStore(drizzle(pool));
    const close = () => pool.end();`
    : `
    const { postgresStore } = await import('bus-postgres');
    const { drizzle } = await import('drizzle-orm/postgres-js');
    const postgres = (await import('postgres')).default;
    const client = postgres(env.BUS_URL, { max: ${connections}, onnotice: () => {}, connection: { search_path: env.BUS_SCHEMA } });
    const store = postgresStore(drizzle(client), { listen: false });
    const close = () => client.end({ timeout: 5 });`;
}

/**
 * The worker's clean stop on SIGTERM (module text, `bus` and `close` in scope): shut down, wait
 * up to 10 s for running handlers, close the store; exit 0, or 3 when handlers were still running.
 *
 * @example
 * const source = `… await bus.controller.startWorkers(); ${workerStopSource()}`;
 */
export function workerStopSource(): string {
  return `
    process.once('SIGTERM', async () => {
      bus.controller.shutdown();
      const finished = await bus.controller.awaitTerminationWithTimeout(10_000);
      await close();
      process.exit(finished ? 0 : 3);
    });`;
}

/** The drivers a worker process can open. */
export type WorkerDriver = 'mysql' | 'postgres';
