import type { QueueConfig } from 'bus-core';

/**
 * Lease of a claimed row: heartbeats renew it every third of it while the handler runs, so it only
 * runs out when a worker stops. Rows of a killed run come back after it (plus a rescue interval).
 */
const LEASE = 15_000;

/**
 * The guide's three queues, each with its own archive policy. Worker counts and batch sizes are
 * the guide's; sleep intervals are scaled from seconds to a demo's pace (publishing in this
 * process, and LISTEN/NOTIFY on PostgreSQL, wake idle queues at once anyway).
 *
 * - `high` keeps every finished row in the archive (`all`);
 * - `low` keeps none (`none`): the demo's own audit table is the record;
 * - `email` keeps the failures (`failed`), with their last error, for someone to look at.
 */
export const QUEUES: QueueConfig[] = [
  {
    queueName: 'high',
    workers: 10,
    batchSize: 10,
    sleepInterval: 500,
    archivePolicy: 'all',
    leaseDuration: LEASE,
  },
  {
    queueName: 'low',
    workers: 5,
    batchSize: 5,
    sleepInterval: 2_000,
    archivePolicy: 'none',
    leaseDuration: LEASE,
  },
  {
    queueName: 'email',
    workers: 5,
    batchSize: 5,
    sleepInterval: 250,
    archivePolicy: 'failed',
    leaseDuration: LEASE,
  },
];

/** Ms between lease-expiry rescues: rows of a killed run are picked up within lease + this. */
export const RESCUE_INTERVAL = 2_000;
