import type { QueueConfig } from 'bus-core';

// One configuration per queue that a registered handler uses (the guide's three queues).
export const queues: QueueConfig[] = [
  { queueName: 'high', workers: 10, batchSize: 10, sleepInterval: 5_000, archivePolicy: 'all' },
  { queueName: 'low', workers: 5, batchSize: 5, sleepInterval: 60_000, archivePolicy: 'none' },
  {
    queueName: 'email',
    workers: 5, // handlers of this queue running at once in this process (1-10000)
    batchSize: 5, // rows claimed per round trip at most (1-1000)
    sleepInterval: 60_000, // ms an idle queue waits before polling again (0-86400000)
    archivePolicy: 'failed', // keep rows that failed for good, drop completed ones
    leaseDuration: 30_000, // ms, the default; heartbeats renew it every third (1000-86400000)
    prefetch: 'auto', // the default: rows claimed ahead of free slots, ~100 ms of work (or 0-10000)
  },
];
