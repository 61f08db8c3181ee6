import { busEventHandler, type HandlerContext } from 'bus-core';
import type { AppDatabase } from './db/types.js';
import { type SendEmail, SendEmailEvent } from './events.js';
import { connectMailer, type Mailer } from './mailer.js';
import { demoServices } from './services.js';
import type { Tally } from './tally.js';

// Three handlers of one event, each in its own queue: publishing SendEmailEvent inserts one row
// per handler (fan-out), and each row retries and is archived on its own. The decorator registers
// a handler when its class is defined (in bus-core's global registry, which `createBus` uses by
// default); each factory builds the instance when the workers start.

/** Sends the welcome mail (queue `email`): the guide's handler, built by an async factory. */
@busEventHandler(SendEmailEvent, {
  factory: async () => {
    const { mailer, tally } = demoServices();
    return new SendEmailHandler(await connectMailer({ from: 'welcome@bus-demo.example', ...mailer }), tally);
  },
})
export class SendEmailHandler {
  /** Stored in every row of this handler: keep it stable. */
  static readonly handlerName = 'demo.send-email';
  static readonly settings = { queueName: 'email', maxRetries: 3, executionTimeout: 5_000 };

  /** The guide's backoff of 30, 60 and 90 minutes, scaled to a demo: 0.3, 0.6 and 0.9 s. */
  static calculateScheduledAt(retry: number): number {
    return retry === 1 ? 300 : retry === 2 ? 600 : 900;
  }

  constructor(
    private readonly mailer: Mailer,
    private readonly tally: Tally,
  ) {}

  async handle(email: SendEmail, ctx: HandlerContext): Promise<void> {
    // The row id is the idempotency key: a second run of this row (bus is at-least-once) sends
    // nothing new. ctx.signal aborts the send at executionTimeout and on shutdown.
    await this.tally.track(ctx, () =>
      this.mailer.send(email, { idempotencyKey: `${ctx.handlerName}:${ctx.id}`, signal: ctx.signal }),
    );
  }
}

/** Grants the new user's welcome credit (queue `high`); idempotent, so a re-run grants nothing more. */
@busEventHandler(SendEmailEvent, {
  factory: async () => {
    const { db, tally } = demoServices();
    return new WelcomeCreditHandler(db, tally);
  },
})
export class WelcomeCreditHandler {
  static readonly handlerName = 'demo.welcome-credit';
  static readonly settings = { queueName: 'high', maxRetries: 5, executionTimeout: 10_000 };

  constructor(
    private readonly db: AppDatabase,
    private readonly tally: Tally,
  ) {}

  async handle(email: SendEmail, ctx: HandlerContext): Promise<void> {
    await this.tally.track(ctx, () => this.db.grantWelcomeCredit(email.to));
  }
}

/**
 * Writes the audit log of outgoing mail (queue `low`, archive policy `none`: this table is the
 * record, so bus keeps nothing). Keyed on the row id, so a re-run adds no second entry.
 */
@busEventHandler(SendEmailEvent, {
  factory: async () => {
    const { db, tally } = demoServices();
    return new EmailAuditHandler(db, tally);
  },
})
export class EmailAuditHandler {
  static readonly handlerName = 'demo.email-audit';
  static readonly settings = { queueName: 'low', maxRetries: 5, executionTimeout: 10_000 };

  constructor(
    private readonly db: AppDatabase,
    private readonly tally: Tally,
  ) {}

  async handle(email: SendEmail, ctx: HandlerContext): Promise<void> {
    await this.tally.track(ctx, () =>
      this.db.recordAudit({ eventId: ctx.id, email: email.to, subject: email.subject }),
    );
  }
}

/** The demo's handlers, in the order they were registered. */
export const HANDLERS = [SendEmailHandler, WelcomeCreditHandler, EmailAuditHandler] as const;
