/** `createDashboard(options)`: the dashboard as a fetch handler to mount in any server. */

/** `connect({ databaseUrl })`: opens PostgreSQL or MySQL from a URL, for the CLI, the standalone server and scripts. */
export { type Connection, type ConnectOptions, connect, type DatabaseKind, databaseKind } from './connect.js';
export {
  createDashboard,
  type Dashboard,
  type DashboardOptions,
  isLoopbackRequest,
  toNodeListener,
} from './dashboard.js';
/** `startServer(options)`: the standalone dashboard server (what `npx bus-dashboard` runs). */
export { type DashboardServer, type ServerOptions, startServer } from './server.js';
