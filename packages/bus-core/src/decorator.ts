import type { EventDefinition } from './event.js';
import type { ConstructibleHandlerClass, EventHandler, HandlerClass } from './handler.js';
import { globalRegistry, type HandlerFactory, type Registry } from './registry.js';

/** Options of the `busEventHandler` decorator. */
export interface DecoratorOptions<H> {
  /** Builds the instance; the guide's `#[BusEventDatabaseHandler(factory)]`. */
  factory?: HandlerFactory<H>;
  /** Where to register; `globalRegistry` when omitted. */
  registry?: Registry;
}

/**
 * Standard (TC39) class decorator that registers a handler class for an event when the class is
 * defined, like the guide's `#[BusEventDatabaseHandler]`. Without a factory the class must have a
 * no-argument constructor; the payload type of `handle` is checked against the event.
 *
 * Registration runs in a class initializer, not in the decorator body: the standard runs class
 * decorators before static fields are set (tsc and Babel follow it; esbuild sets them first), and
 * `handlerName` and `settings` are static fields, so only an initializer sees them everywhere.
 *
 * @example
 * @busEventHandler(SendEmailEvent)
 * class SendEmailHandler {
 *   static readonly handlerName = 'send-email';
 *   static readonly settings = { queueName: 'email', maxRetries: 3, executionTimeout: 300_000 };
 *   async handle(event: SendEmail) {}
 * }
 */
export function busEventHandler<P>(
  event: EventDefinition<P>,
  options?: { registry?: Registry },
): <C extends ConstructibleHandlerClass<P>>(target: C, context: ClassDecoratorContext<C>) => void;
export function busEventHandler<P, H extends EventHandler<P>>(
  event: EventDefinition<P>,
  options: DecoratorOptions<H> & { factory: HandlerFactory<H> },
): <C extends HandlerClass<P, H>>(target: C, context: ClassDecoratorContext<C>) => void;
export function busEventHandler<P, H extends EventHandler<P>>(
  event: EventDefinition<P>,
  options: DecoratorOptions<H> = {},
) {
  return (target: HandlerClass<P, H>, context: ClassDecoratorContext): void => {
    if (context.kind !== 'class') throw new TypeError('busEventHandler decorates classes');
    const registry = options.registry ?? globalRegistry;
    context.addInitializer(function register(this: unknown) {
      registry.register(event, target, options.factory ? { factory: options.factory } : {});
    });
  };
}
