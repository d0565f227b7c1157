import { generateKeyPairSync } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../../test/helpers.js';
import { selectUpdate, waveStartFor } from '../manifest.js';
import { keySigner } from '../signer.js';
import { fetchUpdateManifest } from './client.js';
import type { TufKey } from './keys.js';
import { publishUpdate } from './manifest-target.js';
import { initRepository, readRepository } from './repo.js';
import { serveDirectory } from './serve.js';

const tempDir = useTempDir();

function newKey(): TufKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    signer: keySigner({ privateKey }),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

describe('publishUpdate (update manifest in the TUF repository), read back with the tuf-js client', () => {
  it('adds versions with images and seed-relative waves, keeps max/min version, and a tuf-js client sees it all', async () => {
    const dir = await tempDir();
    const repo = join(dir, 'repo');
    const keys = { root: [newKey()], targets: [newKey()], snapshot: [newKey()], timestamp: [newKey()] };
    await initRepository({ dir: repo, keys });
    const img = async (name: string) => {
      const f = join(dir, name);
      await writeFile(f, `image ${name}`);
      return f;
    };
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    const first = await publishUpdate({
      dir: repo,
      variant: 'edge',
      arch: 'x86_64',
      version: '1.0.0',
      images: { root: await img('edge-1.0.0-root.img'), hash: await img('edge-1.0.0-root.verity') },
      waves: { '2048': '2026-11-01T00:00:00Z' },
      keys,
    });
    expect(first.update.max_version).toBe('1.0.0');
    expect(first.repository.targets.map((t) => t.name)).toEqual([
      'edge-1.0.0-root.img',
      'edge-1.0.0-root.verity',
      'manifest.json',
    ]);
    const second = await publishUpdate({
      dir: repo,
      variant: 'edge',
      arch: 'x86_64',
      version: '1.1.0',
      minVersion: '1.0.0',
      images: { root: await img('edge-1.1.0-root.img') },
      imageTargets: { hash: 'edge-1.0.0-root.verity' },
      waves: {
        '512': new Date(t0).toISOString(),
        '1024': new Date(t0 + 8 * 3_600_000).toISOString(),
        '2048': new Date(t0 + 24 * 3_600_000).toISOString(),
      },
      migrations: { '(1.0.0, 1.1.0)': ['migrate_1.1.0_settings'] },
      keys,
    });
    expect(second.manifest.updates.map((u) => [u.version, u.max_version])).toEqual([
      ['1.1.0', '1.1.0'],
      ['1.0.0', '1.1.0'],
    ]);
    // another variant is independent; a replaced version keeps one entry
    await publishUpdate({
      dir: repo,
      variant: 'edge',
      arch: 'aarch64',
      version: '1.1.0',
      images: { root: await img('edge-1.1.0-root-arm.img') },
      keys,
    });
    const status = await readRepository({ dir: repo });
    expect(status.targets.map((t) => t.name)).toContain('edge-1.1.0-root-arm.img');
    // consistent snapshots: every manifest version stays on disk under its hash
    const stored = (await readdir(join(repo, 'targets'))).filter((f) => f.endsWith('.manifest.json'));
    expect(stored).toHaveLength(3);

    const served = await serveDirectory(repo);
    try {
      const { manifest, repository } = await fetchUpdateManifest({
        url: served.url,
        trustedRoot: join(repo, 'metadata', '1.root.json'),
      });
      expect(repository.targets.map((t) => t.name)).toEqual(['manifest.json']);
      expect(manifest.updates).toHaveLength(3);
      expect(manifest.migrations).toEqual({ '(1.0.0, 1.1.0)': ['migrate_1.1.0_settings'] });
      const x86 = manifest.updates.find((u) => u.arch === 'x86_64' && u.version === '1.1.0');
      expect(x86).toMatchObject({
        min_version: '1.0.0',
        max_version: '1.1.0',
        images: { root: 'edge-1.1.0-root.img', hash: 'edge-1.0.0-root.verity' },
      });
      // seed-relative waves: seed 768 is halfway through the (512, 1024] wave → 4 h after its start
      expect(waveStartFor({ waves: x86?.waves ?? {}, seed: 768 })?.toISOString()).toBe(
        new Date(t0 + 4 * 3_600_000).toISOString(),
      );
      const pick = (currentVersion: string, seed: number, hours: number) =>
        selectUpdate({
          manifest,
          variant: 'edge',
          arch: 'x86_64',
          currentVersion,
          seed,
          now: new Date(t0 + hours * 3_600_000),
        })?.update.version;
      expect(pick('1.0.0', 100, 0)).toBe('1.1.0');
      expect(pick('1.0.0', 768, 3.9)).toBeUndefined(); // not yet: 1.0.0 is current and 1.1.0's wave is later
      expect(pick('1.0.0', 768, 4)).toBe('1.1.0');
      expect(pick('0.9.0', 100, 48)).toBe('1.0.0'); // below min_version: the stepping stone first
      expect(
        selectUpdate({
          manifest,
          variant: 'edge',
          arch: 'x86_64',
          currentVersion: '1.0.0',
          seed: 0,
          now: new Date(t0),
        })?.migrations,
      ).toEqual(['migrate_1.1.0_settings']);
    } finally {
      await served.close();
    }

    // lowering max_version holds the whole variant/arch back
    const held = await publishUpdate({
      dir: repo,
      variant: 'edge',
      arch: 'x86_64',
      version: '1.0.0',
      maxVersion: '1.0.0',
      imageTargets: { root: 'edge-1.0.0-root.img' },
      keys,
    });
    expect(held.manifest.updates.filter((u) => u.arch === 'x86_64').map((u) => u.max_version)).toEqual([
      '1.0.0',
      '1.0.0',
    ]);

    await expect(
      publishUpdate({
        dir: repo,
        variant: 'edge',
        arch: 'x86_64',
        version: '1.2',
        imageTargets: { root: 'edge-1.0.0-root.img' },
        keys,
      }),
    ).rejects.toMatchObject({ code: 'UPDATE_MANIFEST_INVALID' });
    await expect(
      publishUpdate({
        dir: repo,
        variant: 'edge',
        arch: 'x86_64',
        version: '1.2.0',
        imageTargets: { root: 'nope.img' },
        keys,
      }),
    ).rejects.toMatchObject({ code: 'TUF_TARGET_NOT_FOUND' });
    await expect(
      publishUpdate({
        dir: repo,
        variant: 'edge',
        arch: 'x86_64',
        version: '1.2.0',
        minVersion: '1.3.0',
        imageTargets: { root: 'edge-1.0.0-root.img' },
        keys,
      }),
    ).rejects.toMatchObject({ code: 'UPDATE_MANIFEST_INVALID' });
    await expect(
      publishUpdate({ dir: repo, variant: 'edge', arch: 'x86_64', version: '1.2.0', keys }),
    ).rejects.toMatchObject({ code: 'USAGE' });

    // the signed manifest altered on disk is refused rather than silently extended
    const current = (await readRepository({ dir: repo })).targets.find((t) => t.name === 'manifest.json');
    await writeFile(join(repo, 'targets', `${current?.sha256}.manifest.json`), '{"updates":[]}');
    await expect(
      publishUpdate({
        dir: repo,
        variant: 'edge',
        arch: 'x86_64',
        version: '1.2.0',
        imageTargets: { root: 'edge-1.0.0-root.img' },
        keys,
      }),
    ).rejects.toMatchObject({ code: 'TUF_TARGET_HASH_MISMATCH' });
  });
});
