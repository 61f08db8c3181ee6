// Entry point of every measured process: runs one task of one system and reports over IPC.
import { peakRssMb } from './util.mjs';

const { system, task, opts } = JSON.parse(process.argv[2]);

const waiting = new Map();
const inbox = [];
process.on('message', (msg) => {
  const waiter = waiting.get(msg?.type);
  if (waiter) {
    waiting.delete(msg.type);
    waiter(msg);
  } else inbox.push(msg);
});

const ctx = {
  /** Tells the orchestrator something (e.g. `{ type: 'ready' }`). */
  send: (msg) => process.send(msg),
  /** Waits for a message of this type from the orchestrator. */
  message: (type) => {
    const i = inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
    return new Promise((resolve) => waiting.set(type, resolve));
  },
};

try {
  if (opts.otel) (await import('./otel.mjs')).registerOtel(opts.otel);
  const mod = await import(`./systems/${system}.mjs`);
  if (typeof mod[task] !== 'function') throw new Error(`system ${system} has no task ${task}`);
  if (opts.reset && task !== 'reset') await mod.reset(opts);
  const result = (await mod[task](opts, ctx)) ?? {};
  result.peakRssMb = peakRssMb();
  process.send({ type: 'result', result }, () => process.exit(0));
} catch (error) {
  process.send({ type: 'error', message: String(error?.stack ?? error) }, () => process.exit(1));
}
