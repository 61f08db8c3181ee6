import { createServer, type IncomingMessage } from 'node:http';
import { createDashboard, toNodeListener } from 'bus-dashboard';
import { bus } from './bus.js';

// Your own session or SSO check: return true to let the request in (assets included).
function isOperator(request: Request): boolean {
  return request.headers.get('authorization') === `Bearer ${process.env.BUS_DASHBOARD_TOKEN}`;
}

const dashboard = createDashboard({
  admin: bus.admin, // or createAdmin({ store }) from bus-core
  basePath: '/admin/bus', // where you mount it
  authorize: isOperator,
});

// Plain node:http: every request under the base path goes to the dashboard's fetch handler.
const listener = toNodeListener(dashboard);
createServer((req: IncomingMessage, res) => {
  if (req.url?.startsWith('/admin/bus')) return listener(req, res);
  res.writeHead(404).end();
}).listen(3000, '127.0.0.1');
