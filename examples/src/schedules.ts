import { defineSchedule } from 'bus-core';
import { bus } from './bus.js';
import { SendEmailEvent } from './events.js';

bus.schedule(
  defineSchedule({
    name: 'daily-digest', // the key of its state in the database
    event: SendEmailEvent, // its handlers fan out as for any publish
    cron: '0 0 7 * * *', // 5 fields, or 6 with seconds first (croner syntax)
    timezone: 'Europe/Berlin', // IANA name, default UTC
    payload: (tick) => ({
      to: 'team@example.com',
      subject: `Digest ${tick.toISOString().slice(0, 10)}`,
      body: '…',
    }),
    missed: 'last', // 'skip' | 'last' (default) | { backfill: n }
  }),
);
bus.schedule(
  defineSchedule({
    name: 'heartbeat',
    event: SendEmailEvent,
    every: 30_000, // ms: at every multiple of it since the epoch
    payload: { to: 'ops@example.com', subject: 'alive', body: '' },
  }),
);

await bus.init(); // NO_HANDLER if a schedule's event has no handler
await bus.controller.startWorkers(); // the schedules start with the workers

// At run time, from any process: the state is in the database.
for (const s of await bus.schedules.list()) console.log(s.name, s.paused, s.lastTickAt, s.nextTickAt);
await bus.schedules.pause('daily-digest'); // every process, across restarts
await bus.schedules.resume('daily-digest'); // ticks due meanwhile are missed ticks
