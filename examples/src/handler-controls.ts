import { cancelRun, discard, type HandlerContext, type HandlerSettings, snooze } from 'bus-core';
import type { SendEmail } from './events.js';
import type { Mailer } from './mailer.js';

/** What the handler asks the mail provider before sending. */
export interface MailProvider extends Mailer {
  isUp(): Promise<boolean>;
  isSuppressed(address: string): Promise<boolean>;
  campaignWithdrawn(subject: string): Promise<boolean>;
}

// Saying more than "throw": each control is a value to throw, so it also ends the handler.
export class CampaignEmailHandler {
  static readonly handlerName = 'campaign-email';
  static readonly settings: HandlerSettings = {
    queueName: 'email',
    maxRetries: 5,
    executionTimeout: 60_000,
    maxSnoozes: 48, // a 49th snooze fails the row for good with SNOOZE_LIMIT (default 100)
  };

  constructor(private readonly provider: MailProvider) {}

  async handle(event: SendEmail, ctx: HandlerContext): Promise<void> {
    // Put off without using an attempt: due again in 30 minutes, ctx.attempt unchanged.
    if (!(await this.provider.isUp())) throw snooze(30 * 60_000);
    // No retry can fix this: failed for good at once, archived with the reason (code DISCARDED).
    if (await this.provider.isSuppressed(event.to)) throw discard(`${event.to} unsubscribed`);
    // Not a failure: archived with status 'cancelled' and the reason (when the policy keeps failures).
    if (await this.provider.campaignWithdrawn(event.subject)) throw cancelRun('campaign withdrawn');
    await this.provider.send(
      { from: 'news@example.com', ...event, idempotencyKey: `${ctx.handlerName}:${ctx.id}` },
      { signal: ctx.signal }, // aborts within about a second when an operator cancels the row
    );
  }
}
