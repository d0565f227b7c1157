import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DisruptionBudget, resolveQuantity, Window } from './index.js';

describe('resolveQuantity (Kubernetes rounding)', () => {
  it('rounds surge up and unavailability down', () => {
    expect(resolveQuantity('25%', 10, 'up')).toBe(3);
    expect(resolveQuantity('25%', 10, 'down')).toBe(2);
    expect(resolveQuantity('30%', 10, 'down')).toBe(3);
    expect(resolveQuantity('10%', 5, 'down')).toBe(0);
    expect(resolveQuantity(4, 10, 'down')).toBe(4);
  });
  it('never exceeds the exact fraction when rounding down, never falls below it when rounding up', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100_000 }), (pct, total) => {
        const down = resolveQuantity(`${pct}%`, total, 'down');
        const up = resolveQuantity(`${pct}%`, total, 'up');
        expect(down * 100).toBeLessThanOrEqual(pct * total);
        expect(up * 100).toBeGreaterThanOrEqual(pct * total);
        expect(up - down).toBeLessThanOrEqual(1);
      }),
    );
  });
});

describe('DisruptionBudget', () => {
  const zoneSizes = new Map([
    ['a', 10],
    ['b', 10],
  ]);
  const t = Date.parse('2026-11-23T12:00:00Z');

  it('takes the minimum over active budgets', () => {
    const b = new DisruptionBudget({
      budgets: [{ maxUnavailable: 5 }, { maxUnavailable: '20%' }],
      total: 20,
      zoneSizes,
    });
    expect(b.at(t).fleet).toBe(4);
  });

  it('an inactive scheduled budget means the default budget, never unlimited (the Karpenter flaw)', () => {
    const b = new DisruptionBudget({
      budgets: [{ maxUnavailable: 10, schedule: { cron: '0 2 * * *', duration: '1h' } }],
      total: 20,
      zoneSizes,
    });
    expect(b.at(t).fleet).toBe(1);
    expect(b.at(Date.parse('2026-11-23T02:30:00Z')).fleet).toBe(10);
    const d = new DisruptionBudget({
      budgets: [{ maxUnavailable: 10, schedule: { cron: '0 2 * * *', duration: '1h' } }],
      defaultBudget: '10%',
      total: 20,
      zoneSizes,
    });
    expect(d.at(t).fleet).toBe(2);
  });

  it('applies per-zone budgets to each zone by its own size, and fleet constraints on top', () => {
    const b = new DisruptionBudget({
      budgets: [{ maxUnavailable: '30%', perZone: true }, { maxUnavailable: 8 }],
      total: 20,
      zoneSizes,
      constraints: { maxUnavailable: 6, maxUnavailablePerZone: { b: 1 } },
    });
    expect(b.at(t).fleet).toBe(6);
    expect(b.at(t).zone('a')).toBe(3);
    expect(b.at(t).zone('b')).toBe(1);
    expect(new DisruptionBudget({ budgets: [], total: 20, zoneSizes }).at(t).zone('a')).toBe(
      Number.POSITIVE_INFINITY,
    );
  });

  it('knows whether any instant allows disruption (preflight)', () => {
    expect(
      new DisruptionBudget({
        budgets: [{ maxUnavailable: '10%' }],
        total: 5,
        zoneSizes,
      }).everAllowsDisruption(),
    ).toBe(false);
    expect(
      new DisruptionBudget({
        budgets: [
          { maxUnavailable: 0 },
          { maxUnavailable: 2, schedule: { cron: '0 2 * * *', duration: '1h' } },
        ],
        total: 5,
        zoneSizes,
      }).everAllowsDisruption(),
    ).toBe(false);
    expect(
      new DisruptionBudget({
        budgets: [{ maxUnavailable: 2, schedule: { cron: '0 2 * * *', duration: '1h' } }],
        defaultBudget: 0,
        total: 5,
        zoneSizes,
      }).everAllowsDisruption(),
    ).toBe(true);
  });
});

describe('Window (cron with time zone)', () => {
  it('opens at the cron time in its zone and stays open for its duration', () => {
    // 02:00 in Berlin is 01:00 UTC in winter.
    const w = new Window({ cron: '0 2 * * *', duration: '2h', timeZone: 'Europe/Berlin' });
    expect(w.isOpen(Date.parse('2026-11-23T00:59:00Z'))).toBe(false);
    expect(w.isOpen(Date.parse('2026-11-23T01:00:00Z'))).toBe(true);
    expect(w.isOpen(Date.parse('2026-11-23T02:59:59Z'))).toBe(true);
    expect(w.isOpen(Date.parse('2026-11-23T03:00:00Z'))).toBe(false);
    expect(w.nextChange(Date.parse('2026-11-23T03:00:00Z'))).toBe(Date.parse('2026-11-24T01:00:00Z'));
  });
});
