import type { QueueConfig } from 'bus-core';

export const tunedQueues: QueueConfig[] = [
  // Interactive work: picked up at once by wake-ups; the 1 s poll is the safety net for retries,
  // delayed rows and (on MySQL) publishes from other processes.
  { queueName: 'email', workers: 20, batchSize: 20, sleepInterval: 1_000, archivePolicy: 'failed' },
  // Bulk work of many short I/O-bound rows: many slots, big batches, few round trips per row.
  { queueName: 'import', workers: 200, batchSize: 100, sleepInterval: 5_000, archivePolicy: 'none' },
  // CPU-heavy handlers block the event loop, and with it the heartbeat: run few at once, claim
  // one at a time so other processes get the rest, and give the lease room.
  {
    queueName: 'reports',
    workers: 2,
    batchSize: 1,
    sleepInterval: 30_000,
    archivePolicy: 'all',
    leaseDuration: 120_000,
  },
];
