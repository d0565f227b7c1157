import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ROOT, spawnCli } from '../../../test/helpers.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-cli-lock-'));
  await cp(join(CLI_ROOT, '..', '..', 'examples', 'minimal'), join(dir, 'minimal'), { recursive: true });
  // Start without the example's committed lock, next to a base layout of our own (the recipe says ../base/layout).
  await rm(join(dir, 'minimal', 'drover.lock'), { force: true });
  await mkdir(join(dir, 'base', 'layout'), { recursive: true });
  await writeFile(join(dir, 'base', 'layout', 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'base', 'layout', 'index.json'), '{"schemaVersion":2,"manifests":[]}');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('drover recipe lock', () => {
  it('writes drover.lock, then reports it up to date, and --frozen fails with the diff when it is stale', async () => {
    const recipe = join(dir, 'minimal', 'recipe.yaml');
    const first = spawnCli(['recipe', 'lock', recipe], { SOURCE_DATE_EPOCH: '1700000000' });
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('wrote');
    expect(first.stdout).toContain('+ variants.default.base.digest: sha256:');
    const lock = JSON.parse(await readFile(join(dir, 'minimal', 'drover.lock'), 'utf8'));
    expect(lock.variants.default).toMatchObject({
      sourceDateEpoch: 1700000000,
      base: { type: 'layout', digestOf: 'index.json' },
    });

    const again = spawnCli(['recipe', 'lock', recipe, '--frozen', '--json'], {
      SOURCE_DATE_EPOCH: '1700000000',
    });
    expect(again.status).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ upToDate: true, written: false });

    await writeFile(join(dir, 'base', 'layout', 'index.json'), '{"schemaVersion":2,"manifests":[{}]}');
    const stale = spawnCli(['recipe', 'lock', recipe, '--frozen'], { SOURCE_DATE_EPOCH: '1700000000' });
    expect(stale.status).toBe(75);
    expect(stale.stderr).toMatch(
      /~ variants\.default\.base\.digest: sha256:[0-9a-f]{64} -> sha256:[0-9a-f]{64}/,
    );
    expect(stale.stderr).toContain('RECIPE_LOCK_STALE');
  });
});
