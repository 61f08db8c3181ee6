import type { HandlerContext, HandlerSettings } from 'bus-core';
import type { PgTx } from 'bus-postgres';
import { welcomeCredits } from '../db/schema.js';
import type { UserSignedUp } from '../events.js';

// Idempotent by construction: the credit is keyed by the user, so a second run inserts nothing.
// `transactional: true` runs handle() inside the transaction that completes the row (ctx.tx): the
// credit and the completion commit together or not at all.
export class WelcomeCreditHandler {
  static readonly handlerName = 'welcome-credit';
  static readonly settings: HandlerSettings = {
    queueName: 'high',
    maxRetries: 5,
    executionTimeout: 10_000,
    transactional: true,
  };

  async handle(event: UserSignedUp, ctx: HandlerContext<PgTx>): Promise<void> {
    if (ctx.tx === undefined) throw new Error('welcome-credit must run with settings.transactional');
    await ctx.tx
      .insert(welcomeCredits)
      .values({ userId: event.userId, cents: 500, grantedBy: `${ctx.handlerName}:${ctx.id}` })
      .onConflictDoNothing({ target: welcomeCredits.userId });
  }
}
