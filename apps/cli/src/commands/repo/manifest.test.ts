import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchUpdateManifest, selectUpdate, serveDirectory, waveStartFor } from '@drover/sign';
import { runCommand } from '@oclif/test';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_ROOT, spawnCli } from '../../../test/helpers.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('drover repo manifest', () => {
  it('adds versions with images and seed-relative waves; a tuf-js client over HTTP reads the signed manifest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-cli-manifest-'));
    dirs.push(dir);
    const repo = join(dir, 'repo');
    const keys = join(dir, 'keys');
    const init = await runCommand(['repo', 'init', repo, '--keys-dir', keys, '--generate-keys', '-q'], {
      root: CLI_ROOT,
    });
    expect(init.error).toBeUndefined();
    const img = async (name: string) => {
      const f = join(dir, name);
      await writeFile(f, Buffer.alloc(8192, name.length));
      return f;
    };
    const v1 = await runCommand(
      [
        'repo',
        'manifest',
        repo,
        '--variant',
        'edge',
        '--arch',
        'x86_64',
        '--version',
        '1.0.0',
        '--image',
        `root=${await img('edge-1.0.0-root.img')}`,
        '--image',
        `hash=${await img('edge-1.0.0-root.verity')}`,
        '--wave',
        '2048=2026-11-01T00:00:00Z',
        '--keys-dir',
        keys,
        '--json',
      ],
      { root: CLI_ROOT },
    );
    expect(v1.error).toBeUndefined();
    expect(JSON.parse(v1.stdout).update).toMatchObject({ version: '1.0.0', max_version: '1.0.0' });

    const v2 = await runCommand(
      [
        'repo',
        'manifest',
        repo,
        '--variant',
        'edge',
        '--arch',
        'x86_64',
        '--version',
        '1.1.0',
        '--min-version',
        '1.0.0',
        '--image',
        `root=${await img('edge-1.1.0-root.img')}`,
        '--image-target',
        'hash=edge-1.0.0-root.verity',
        '--start',
        '2026-12-01T00:00:00Z',
        '--wave',
        '512=+0h',
        '--wave',
        '1024=+8h',
        '--wave',
        '2048=+1d',
        '--migration',
        '1.0.0,1.1.0=migrate_a,migrate_b',
        '--keys-dir',
        keys,
        '--json',
      ],
      { root: CLI_ROOT },
    );
    expect(v2.error).toBeUndefined();
    const out = JSON.parse(v2.stdout);
    expect(out.update.waves).toEqual({
      '512': '2026-12-01T00:00:00Z',
      '1024': '2026-12-01T08:00:00Z',
      '2048': '2026-12-02T00:00:00Z',
    });
    expect(out.repository.targets.map((t: { name: string }) => t.name)).toEqual([
      'edge-1.0.0-root.img',
      'edge-1.0.0-root.verity',
      'edge-1.1.0-root.img',
      'manifest.json',
    ]);

    // the human output names the update
    const human = await runCommand(
      [
        'repo',
        'manifest',
        repo,
        '--variant',
        'edge',
        '--arch',
        'aarch64',
        '--version',
        '1.1.0',
        '--image-target',
        'root=edge-1.1.0-root.img',
        '--keys-dir',
        keys,
      ],
      { root: CLI_ROOT },
    );
    expect(human.stdout).toContain('edge/aarch64 1.1.0 (max_version 1.1.0)');

    // `repo verify` (tuf-js) accepts the repository, and a node reads the manifest through tuf-js over HTTP
    const trusted = join(repo, 'metadata', '1.root.json');
    const verify = await runCommand(['repo', 'verify', repo, '--root', trusted, '--json'], {
      root: CLI_ROOT,
    });
    expect(verify.error).toBeUndefined();
    const served = await serveDirectory(repo);
    try {
      const { manifest } = await fetchUpdateManifest({ url: served.url, trustedRoot: trusted });
      const u = manifest.updates.find((x) => x.arch === 'x86_64' && x.version === '1.1.0');
      expect(u).toMatchObject({ min_version: '1.0.0', max_version: '1.1.0' });
      expect(manifest.migrations).toEqual({ '(1.0.0, 1.1.0)': ['migrate_a', 'migrate_b'] });
      expect(waveStartFor({ waves: u?.waves ?? {}, seed: 768 })?.toISOString()).toBe(
        '2026-12-01T04:00:00.000Z',
      );
      expect(
        selectUpdate({
          manifest,
          variant: 'edge',
          arch: 'x86_64',
          currentVersion: '1.0.0',
          seed: 768,
          now: new Date('2026-12-01T04:00:00Z'),
        }),
      ).toMatchObject({ update: { version: '1.1.0' }, migrations: ['migrate_a', 'migrate_b'] });
    } finally {
      await served.close();
    }

    // bad input: each a coded error with its exit code
    const badWave = spawnCli([
      'repo',
      'manifest',
      repo,
      '--variant',
      'edge',
      '--arch',
      'x86_64',
      '--version',
      '1.2.0',
      '--image-target',
      'root=edge-1.1.0-root.img',
      '--wave',
      '512=tomorrow',
      '--keys-dir',
      keys,
    ]);
    expect(badWave.status).toBe(2);
    expect(badWave.stderr).toContain('[USAGE]');
    const badVersion = spawnCli([
      'repo',
      'manifest',
      repo,
      '--variant',
      'edge',
      '--arch',
      'x86_64',
      '--version',
      '1.2',
      '--image-target',
      'root=edge-1.1.0-root.img',
      '--keys-dir',
      keys,
      '--json',
    ]);
    expect(badVersion.status).toBe(65);
    expect(JSON.parse(badVersion.stdout).error.code).toBe('UPDATE_MANIFEST_INVALID');
    const missing = spawnCli([
      'repo',
      'manifest',
      repo,
      '--variant',
      'edge',
      '--arch',
      'x86_64',
      '--version',
      '1.2.0',
      '--image-target',
      'root=nope.img',
      '--keys-dir',
      keys,
      '--json',
    ]);
    expect(missing.status).toBe(66);
    expect(JSON.parse(missing.stdout).error.code).toBe('TUF_TARGET_NOT_FOUND');
    const badBounds = spawnCli([
      'repo',
      'manifest',
      repo,
      '--variant',
      'edge',
      '--arch',
      'x86_64',
      '--version',
      '1.2.0',
      '--image-target',
      'root=edge-1.1.0-root.img',
      '--wave',
      '4096=+1h',
      '--keys-dir',
      keys,
      '--json',
    ]);
    expect(JSON.parse(badBounds.stdout).error.code).toBe('WAVES_INVALID');
  });
});
