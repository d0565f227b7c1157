import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '@oclif/test';
import { describe, expect, it } from 'vitest';
import { CLI_ROOT } from '../../../test/helpers.js';

describe('drover recipe schema', () => {
  it('prints the published JSON Schema', async () => {
    const { stdout, error } = await runCommand(['recipe', 'schema'], { root: CLI_ROOT });
    expect(error).toBeUndefined();
    const published = JSON.parse(
      await readFile(
        join(CLI_ROOT, '..', '..', 'packages', 'recipe', 'schema', 'recipe.schema.json'),
        'utf8',
      ),
    );
    expect(JSON.parse(stdout)).toEqual(published);
  });
});
