/**
 * The schedule test's worker process (test/schedules.test.ts of each driver): an every-second
 * schedule and its handler, on a host clock skewed by `skewMs` (bus decides what is due by the
 * database's clock, so the skew must not matter). The driver's fixture opens its store and calls
 * `runScheduleWorker`; the fixture is bundled from source and run with plain `node`.
 */
import {
  createBus,
  defineEvent,
  defineSchedule,
  type QueueStore,
  Registry,
} from '../packages/bus-core/src/index.js';

/** What every driver's schedule worker reads from `BUS_WORKER` (plus what its store needs). */
export interface ScheduleWorkerConfig {
  url: string;
  skewMs: number;
}

/** Reads the config and skews this process's clock before anything reads the time. */
export function scheduleWorkerConfig<C extends ScheduleWorkerConfig>(): C {
  const config = JSON.parse(process.env.BUS_WORKER ?? '{}') as C;
  const realNow = Date.now;
  Date.now = () => realNow() + config.skewMs;
  return config;
}

const TickEvent = defineEvent<{ at: string }>('sched.tick');
class TickHandler {
  static readonly handlerName = 'sched.tick-handler';
  static readonly settings = { queueName: 'sched', maxRetries: 3, executionTimeout: 10_000 };
  handle(): void {}
}

/** Runs the schedule and its workers until the parent sends `stop`, then closes the store's client. */
export function runScheduleWorker(open: () => { store: QueueStore<any>; close(): Promise<unknown> }): void {
  const main = async (): Promise<void> => {
    const { store, close } = open();
    const registry = new Registry();
    registry.register(TickEvent, TickHandler);
    const bus = createBus({
      store,
      registry,
      queues: [{ queueName: 'sched', workers: 2, batchSize: 10, sleepInterval: 500, archivePolicy: 'all' }],
    });
    bus.schedule(
      defineSchedule({
        name: 'every-second',
        event: TickEvent,
        every: 1000,
        payload: (tick) => ({ at: tick.toISOString() }),
      }),
    );
    await bus.init();
    await bus.controller.startWorkers();
    process.send?.({ type: 'ready' });
    process.on('message', async (message) => {
      if (message !== 'stop') return;
      const clean = await bus.controller.awaitTerminationWithTimeout(5000);
      await close();
      process.send?.({ type: 'stopped', clean, errors: 0 });
      process.exit(0);
    });
  };
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
