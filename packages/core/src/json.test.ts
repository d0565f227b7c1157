import { describe, expect, it } from 'vitest';
import { canonicalJson } from './json.js';

describe('canonicalJson', () => {
  it('sorts keys at every level, keeps array order, drops undefined and writes bigints as strings', () => {
    expect(canonicalJson({ b: [{ z: 1, a: 2 }, 3], a: undefined, c: 1n << 60n })).toBe(
      '{"b":[{"a":2,"z":1},3],"c":"1152921504606846976"}',
    );
  });

  it('gives the same text for the same value whatever the key order', () => {
    expect(canonicalJson({ x: { q: null, p: 'v' }, w: true })).toBe(
      canonicalJson({ w: true, x: { p: 'v', q: null } }),
    );
  });
});
