import { busEventHandler, type HandlerContext } from 'bus-core';
import { type SendEmail, SendEmailEvent } from '../events.js';

// Option A: no factory. The class is built with `new AuditSignupHandler()`, so its constructor
// takes no arguments (the type checker insists). A second handler of SendEmailEvent: every publish
// writes one row for each handler, and each fails and retries on its own.
@busEventHandler(SendEmailEvent)
export class AuditSignupHandler {
  static readonly handlerName = 'audit-signup';
  static readonly settings = { queueName: 'low', maxRetries: 5, executionTimeout: 30_000 };

  async handle(event: SendEmail, ctx: HandlerContext): Promise<void> {
    console.info(`audit: welcome email #${ctx.id} queued for ${event.to} at ${ctx.createdAt.toISOString()}`);
  }
}
