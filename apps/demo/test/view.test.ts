import { describe, expect, it } from 'vitest';
import { type DemoSummary, fitLine, renderSummary } from '../src/view.js';

function summary(overrides: Partial<DemoSummary> = {}): DemoSummary {
  const queue = {
    handlers: ['demo.send-email'],
    earlier: 0,
    published: 10,
    completed: 9,
    completedBy: 'handlers' as const,
    failed: 1,
    failedBy: 'archive' as const,
    left: 0,
    archived: 1,
    retries: 3,
    handedBack: 0,
    lostLeases: 0,
    perSecond: 5,
    reconciled: true,
  };
  return {
    database: 'embedded PGlite in .data',
    kind: 'pglite',
    interrupted: false,
    durationMs: 2000,
    users: { requested: 10, signedUp: 10, rate: 50, actualRate: 48 },
    failRate: 0.5,
    queues: [{ ...queue, queue: 'email', archivePolicy: 'failed' }],
    totals: { earlier: 0, published: 10, completed: 9, failed: 1, left: 0, archived: 1 },
    app: { users: 10, credited: 10, auditEntries: 10 },
    drained: true,
    reconciled: true,
    problems: [],
    busErrors: 0,
    lastBusError: undefined,
    ...overrides,
  };
}

describe('the summary', () => {
  it('says that the numbers reconcile', () => {
    const text = renderSummary(summary()).join('\n');
    expect(text).toContain(
      '✓ reconciled: every one of the 10 rows is completed (9) or archived as failed (1)',
    );
    expect(text).toContain('1 welcome mail failed all 4 tries');
    expect(text).toMatch(/email\s+failed\s+10\s+9\*\s+1\s+0\s+1\s+3\s+5\.0\s+✓/);
  });

  it('says what is left after Ctrl+C', () => {
    const text = renderSummary(
      summary({
        interrupted: true,
        drained: false,
        totals: { earlier: 0, published: 10, completed: 5, failed: 1, left: 4, archived: 1 },
      }),
    ).join('\n');
    expect(text).toContain('stopped by Ctrl+C');
    expect(text).toContain('✓ the numbers add up: the 10 rows = 5 completed + 1 failed + 4 left');
    expect(text).toContain('4 rows are left in the queues: run the demo again and it picks them up');
  });

  it('lists what does not add up', () => {
    const text = renderSummary(
      summary({
        reconciled: false,
        problems: ['email: 0 earlier + 10 published ≠ 9 completed + 0 failed + 0 left'],
      }),
    ).join('\n');
    expect(text).toContain('✗ the numbers do not add up:');
    expect(text).toContain('  - email: 0 earlier + 10 published ≠ 9 completed + 0 failed + 0 left');
  });
});

describe('fitLine', () => {
  it('cuts visible characters and keeps colour codes', () => {
    expect(fitLine('abcdef', 3)).toBe('abc');
    expect(fitLine('\x1b[1mabcdef\x1b[22m', 2)).toBe('\x1b[1mab\x1b[22m');
  });
});
