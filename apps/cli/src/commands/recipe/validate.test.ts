import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '@oclif/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ROOT, spawnCli } from '../../../test/helpers.js';

const EXAMPLES = join(CLI_ROOT, '..', '..', 'examples');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-cli-recipe-'));
  await writeFile(
    join(dir, 'bad.yaml'),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a recipe variable reference, not a JS template.
    'apiVersion: drover.dev/v1\nkind: Recipe\nmetadata: { name: x, version: 1.0.0 }\nbase: { layout: ../base }\nfilesystem:\n  tpye: erofs\nboot:\n  kernelArgs: ["${nope}"]\n',
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('drover recipe validate', () => {
  it('accepts every example and lists its variants', async () => {
    for (const name of ['minimal', 'ab-verity', 'edge-fleet']) {
      const { stdout, error } = await runCommand(
        ['recipe', 'validate', join(EXAMPLES, name, 'recipe.yaml')],
        { root: CLI_ROOT },
      );
      expect(error, name).toBeUndefined();
      expect(stdout).toMatch(/valid \(\d+ variants?: /);
    }
  });

  it('--json prints the report', async () => {
    const { stdout } = await runCommand(
      ['recipe', 'validate', join(EXAMPLES, 'edge-fleet', 'recipe.yaml'), '--json'],
      { root: CLI_ROOT },
    );
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({
      valid: true,
      problems: [],
      variants: ['x86_64-standard', 'x86_64-debug', 'aarch64-standard', 'aarch64-debug'],
    });
  });

  it('exits 65 and prints every problem as file:line:col path: message (hint)', () => {
    const r = spawnCli(['recipe', 'validate', join(dir, 'bad.yaml')]);
    expect(r.status).toBe(65);
    expect(r.stderr).toContain('bad.yaml: 2 problems');
    expect(r.stderr).toMatch(/bad\.yaml:6:3 filesystem\.tpye: unknown key "tpye" \(did you mean "type"\?\)/);
    expect(r.stderr).toMatch(/bad\.yaml:8:16 boot\.kernelArgs\[0\]: undefined variable \$\{nope\}/);
    expect(r.stderr).toContain('[RECIPE_INVALID]');
  });

  it('--set and DROVER_VAR_ define variables', () => {
    expect(spawnCli(['recipe', 'validate', join(dir, 'bad.yaml'), '--set', 'nope=quiet']).stderr).toContain(
      '1 problem',
    );
    expect(
      spawnCli(['recipe', 'validate', join(dir, 'bad.yaml')], { DROVER_VAR_nope: 'quiet' }).stderr,
    ).toContain('1 problem');
  });

  it('--json puts the problems into the error details', () => {
    const r = spawnCli(['recipe', 'validate', join(dir, 'bad.yaml'), '--json']);
    expect(r.status).toBe(65);
    const { error } = JSON.parse(r.stdout);
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.details.problems).toEqual([
      expect.objectContaining({ line: 6, column: 3, path: 'filesystem.tpye', hint: 'did you mean "type"?' }),
      expect.objectContaining({ line: 8, path: 'boot.kernelArgs[0]', kind: 'variable' }),
    ]);
  });

  it('a missing recipe exits 66', () => {
    const r = spawnCli(['recipe', 'validate', join(dir, 'missing.yaml')]);
    expect(r.status).toBe(66);
    expect(r.stderr).toContain('RECIPE_NOT_FOUND');
  });
});
