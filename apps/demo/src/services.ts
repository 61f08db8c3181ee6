import type { AppDatabase } from './db/types.js';
import type { MailerOptions } from './mailer.js';
import type { Tally } from './tally.js';

/** What the handlers' factories build their instances from. */
export interface DemoServices {
  db: AppDatabase;
  tally: Tally;
  mailer: Omit<MailerOptions, 'from'>;
}

let current: DemoServices | undefined;

/**
 * Makes `services` available to the handler factories, which bus runs in `startWorkers`.
 * Returns the function that withdraws them. One run at a time per process.
 */
export function provideServices(services: DemoServices): () => void {
  if (current !== undefined) throw new Error('another demo run is active in this process');
  current = services;
  return () => {
    if (current === services) current = undefined;
  };
}

/** The services of the current run; the handler factories call this. */
export function demoServices(): DemoServices {
  if (current === undefined)
    throw new Error('no demo services: call provideServices() before startWorkers()');
  return current;
}
