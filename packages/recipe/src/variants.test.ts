import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fixture } from '../test/helpers.js';
import { formatResolvedRecipes } from './format.js';
import { loadRecipe } from './load.js';
import { expandMatrix, expandVariants, MAX_VARIANTS } from './variants.js';

describe('expandVariants', () => {
  it('expands axes in order with ids joining values by "-"', () => {
    expect(
      expandVariants({
        variants: { matrix: { arch: ['x86_64', 'aarch64'], flavor: { a: {}, b: { boot: {} } } } },
      }),
    ).toEqual([
      { id: 'x86_64-a', values: { arch: 'x86_64', flavor: 'a' } },
      { id: 'x86_64-b', values: { arch: 'x86_64', flavor: 'b' } },
      { id: 'aarch64-a', values: { arch: 'aarch64', flavor: 'a' } },
      { id: 'aarch64-b', values: { arch: 'aarch64', flavor: 'b' } },
    ]);
    expect(expandVariants({})).toEqual([{ id: 'default', values: {} }]);
  });

  it('applies exclude rules like GitHub Actions (every named axis must match)', () => {
    const ids = expandVariants({
      variants: {
        matrix: { arch: ['x', 'y'], flavor: ['a', 'b'] },
        exclude: [
          { arch: 'y', flavor: 'b' },
          { flavor: 'a', arch: 'x' },
        ],
      },
    }).map((c) => c.id);
    expect(ids).toEqual(['x-b', 'y-a']);
  });

  it('gives stable, unique ids for any matrix (property)', () => {
    const value = fc.stringMatching(/^[a-z0-9][a-z0-9._]{0,5}$/);
    const matrix = fc.dictionary(
      fc.stringMatching(/^[a-z][a-z0-9_]{0,4}$/),
      fc.uniqueArray(value, { minLength: 1, maxLength: 3 }),
      { minKeys: 1, maxKeys: 3 },
    );
    fc.assert(
      fc.property(matrix, (m) => {
        fc.pre(!Object.hasOwn(m, 'variant'));
        const first = expandVariants({ variants: { matrix: m } });
        const second = expandVariants({ variants: { matrix: structuredClone(m) } });
        expect(second).toEqual(first);
        expect(new Set(first.map((c) => c.id)).size).toBe(first.length);
        expect(first.length).toBe(Object.values(m).reduce((n, v) => n * v.length, 1));
      }),
    );
  });

  it('reports bad matrices', () => {
    const problems = (spec: Parameters<typeof expandMatrix>[0]) =>
      expandMatrix(spec).problems.map((p) => p.message);
    expect(problems({ matrix: {} })).toEqual(['the matrix has no axes']);
    expect(problems({ matrix: { variant: ['a'] } })).toEqual(['"variant" is reserved for the variant id']);
    expect(problems({ matrix: { a: ['x', 'x'] } })).toEqual(['value x is listed twice']);
    expect(problems({ matrix: { a: ['x'] }, exclude: [{ a: 'x' }] })).toEqual([
      'every combination is excluded',
    ]);
    expect(problems({ matrix: { a: ['x'] }, exclude: [{ a: 'y' }] })).toEqual([
      'exclude names unknown a value y',
    ]);
    const big = Array.from({ length: 20 }, (_, i) => `v${i}`);
    expect(problems({ matrix: { a: big, b: big } })).toEqual([
      `the matrix expands to 400 variants (at most ${MAX_VARIANTS})`,
    ]);
    expect(() => expandVariants({ variants: { matrix: {} } })).toThrow(
      expect.objectContaining({ code: 'RECIPE_VARIANTS_INVALID' }),
    );
  });
});

describe('formatResolvedRecipes', () => {
  it('prints one YAML document per variant with octal modes', async () => {
    const dir = await fixture({
      'r.yaml': `apiVersion: drover.dev/v1
kind: Recipe
metadata: { name: t, version: 1.0.0 }
base: { layout: base }
layers:
  - directory: { path: /x, mode: u=rwx }
variants:
  matrix:
    arch: [x86_64, aarch64]
`,
    });
    const { recipes } = await loadRecipe({ path: join(dir, 'r.yaml') });
    const text = formatResolvedRecipes(recipes);
    expect(text.split('---\n')).toHaveLength(2);
    expect(text).toContain("mode: '0700'");
    expect(text).toContain('id: aarch64');
  });
});
