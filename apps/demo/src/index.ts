/** The demo as a library: `runDemo` is the whole flow, `main` the command line around it. */
export { type DatabaseTarget, databaseTarget } from './database.js';
export type { AppDatabase, AppStats, NewUser } from './db/types.js';
export { type DemoOptions, demoUser, runDemo } from './demo.js';
export { DemoError } from './errors.js';
export { type SendEmail, SendEmailEvent } from './events.js';
export { type CliOptions, HELP, type ParsedArgs, parseArgs } from './flags.js';
export { EmailAuditHandler, HANDLERS, SendEmailHandler, WelcomeCreditHandler } from './handlers.js';
export { type CliIo, main } from './main.js';
export { QUEUES } from './queues.js';
export type { DemoOutput, DemoSummary, QueueSummary } from './view.js';
