import './register.js'; // publish fans out to the registered handlers, so register them here too
import { createServer } from 'node:http';
import { bus } from './bus.js';
import { client } from './db.js';
import { signUp } from './signup.js';

// A process that only publishes: it never calls startWorkers, so no factory runs here.
await bus.init();

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const email = url.searchParams.get('email');
  if (req.method !== 'POST' || email === null) {
    res.writeHead(400).end();
    return;
  }
  const id = await signUp(email, url.searchParams.get('name') ?? email);
  res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id }));
});
server.listen(3000);

process.once('SIGTERM', () => {
  // Stop taking requests first: after shutdown(), publish throws SHUT_DOWN.
  server.close(async () => {
    bus.controller.shutdown();
    await bus.controller.awaitTerminationWithTimeout(0);
    await client.end();
  });
});
