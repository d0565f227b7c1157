import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rolloutJsonSchema } from './index.js';

describe('published JSON Schema', () => {
  it('schema/rollout.schema.json is generated from the validator (run `pnpm --filter @drover/rollout schema`)', () => {
    const committed = JSON.parse(
      readFileSync(join(import.meta.dirname, '..', 'schema', 'rollout.schema.json'), 'utf8'),
    );
    expect(committed).toEqual(rolloutJsonSchema());
  });
  it('describes every strategy and gate type', () => {
    const text = JSON.stringify(rolloutJsonSchema());
    for (const t of [
      'rolling',
      'canary',
      'waves',
      'blue-green',
      'seeded',
      'health',
      'http',
      'command',
      'prometheus',
      'approval',
    ]) {
      expect(text).toContain(`"const":"${t}"`);
    }
    expect(rolloutJsonSchema().$schema).toBe('https://json-schema.org/draft/2020-12/schema');
  });
});
