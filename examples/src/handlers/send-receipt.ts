import type { HandlerSettings } from 'bus-core';
import type { SendEmail } from '../events.js';

export class SendReceiptHandler {
  static readonly handlerName = 'send-receipt';

  static readonly settings: HandlerSettings = {
    queueName: 'email',
    maxRetries: 5,
    executionTimeout: 30_000,
    // Every publish of its event gets a key from these payload fields (or key: (payload) => text),
    // unique within each hour by database time.
    unique: { fields: ['to', 'subject'], period: 3_600_000 },
  };

  async handle(email: SendEmail): Promise<void> {
    console.log(`receipt to ${email.to}`);
  }
}
