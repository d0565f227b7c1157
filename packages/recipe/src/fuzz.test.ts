import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDroverError } from '@drover/core';
import fc from 'fast-check';
import { dump } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { validateRecipe } from './load.js';
import { toValue } from './node.js';
import { parseYaml } from './yaml.js';

// The validator is fed malformed and random documents. Whatever comes in, it must return a report or throw a
// DroverError, and it must finish quickly (a hang fails the test through its timeout).

const EXAMPLES = join(import.meta.dirname, '..', '..', '..', 'examples');
const DEADLINE_MS = 2000;

async function check(text: string): Promise<void> {
  const started = performance.now();
  try {
    const report = await validateRecipe({ text });
    expect(typeof report.valid).toBe('boolean');
    for (const p of report.problems) {
      expect(typeof p.message).toBe('string');
      expect(p.line).toBeGreaterThanOrEqual(0);
    }
  } catch (error) {
    if (!isDroverError(error)) throw error;
  }
  expect(performance.now() - started).toBeLessThan(DEADLINE_MS);
}

const yamlish = fc.string({
  unit: fc.oneof(
    fc.constantFrom(...'abc:-&*!|>{}[],#\'"\t\n ?%@`~$0123456789.\\/<'.split('')),
    fc.constant('${x}'),
    fc.constant('\n  '),
  ),
  maxLength: 200,
});

describe('fuzz: validateRecipe', () => {
  it('survives arbitrary YAML-ish text', async () => {
    await fc.assert(fc.asyncProperty(yamlish, check), { numRuns: 300 });
  });

  it('survives arbitrary unicode text', async () => {
    await fc.assert(fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 200 }), check), { numRuns: 150 });
  });

  it('survives random edits of a real recipe', async () => {
    const source = await readFile(join(EXAMPLES, 'ab-verity', 'recipe.yaml'), 'utf8');
    const edit = fc.record({
      at: fc.nat({ max: source.length }),
      remove: fc.nat({ max: 12 }),
      insert: fc.string({ maxLength: 12 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 4 }), async (edits) => {
        let text = source;
        for (const e of edits) text = text.slice(0, e.at) + e.insert + text.slice(e.at + e.remove);
        await check(text);
      }),
      { numRuns: 200 },
    );
  });

  it('survives recipes whose parts are replaced by random values (schema refinements see half-parsed data)', async () => {
    const source = await readFile(join(EXAMPLES, 'ab-verity', 'recipe.yaml'), 'utf8');
    const base = toValue(parseYaml(source, 'x').root!) as Record<string, unknown>;
    const keys = Object.keys(base);
    const nested = ['verity', 'disk', 'filesystem', 'base', 'metadata'] as const;
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.constantFrom('2GiB', '0644', '/etc/x', '../x', 'rest', '${nope}'),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...keys),
        fc.constantFrom(...nested),
        fc.string({ maxLength: 10 }),
        value,
        value,
        async (top, section, sub, v1, v2) => {
          const doc = structuredClone(base);
          doc[top] = v1;
          const s = doc[section];
          if (typeof s === 'object' && s !== null && !Array.isArray(s))
            (s as Record<string, unknown>)[sub] = v2;
          await check(dump(doc, { skipInvalid: true }));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('survives alias bombs of random shape', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 12 }),
        fc.integer({ min: 2, max: 12 }),
        async (fan, depth) => {
          const lines = ['a0: &a0 [x]'];
          for (let i = 1; i <= depth; i++)
            lines.push(
              `a${i}: &a${i} [${Array(fan)
                .fill(`*a${i - 1}`)
                .join(', ')}]`,
            );
          await check(`${lines.join('\n')}\n`);
        },
      ),
      { numRuns: 60 },
    );
  });
});
