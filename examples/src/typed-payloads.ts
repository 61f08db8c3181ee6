import { busEventHandler } from 'bus-core';
import { bus } from './bus.js';
import { SendEmailEvent } from './events.js';

// The payload type flows from the event definition to publish and to handle, with no casts.
export async function welcome(to: string): Promise<void> {
  await bus.publish(SendEmailEvent, { to, subject: 'Welcome!', body: 'Thanks for signing up.' });

  // @ts-expect-error: `subject` is missing
  await bus.publish(SendEmailEvent, { to, body: 'Thanks for signing up.' });
}

// @ts-expect-error: handle() takes a payload of another shape than SendEmailEvent's
@busEventHandler(SendEmailEvent)
export class WrongPayloadHandler {
  static readonly handlerName = 'wrong-payload';
  static readonly settings = { queueName: 'low', maxRetries: 0, executionTimeout: 1_000 };
  async handle(event: { orderId: number }): Promise<void> {
    console.log(event.orderId);
  }
}
