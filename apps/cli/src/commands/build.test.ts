import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ROOT, spawnCli } from '../../test/helpers.js';

let dir: string;
const EXAMPLES = join(CLI_ROOT, '..', '..', 'examples');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-cli-build-'));
  await cp(join(EXAMPLES, 'base', 'layout'), join(dir, 'base', 'layout'), { recursive: true });
  await cp(join(EXAMPLES, 'minimal'), join(dir, 'minimal'), { recursive: true });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('drover build', () => {
  const recipe = () => join(dir, 'minimal', 'recipe.yaml');
  const env = () => ({ XDG_CACHE_HOME: join(dir, 'xdg') });

  it('--json prints { builds: [{ variant, outDir, record, recordPath, steps }] }; a rebuild is served from the cache', async () => {
    const out = join(dir, 'out');
    const first = spawnCli(['build', recipe(), '--out', out, '--json'], env());
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    const result = JSON.parse(first.stdout);
    expect(result.builds).toHaveLength(1);
    const b = result.builds[0];
    expect(b).toMatchObject({ variant: 'default', outDir: out, recordPath: join(out, 'image.json') });
    expect(isAbsolute(b.recordPath)).toBe(true);
    expect(b.record).toEqual(JSON.parse(await readFile(b.recordPath, 'utf8')));
    expect(b.steps.map((s: { name: string }) => s.name)).toEqual([
      'lock',
      'base',
      'layers',
      'normalize',
      'filesystem',
      'sbom',
      'verity',
      'outputs',
      'record',
    ]);
    // The default cache is $XDG_CACHE_HOME/drover.
    expect((await stat(join(dir, 'xdg', 'drover', 'steps', 'filesystem'))).isDirectory()).toBe(true);

    const again = spawnCli(['build', recipe(), '--out', out, '--frozen'], env());
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/filesystem\s+cached/);
    expect(again.stdout).toMatch(/verity\s+cached/);
    expect(again.stdout).toContain(`root hash: ${b.record.verity.rootHash}`);
    expect(again.stdout).toMatch(/root\.img\s+12 KiB\s+sha256:/);
    expect(again.stdout).toContain(`record:    ${join(out, 'image.json')}`);
  });

  it('--check-reproducible reports a bit-identical second build', () => {
    const r = spawnCli(['build', recipe(), '--out', join(dir, 'out-r'), '--check-reproducible'], env());
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Reproducible: a second build without the cache is bit-identical.');
  });

  it('a missing --verity-key fails with exit 66 and a hint to create one', () => {
    const r = spawnCli(
      ['build', recipe(), '--out', join(dir, 'out-k'), '--verity-key', join(dir, 'none.pem')],
      env(),
    );
    expect(r.status).toBe(66);
    expect(r.stderr).toContain('VERITY_KEY_NOT_FOUND');
    expect(r.stderr).toContain('openssl req -x509');
  });

  it('an unknown variant is a usage error', () => {
    const r = spawnCli(['build', recipe(), '--variant', 'nope', '--out', join(dir, 'out-v')], env());
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/nope/);
  });
});
