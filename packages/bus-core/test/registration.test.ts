import { describe, expect, it } from 'vitest';
import { defineEvent, Registry } from '../src/index.js';
import { expectBusError, simpleHandler } from './support.js';

// Handler registration refuses duplicates and bad names or settings up front.

describe('registration', () => {
  it('refuses duplicate event names and duplicate handler names', () => {
    const registry = new Registry();
    registry.register(defineEvent<object>('dup.event'), simpleHandler('dup.a'));
    expectBusError(
      () => registry.register(defineEvent<object>('dup.event'), simpleHandler('dup.b')),
      'DUPLICATE_EVENT',
      'dup.event',
    );
    const other = defineEvent<object>('dup.other');
    expectBusError(() => registry.register(other, simpleHandler('dup.a')), 'DUPLICATE_HANDLER', 'dup.a');
  });

  it('refuses bad names and settings with INVALID_EVENT / INVALID_HANDLER', () => {
    expectBusError(() => defineEvent(''), 'INVALID_EVENT', '');
    expectBusError(() => defineEvent('has space'), 'INVALID_EVENT', 'has space');
    const registry = new Registry();
    const event = defineEvent<object>('reg.event');
    expectBusError(() => registry.register(event, simpleHandler('bad name')), 'INVALID_HANDLER', 'bad name');
    expectBusError(
      () => registry.register(event, simpleHandler('h1', { maxRetries: -1 })),
      'INVALID_HANDLER',
      -1,
    );
    expectBusError(
      () => registry.register(event, simpleHandler('h2', { executionTimeout: 0 })),
      'INVALID_HANDLER',
      0,
    );
    expectBusError(
      () => registry.register(event, simpleHandler('h3', { queueName: 'x y' })),
      'INVALID_HANDLER',
      'x y',
    );
    expectBusError(
      () => registry.register(event, simpleHandler('h4', { priority: 0.5 })),
      'INVALID_HANDLER',
      0.5,
    );
    class NoHandle {
      static readonly handlerName = 'h5';
      static readonly settings = { queueName: 'q', maxRetries: 0, executionTimeout: 1 };
    }
    expectBusError(() => registry.register(event, NoHandle as never), 'INVALID_HANDLER', 'h5');
    expect(registry.handlers()).toEqual([]);
  });
});
