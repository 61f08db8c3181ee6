/** A message as the mail provider takes it. */
export interface Message {
  from: string;
  to: string;
  subject: string;
  body: string;
  /** The provider drops a second message with the same key: retries never send twice. */
  idempotencyKey: string;
}

/** What the handlers need from a mail provider; swap in a fake in tests. */
export interface Mailer {
  send(message: Message, options: { signal: AbortSignal }): Promise<void>;
}

/** Connects to the mail provider (here: a stand-in that prints the message). */
export async function connectMailer(options: { apiKey: string | undefined }): Promise<Mailer> {
  if (options.apiKey === undefined) throw new Error('MAIL_API_KEY is not set');
  return {
    async send(message, { signal }) {
      signal.throwIfAborted();
      console.log(`mail to ${message.to}: ${message.subject}`);
    },
  };
}
