import { setTimeout as sleep } from 'node:timers/promises';

/** How the fake mail service behaves. */
export interface MailerOptions {
  /** The sender address of every mail. */
  from: string;
  /** Share of send attempts (0 to 1) the service rejects with a temporary SMTP error. */
  failRate: number;
  /** Simulated latency of one send, in ms: [min, max]. */
  latencyMs?: readonly [number, number];
  /** Source of randomness (tests may pin it). */
  random?: () => number;
}

/** One mail to send. */
export interface Mail {
  to: string;
  subject: string;
  body: string;
}

/** A temporary rejection by the mail service: worth a retry. */
export class MailerError extends Error {
  readonly code = 'SMTP_451';

  constructor(message: string) {
    super(message);
    this.name = 'MailerError';
  }
}

/**
 * A stand-in for an email provider's API: it takes an idempotency key (as real providers do), so
 * a mail whose handler runs twice (bus is at-least-once) is sent once.
 */
export class Mailer {
  readonly from: string;
  readonly #failRate: number;
  readonly #latency: readonly [number, number];
  readonly #random: () => number;
  /** Idempotency key → message id of the mails sent. */
  readonly #sent = new Map<string, string>();

  constructor(options: MailerOptions) {
    this.from = options.from;
    this.#failRate = options.failRate;
    this.#latency = options.latencyMs ?? [10, 40];
    this.#random = options.random ?? Math.random;
  }

  /** Mails actually sent (each idempotency key once). */
  get sentCount(): number {
    return this.#sent.size;
  }

  /** Sends `mail`; rejects on a simulated failure or when `signal` aborts. Resolves with the message id. */
  async send(mail: Mail, options: { idempotencyKey: string; signal: AbortSignal }): Promise<string> {
    const { idempotencyKey, signal } = options;
    const already = this.#sent.get(idempotencyKey);
    if (already !== undefined) return already;
    const [min, max] = this.#latency;
    // Rejects with `signal.reason` when bus aborts the attempt (timeout, shutdown, lease lost).
    await sleep(min + this.#random() * (max - min), undefined, { signal });
    if (this.#random() < this.#failRate) {
      throw new MailerError(`451 4.3.0 ${mail.to}: mail service busy, try again later (simulated failure)`);
    }
    const id = `<${this.#sent.size + 1}.${Date.now().toString(36)}@bus-demo.example>`;
    this.#sent.set(idempotencyKey, id);
    return id;
  }
}

/**
 * "Connects" to the mail service, like a real client would at start-up: this is what the async
 * factory of `SendEmailHandler` awaits.
 */
export async function connectMailer(options: MailerOptions): Promise<Mailer> {
  if (!/^[^@\s]+@[^@\s]+$/.test(options.from)) throw new Error(`invalid sender address ${options.from}`);
  await sleep(5);
  return new Mailer(options);
}
