import { describe, expect, it } from 'vitest';
import { MemoryStore, waitFor } from '../../bus-testing/src/index.js';
import { defineEvent, type HandlerSettings, Registry } from '../src/index.js';
import { makeBus } from './support.js';

// The guide's example, as written there: a factory-built handler and a second handler on other
// queues, published in a transaction.

describe("the guide's example", () => {
  it('SendEmailEvent reaches SendEmailHandler (factory) across the high, low and email queues', async () => {
    interface SendEmail {
      to: string;
      subject: string;
      body: string;
    }
    const store = new MemoryStore();
    const SendEmailEvent = defineEvent<SendEmail>('guide.send-email');
    const sent: string[] = [];
    class SendEmailHandler {
      static readonly handlerName = 'guide.send-email-handler';
      static readonly settings: HandlerSettings = {
        queueName: 'email',
        maxRetries: 3,
        executionTimeout: 300_000,
      };
      static calculateScheduledAt(retry: number): number {
        return retry === 1 ? 30 * 60_000 : retry === 2 ? 60 * 60_000 : 90 * 60_000;
      }
      constructor(private readonly from: string) {}
      async handle(event: SendEmail): Promise<void> {
        sent.push(`${this.from} -> ${event.to}: ${event.subject}`);
      }
    }
    class AuditHandler {
      static readonly handlerName = 'guide.audit';
      static readonly settings: HandlerSettings = {
        queueName: 'low',
        maxRetries: 1,
        executionTimeout: 60_000,
      };
      async handle(event: SendEmail): Promise<void> {
        sent.push(`audit ${event.to}`);
      }
    }
    const registry = new Registry();
    registry.register(SendEmailEvent, SendEmailHandler, {
      factory: async () => new SendEmailHandler('from@email.com'),
    });
    registry.register(SendEmailEvent, AuditHandler);
    const bus = await makeBus({
      store,
      registry,
      queues: [
        { queueName: 'high', workers: 10, batchSize: 10, sleepInterval: 50, archivePolicy: 'all' },
        { queueName: 'low', workers: 5, batchSize: 5, sleepInterval: 50, archivePolicy: 'none' },
        { queueName: 'email', workers: 5, batchSize: 5, sleepInterval: 50, archivePolicy: 'failed' },
      ],
    });
    await bus.controller.startWorkers();
    await store.transaction((tx) =>
      bus.publishTxn(tx, SendEmailEvent, {
        to: 'user@example.com',
        subject: 'Welcome!',
        body: 'Thanks for signing up.',
      }),
    );
    await waitFor(() => sent.length === 2, { message: 'email sent and audited' });
    expect(sent.sort()).toEqual(['audit user@example.com', 'from@email.com -> user@example.com: Welcome!']);
    await waitFor(async () => (await store.inspect.listEvents({ limit: 10 })).length === 0, {
      message: 'rows settled',
    });
    expect(await store.inspect.listArchive({ limit: 10 })).toEqual([]);
  });
});
