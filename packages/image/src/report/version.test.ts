import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareDebianVersions } from './version.js';

function dpkgCompare(a: string, b: string): number {
  const lt = (() => {
    try {
      execFileSync('dpkg', ['--compare-versions', a, 'lt', b]);
      return true;
    } catch {
      return false;
    }
  })();
  if (lt) return -1;
  try {
    execFileSync('dpkg', ['--compare-versions', a, 'eq', b]);
    return 0;
  } catch {
    return 1;
  }
}

describe('compareDebianVersions', () => {
  it('orders the documented cases', () => {
    const sorted = ['1.0~rc1', '1.0', '1.0-1', '1.0a', '1.0+b1', '1.1', '1:0.1', '2:0'];
    for (let i = 0; i + 1 < sorted.length; i++) {
      expect(
        compareDebianVersions(sorted[i]!, sorted[i + 1]!),
        `${sorted[i]} < ${sorted[i + 1]}`,
      ).toBeLessThan(0);
      expect(compareDebianVersions(sorted[i + 1]!, sorted[i]!)).toBeGreaterThan(0);
    }
    expect(compareDebianVersions('1.35.0-4+b3', '1.36.1-1')).toBeLessThan(0);
    expect(compareDebianVersions('0:1.0', '1.0')).toBe(0);
    expect(compareDebianVersions('1.0~~', '1.0~')).toBeLessThan(0);
    expect(compareDebianVersions('1.01', '1.1')).toBe(0);
  });

  it('agrees with dpkg --compare-versions on random versions (oracle)', () => {
    const part = fc.stringMatching(/^[0-9][0-9a-z.+~]{0,6}$/);
    const version = fc
      .tuple(
        fc.option(fc.integer({ min: 0, max: 3 })),
        part,
        fc.option(fc.stringMatching(/^[0-9a-z.+~]{1,4}$/)),
      )
      .map(([e, u, r]) => `${e === null ? '' : `${e}:`}${u}${r === null ? '' : `-${r}`}`);
    fc.assert(
      fc.property(version, version, (a, b) => {
        expect(Math.sign(compareDebianVersions(a, b)), `${a} vs ${b}`).toBe(dpkgCompare(a, b));
      }),
      { numRuns: 60 },
    );
  });
});
