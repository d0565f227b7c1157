import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { toValue } from './node.js';
import { Recipe, recipeJsonSchema, verityHashBytes } from './schema.js';
import { parseYaml } from './yaml.js';

const PACKAGE = join(import.meta.dirname, '..');
const EXAMPLES = join(PACKAGE, '..', '..', 'examples');
const FILES = [
  'minimal/recipe.yaml',
  'ab-verity/recipe.yaml',
  'edge-fleet/recipe.yaml',
  'edge-fleet/common.yaml',
];

async function exampleValue(file: string): Promise<unknown> {
  const path = join(EXAMPLES, file);
  const { root, problems } = parseYaml(await readFile(path, 'utf8'), path);
  expect(problems).toEqual([]);
  return toValue(root!);
}

describe('JSON Schema', () => {
  it('is generated from the validator definitions and the published file is up to date', async () => {
    const published = JSON.parse(await readFile(join(PACKAGE, 'schema', 'recipe.schema.json'), 'utf8'));
    // If this fails: run `pnpm --filter @drover/recipe schema` and commit schema/recipe.schema.json.
    expect(published).toEqual(recipeJsonSchema());
  });

  it('is a valid draft-07 schema that accepts every example as written (with ${variables} and extends)', async () => {
    const ajv = new Ajv({ allErrors: true, strict: false, logger: false });
    const validate = ajv.compile(recipeJsonSchema());
    for (const file of FILES) {
      const ok = validate(await exampleValue(file));
      expect(validate.errors ?? [], file).toEqual([]);
      expect(ok).toBe(true);
    }
  });

  it('rejects what the validator rejects: unknown keys, bad enums, missing required keys', async () => {
    const ajv = new Ajv({ allErrors: true, strict: false, logger: false });
    const validate = ajv.compile(recipeJsonSchema());
    const good = (await exampleValue('minimal/recipe.yaml')) as Record<string, unknown>;
    expect(validate({ ...good, extra: 1 })).toBe(false);
    expect(validate({ ...good, filesystem: { type: 'btrfs' } })).toBe(false);
    expect(
      validate({ ...good, layers: [{ copy: { from: 'x', to: '/' }, file: { path: '/x', content: '' } }] }),
    ).toBe(false);
    const { base: _base, ...noBase } = good;
    expect(validate(noBase)).toBe(false);
    // With extends, inherited parts may be left out.
    expect(validate({ extends: 'base.yaml', metadata: { name: 'x' } })).toBe(true);
    expect(Recipe.safeParse({ ...good, extra: 1 }).success).toBe(false);
  });

  it('describes sizes and modes for editors', () => {
    const text = JSON.stringify(recipeJsonSchema());
    expect(text).toContain('512MiB');
    expect(text).toContain('u=rw,go=r');
  });
});

describe('verityHashBytes', () => {
  it('matches the hash device sizes veritysetup produces', () => {
    // 8 MiB of data, 4 KiB blocks, sha256: 2048 leaves -> 16 level-0 blocks + 1 top block + superblock.
    expect(verityHashBytes(8 * 2 ** 20, 4096, 4096, 'sha256')).toBe(4096 + 17 * 4096);
    // One data block needs no hash blocks, only the superblock.
    expect(verityHashBytes(4096, 4096, 4096, 'sha256')).toBe(4096);
    // FEC adds parity: (N + hash blocks) / (255 - roots) rounds of `roots` blocks.
    expect(verityHashBytes(8 * 2 ** 20, 4096, 4096, 'sha256', 2)).toBe(
      4096 + 17 * 4096 + Math.ceil((2048 + 17) / 253) * 2 * 4096,
    );
  });
});

describe('verityHashBytes against veritysetup', () => {
  it.each([
    { size: 3 * 2 ** 20 + 4096, block: 4096, hash: 'sha256', roots: 0 },
    { size: 2 * 2 ** 20, block: 1024, hash: 'sha512', roots: 0 },
    { size: 5 * 2 ** 20, block: 4096, hash: 'sha256', roots: 4 },
  ])('$size bytes, $block-byte blocks, $hash, fec roots $roots', async ({ size, block, hash, roots }) => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-verity-'));
    try {
      execFileSync('truncate', ['-s', String(size), join(dir, 'data')]);
      const args = [
        'format',
        join(dir, 'data'),
        join(dir, 'hash'),
        `--hash=${hash}`,
        `--data-block-size=${block}`,
        `--hash-block-size=${block}`,
      ];
      if (roots) args.push(`--fec-device=${join(dir, 'fec')}`, `--fec-roots=${roots}`);
      execFileSync('veritysetup', args, { stdio: 'ignore' });
      const tree = (await stat(join(dir, 'hash'))).size;
      const fec = roots ? (await stat(join(dir, 'fec'))).size : 0;
      expect(verityHashBytes(size, block, block, hash, roots)).toBe(tree + fec);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
