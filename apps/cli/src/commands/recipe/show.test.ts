import { join } from 'node:path';
import { runCommand } from '@oclif/test';
import { describe, expect, it } from 'vitest';
import { CLI_ROOT } from '../../../test/helpers.js';

const EDGE = join(CLI_ROOT, '..', '..', 'examples', 'edge-fleet', 'recipe.yaml');

describe('drover recipe show', () => {
  it('--json prints the resolved recipes of the chosen variants', async () => {
    const { stdout, error } = await runCommand(
      ['recipe', 'show', EDGE, '--variant', 'aarch64-debug', '--json'],
      { root: CLI_ROOT },
    );
    expect(error).toBeUndefined();
    const recipes = JSON.parse(stdout);
    expect(recipes).toHaveLength(1);
    expect(recipes[0]).toMatchObject({
      id: 'aarch64-debug',
      metadata: { name: 'edge-debug' },
      disk: { architecture: 'aarch64' },
    });
  });

  it('prints YAML with octal modes, after extends and variables', async () => {
    const { stdout } = await runCommand(
      ['recipe', 'show', EDGE, '--variant', 'x86_64-debug', '--set', 'channel=edge'],
      { root: CLI_ROOT },
    );
    expect(stdout).toContain('id: x86_64-debug');
    expect(stdout).toContain("mode: '0755'");
    // --set wins over the variant's recipe variable (beta).
    expect(stdout).toContain('channel = "edge"');
  });

  it('an unknown variant exits 66 with a suggestion', async () => {
    const { error, stderr } = await runCommand(['recipe', 'show', EDGE, '--variant', 'x86_64-debgu'], {
      root: CLI_ROOT,
    });
    expect(error?.oclif?.exit).toBe(66);
    expect(stderr).toContain('Did you mean x86_64-debug?');
  });
});
