import { join } from 'node:path';
import { runCommand } from '@oclif/test';
import { describe, expect, it } from 'vitest';
import { CLI_ROOT } from '../../../test/helpers.js';

const EXAMPLES = join(CLI_ROOT, '..', '..', 'examples');

describe('drover recipe matrix', () => {
  it('--json prints a GitHub Actions include list', async () => {
    const { stdout, error } = await runCommand(
      ['recipe', 'matrix', join(EXAMPLES, 'edge-fleet', 'recipe.yaml'), '--json'],
      { root: CLI_ROOT },
    );
    expect(error).toBeUndefined();
    const { include } = JSON.parse(stdout);
    expect(include).toHaveLength(4);
    expect(include[1]).toEqual({
      arch: 'x86_64',
      flavor: 'debug',
      variant: 'x86_64-debug',
      name: 'edge-debug',
      version: '2.0.0',
    });
  });

  it('prints one line per variant; a recipe without variants has one, "default"', async () => {
    const { stdout } = await runCommand(['recipe', 'matrix', join(EXAMPLES, 'minimal', 'recipe.yaml')], {
      root: CLI_ROOT,
    });
    expect(stdout.trim()).toBe('default  minimal 0.1.0');
  });
});
