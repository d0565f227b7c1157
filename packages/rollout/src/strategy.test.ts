import { describe, expect, it } from 'vitest';
import { baseSpec, zonedMembers } from '../test/harness.js';
import { compileStrategy, seededEligibility } from './index.js';

describe('compileStrategy', () => {
  it('canary: cumulative steps, percent rounds up, the rest follows in a final step', () => {
    const members = zonedMembers([[5, 5]]);
    const c = compileStrategy(
      baseSpec({
        strategy: {
          type: 'canary',
          steps: [{ count: 1, approval: true }, { percent: 15 }, { percent: 50, bake: '1m' }],
        },
      }),
      members,
      10,
      0,
    );
    expect(c.stages.map((s) => s.members.length)).toEqual([1, 1, 3, 5]);
    expect(c.stages[0]?.approval).toBe(true);
    expect(c.stages[2]?.bakeMs).toBe(60_000);
    expect(new Set(c.stages.flatMap((s) => s.members)).size).toBe(10);
  });

  it('waves: grow geometrically from one member, at most one zone per region in each wave', () => {
    const members = zonedMembers([
      [4, 4, 4],
      [6, 2],
    ]);
    const c = compileStrategy(
      baseSpec({ strategy: { type: 'waves', growth: 2 } }),
      members,
      members.length,
      0,
    );
    const sizes = c.stages.map((s) => s.members.length);
    expect(sizes[0]).toBe(1);
    expect(sizes.slice(0, 3)).toEqual([1, 2, 4]);
    for (const s of c.stages) {
      const byRegion = new Map<string, Set<string>>();
      for (const id of s.members) {
        const m = members.find((x) => x.id === id);
        const set = byRegion.get(m?.region as string) ?? new Set();
        set.add(m?.zone as string);
        byRegion.set(m?.region as string, set);
      }
      for (const zones of byRegion.values()) expect(zones.size).toBe(1);
    }
    expect(c.stages.flatMap((s) => s.members).sort()).toEqual(members.map((m) => m.id).sort());
    expect(c.maxUnavailablePerZone).toBe(1);
  });

  it('rolling: Kubernetes rounding of maxUnavailable and maxSurge', () => {
    const members = zonedMembers([[10]]);
    const c = compileStrategy(
      baseSpec({ action: 'replace', strategy: { type: 'rolling', maxUnavailable: '25%', maxSurge: '25%' } }),
      members,
      10,
      0,
    );
    expect(c.maxUnavailable).toBe(2);
    expect(c.maxSurge).toBe(3);
  });
});

describe('seededEligibility (seed-relative, not updog absolute-seed)', () => {
  const start = 0;
  const waves = [
    { seed: 1024, at: 1000 },
    { seed: 1536, at: 3000 },
  ];
  it('spreads each wave evenly over its own seed range', () => {
    expect(seededEligibility(0, waves, start)).toBe(0);
    expect(seededEligibility(512, waves, start)).toBe(500);
    expect(seededEligibility(1024, waves, start)).toBe(1000);
    // Halfway through the second wave's seeds is halfway through its time, not near its end.
    expect(seededEligibility(1280, waves, start)).toBe(2000);
    expect(seededEligibility(1536, waves, start)).toBe(3000);
  });
  it('members above the last bound are eligible at once', () => {
    expect(seededEligibility(2000, waves, start)).toBe(start);
  });
});
