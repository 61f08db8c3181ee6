import './register.js';
import { bus } from './bus.js';

// QUEUES=email,low node worker.js: this process works only on these queues (default: all).
// Every queue a registered handler uses must still be configured, or init() fails.
const only = process.env.QUEUES?.split(',')
  .map((name) => name.trim())
  .filter((name) => name !== '');

await bus.init();
await bus.controller.startWorkers(only === undefined ? {} : { queues: only });
console.info(`worker ${process.pid} runs ${Object.keys(bus.controller.running()).join(', ')}`);
