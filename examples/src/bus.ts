import { consoleLogger, createBus } from 'bus-core';
import { postgresStore } from 'bus-postgres';
import { db } from './db.js';
import { queues } from './queues.js';

export const store = postgresStore(db, {
  jsonPayload: false, // true also writes each payload as JSON to payload_json, for people reading the table
});

export const bus = createBus({
  store,
  queues,
  logger: consoleLogger('info'), // the default, consoleLogger('warn'), prints errors and warnings
  rescueInterval: 15_000, // ms between lease-expiry rescues (the default)
  archiveRetention: 30 * 86_400_000, // delete archive rows after 30 days (default: keep them)
  // workerId: 'api-1', // written to locked_by; defaults to HOSTNAME:pid:random
});
