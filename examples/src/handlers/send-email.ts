import type { HandlerContext, HandlerSettings } from 'bus-core';
import type { SendEmail } from '../events.js';
import type { Mailer } from '../mailer.js';

export class SendEmailHandler {
  // Stored in every row next to the event name: keep it stable, never derive it from the class name.
  static readonly handlerName = 'send-email';

  static readonly settings: HandlerSettings = {
    queueName: 'email', // needs a queue configuration of the same name
    maxRetries: 3, // retries after the first attempt: up to 4 runs in all
    executionTimeout: 5 * 60_000, // ms; then ctx.signal aborts and the attempt fails
  };

  // Delay in ms before retry number `retry` (1 = the first retry).
  static calculateScheduledAt(retry: number): number {
    switch (retry) {
      case 1:
        return 30 * 60_000;
      case 2:
        return 60 * 60_000;
      default:
        return 90 * 60_000;
    }
  }

  constructor(
    private readonly mailer: Mailer,
    private readonly from: string,
  ) {}

  // Resolve to complete the row; throw (anything) to fail this attempt.
  async handle(event: SendEmail, ctx: HandlerContext): Promise<void> {
    await this.mailer.send(
      {
        from: this.from,
        to: event.to,
        subject: event.subject,
        body: event.body,
        // The same row always gets the same key, so a second run cannot send a second email.
        idempotencyKey: `${ctx.handlerName}:${ctx.id}`,
      },
      { signal: ctx.signal },
    );
  }
}
