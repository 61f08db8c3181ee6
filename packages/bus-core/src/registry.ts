import { BusError } from './errors.js';
import { assertStableName, type EventDefinition } from './event.js';
import {
  type ConstructibleHandlerClass,
  defaultBackoff,
  type EventHandler,
  type HandlerClass,
  type HandlerSettings,
  validateHandlerSettings,
} from './handler.js';

/** Builds a handler instance; the guide's async `factory()`. */
export type HandlerFactory<H> = () => Promise<H> | H;

/** Options of `register` and of the decorator. */
export interface RegisterOptions<H> {
  /** Builds the instance (once per worker process); without it the class is built with `new`. */
  factory?: HandlerFactory<H>;
}

/** A registered handler as the core uses it. */
export interface RegisteredHandler {
  readonly name: string;
  readonly event: EventDefinition<unknown>;
  readonly settings: HandlerSettings;
  readonly calculateScheduledAt: (retry: number) => number;
  readonly handlerClass: HandlerClass;
  readonly build: () => Promise<EventHandler<unknown>>;
}

/**
 * Which handlers exist for which events. The decorator fills `globalRegistry`; a bus may be given
 * its own registry (tests do) and `bus.register` adds to the bus's registry.
 */
export class Registry {
  readonly #events = new Map<string, EventDefinition<unknown>>();
  readonly #byEvent = new Map<string, RegisteredHandler[]>();
  readonly #byName = new Map<string, RegisteredHandler>();

  /**
   * Registers `handlerClass` as a handler of `event`.
   *
   * @example
   * registry.register(SendEmailEvent, SendEmailHandler, { factory: async () => new SendEmailHandler('noreply@x') });
   */
  register<P>(event: EventDefinition<P>, handlerClass: ConstructibleHandlerClass<P>): RegisteredHandler;
  register<P, H extends EventHandler<P>>(
    event: EventDefinition<P>,
    handlerClass: HandlerClass<P, H>,
    options: RegisterOptions<H> & { factory: HandlerFactory<H> },
  ): RegisteredHandler;
  register<P, H extends EventHandler<P>>(
    event: EventDefinition<P>,
    handlerClass: HandlerClass<P, H>,
    options?: RegisterOptions<H>,
  ): RegisteredHandler;
  register<P, H extends EventHandler<P>>(
    event: EventDefinition<P>,
    handlerClass: HandlerClass<P, H>,
    options: RegisterOptions<H> = {},
  ): RegisteredHandler {
    if (typeof event !== 'object' || event === null) {
      throw new BusError('INVALID_EVENT', 'register needs an event definition from defineEvent()', {
        value: event,
      });
    }
    assertStableName('event', event.name);
    if (typeof handlerClass !== 'function') {
      throw new BusError('INVALID_HANDLER', 'register needs a handler class', { value: handlerClass });
    }
    const name = handlerClass.handlerName;
    assertStableName('handler', name);
    const settings = validateHandlerSettings(name, handlerClass.settings);
    if (typeof handlerClass.prototype?.handle !== 'function') {
      throw new BusError('INVALID_HANDLER', `handler ${name} has no handle(event, ctx) method`, {
        value: name,
      });
    }
    const known = this.#events.get(event.name);
    if (known !== undefined && known !== event) {
      throw new BusError('DUPLICATE_EVENT', `two event definitions share the name ${event.name}`, {
        value: event.name,
      });
    }
    if (this.#byName.has(name)) {
      throw new BusError('DUPLICATE_HANDLER', `a handler named ${name} is already registered`, {
        value: name,
      });
    }
    const factory = options.factory;
    if (factory !== undefined && typeof factory !== 'function') {
      throw new BusError('INVALID_HANDLER', `handler ${name}: factory must be a function`, {
        value: factory,
      });
    }
    const custom = handlerClass.calculateScheduledAt;
    const registered: RegisteredHandler = {
      name,
      event: event as EventDefinition<unknown>,
      settings,
      calculateScheduledAt:
        typeof custom === 'function' ? (retry) => custom.call(handlerClass, retry) : defaultBackoff,
      handlerClass: handlerClass as HandlerClass,
      build: async () => {
        const instance = factory ? await factory() : new handlerClass();
        if (typeof (instance as EventHandler<P> | undefined)?.handle !== 'function') {
          throw new BusError('FACTORY_FAILED', `factory of handler ${name} did not return a handler`, {
            value: name,
          });
        }
        return instance as EventHandler<unknown>;
      },
    };
    this.#events.set(event.name, event as EventDefinition<unknown>);
    this.#byName.set(name, registered);
    const list = this.#byEvent.get(event.name) ?? [];
    list.push(registered);
    this.#byEvent.set(event.name, list);
    return registered;
  }

  /** The handlers of an event, in registration order. */
  handlersOf(eventName: string): readonly RegisteredHandler[] {
    return this.#byEvent.get(eventName) ?? [];
  }

  /** The handler with this stable name, if registered. */
  handler(name: string): RegisteredHandler | undefined {
    return this.#byName.get(name);
  }

  /** Every registered handler. */
  handlers(): RegisteredHandler[] {
    return [...this.#byName.values()];
  }
}

const GLOBAL_KEY = Symbol.for('bus.globalRegistry');

/**
 * The registry the decorator writes to at class definition time (the guide's `#[ctor]`
 * registration). Shared through `globalThis` so duplicated installs see one registry.
 */
export const globalRegistry: Registry =
  ((globalThis as Record<symbol, unknown>)[GLOBAL_KEY] as Registry | undefined) ?? new Registry();
(globalThis as Record<symbol, unknown>)[GLOBAL_KEY] = globalRegistry;
