import { BusError } from './errors.js';

/**
 * An event type: a stable name stored in every row, and the payload type carried to `publish`
 * and to handlers with no casts.
 */
export interface EventDefinition<P = unknown> {
  /** The stable name written to the `event_name` column; never derive it from a class name. */
  readonly name: string;
  /** Phantom field that carries the payload type; always `undefined` at run time. */
  readonly __payload?: P;
}

/** The payload type of an event definition. */
export type PayloadOf<E> = E extends EventDefinition<infer P> ? P : never;

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/;

/** Checks a stable name (event or handler) so it is safe in logs and columns. */
export function assertStableName(kind: 'event' | 'handler', name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new BusError(
      kind === 'event' ? 'INVALID_EVENT' : 'INVALID_HANDLER',
      `${kind} name must be 1-200 characters of letters, digits and . _ : / - (got ${JSON.stringify(name)})`,
      { value: name },
    );
  }
}

/**
 * Defines an event type with a stable name and a payload type.
 *
 * @example
 * interface SendEmail { to: string; subject: string; body: string }
 * export const SendEmailEvent = defineEvent<SendEmail>('user.send-email');
 */
export function defineEvent<P>(name: string): EventDefinition<P> {
  assertStableName('event', name);
  return Object.freeze({ name }) as EventDefinition<P>;
}
