import { busEventHandler, type HandlerContext, type HandlerSettings } from 'bus-core';
import { type SendEmail, SendEmailEvent } from '../events.js';
import { connectMailer, type Mailer } from '../mailer.js';

// Option B: an async factory builds the instance when the workers start (once per process), so
// the handler can get connections and secrets the constructor cannot fetch by itself.
@busEventHandler(SendEmailEvent, {
  factory: async () =>
    new SendEmailHandler(await connectMailer({ apiKey: process.env.MAIL_API_KEY }), 'from@email.com'),
})
export class SendEmailHandler {
  static readonly handlerName = 'send-email';
  static readonly settings: HandlerSettings = {
    queueName: 'email',
    maxRetries: 3,
    executionTimeout: 5 * 60_000,
  };

  static calculateScheduledAt(retry: number): number {
    return ([30, 60][retry - 1] ?? 90) * 60_000;
  }

  constructor(
    private readonly mailer: Mailer,
    private readonly from: string,
  ) {}

  async handle(event: SendEmail, ctx: HandlerContext): Promise<void> {
    const idempotencyKey = `${ctx.handlerName}:${ctx.id}`;
    await this.mailer.send({ from: this.from, ...event, idempotencyKey }, { signal: ctx.signal });
  }
}
