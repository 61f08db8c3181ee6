import './register.js';
import { bus } from './bus.js';
import { client } from './db.js';

// Checks that every handler's queue is configured and that the database answers.
await bus.init();
// Runs every async factory, then claims on every configured queue.
await bus.controller.startWorkers();

let stopping = false;
async function stop(signal: NodeJS.Signals): Promise<void> {
  if (stopping) process.exit(130); // a second Ctrl+C: leave now; leases expire, rows run again
  stopping = true;
  console.info(`${signal}: finishing running handlers (60 s at most)`);
  bus.controller.shutdown(); // stop claiming; publish now throws SHUT_DOWN
  // Waits for running handlers; at the deadline aborts the rest and hands their rows back.
  const finished = await bus.controller.awaitTerminationWithTimeout(60_000);
  await client.end();
  process.exit(finished ? 0 : 1);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
