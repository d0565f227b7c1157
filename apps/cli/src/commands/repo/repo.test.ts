import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '@oclif/test';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_ROOT, spawnCli } from '../../../test/helpers.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('drover repo', () => {
  it('init --generate-keys, add (with an update manifest), refresh, verify, remove — all --json', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-cli-repo-'));
    dirs.push(dir);
    const repo = join(dir, 'repo');
    const keys = join(dir, 'keys');
    const init = await runCommand(
      [
        'repo',
        'init',
        repo,
        '--keys-dir',
        keys,
        '--generate-keys',
        '--threshold',
        'root=1',
        '--expires',
        'timestamp=0.5',
        '--json',
      ],
      { root: CLI_ROOT },
    );
    expect(init.error).toBeUndefined();
    const status = JSON.parse(init.stdout);
    expect(status.generatedKeys).toHaveLength(4);
    expect(status.roles.root).toMatchObject({ version: 1, threshold: 1 });

    const image = join(dir, 'root-1.0.0.img');
    await writeFile(image, Buffer.alloc(4096, 1));
    const manifest = join(dir, 'manifest.json');
    await writeFile(
      manifest,
      JSON.stringify({
        updates: [
          {
            variant: 'edge',
            arch: 'x86_64',
            version: '1.0.0',
            max_version: '1.0.0',
            waves: { '2048': '2026-01-01T00:00:00Z' },
            images: { root: 'root-1.0.0.img' },
          },
        ],
        migrations: {},
      }),
    );
    const add = await runCommand(['repo', 'add', repo, image, manifest, '--keys-dir', keys, '--json'], {
      root: CLI_ROOT,
    });
    expect(add.error).toBeUndefined();
    expect(JSON.parse(add.stdout).targets.map((t: { name: string }) => t.name)).toEqual([
      'manifest.json',
      'root-1.0.0.img',
    ]);

    await writeFile(manifest, JSON.stringify({ updates: [{ variant: 'edge' }] }));
    const badManifest = spawnCli(['repo', 'add', repo, manifest, '--keys-dir', keys]);
    expect(badManifest.stderr).toContain('[UPDATE_MANIFEST_INVALID]');

    const refresh = await runCommand(['repo', 'refresh', repo, '--keys-dir', keys, '--force', '--json'], {
      root: CLI_ROOT,
    });
    expect(JSON.parse(refresh.stdout).refreshed).toEqual(['snapshot', 'timestamp']);

    const trusted = join(repo, 'metadata', '1.root.json');
    const verify = await runCommand(['repo', 'verify', repo, '--root', trusted, '--json'], {
      root: CLI_ROOT,
    });
    expect(verify.error).toBeUndefined();
    expect(JSON.parse(verify.stdout)).toMatchObject({ verified: true, roles: { timestamp: { version: 3 } } });

    const remove = await runCommand(['repo', 'remove', repo, 'manifest.json', '--keys-dir', keys, '--json'], {
      root: CLI_ROOT,
    });
    expect(JSON.parse(remove.stdout).targets).toHaveLength(1);

    // an altered target fails verification with its code and exit code of an integrity failure
    const targetsDir = join(repo, 'targets');
    const stored = (await import('node:fs/promises')).readdir(targetsDir);
    const name = (await stored).find((n) => n.endsWith('root-1.0.0.img')) as string;
    await writeFile(join(targetsDir, name), Buffer.alloc(4096, 2));
    const tampered = spawnCli(['repo', 'verify', repo, '--root', trusted, '--json']);
    expect(tampered.status).not.toBe(0);
    expect(JSON.parse(tampered.stdout).error.code).toBe('TUF_TARGET_HASH_MISMATCH');
    expect(
      JSON.parse(await readFile(join(repo, 'drover-repo.json'), 'utf8')).roles.timestamp.expiresDays,
    ).toBe(0.5);
  });

  it('rotate-root: a client holding root v1 follows the rotation to new root and timestamp keys', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-cli-repo-'));
    dirs.push(dir);
    const repo = join(dir, 'repo');
    const keys = join(dir, 'keys');
    await runCommand(['repo', 'init', repo, '--keys-dir', keys, '--generate-keys', '-q'], { root: CLI_ROOT });
    for (const name of ['root2.pem', 'ts2.pem']) {
      await runCommand(['keys', 'generate', join(dir, name), '--algorithm', 'ed25519', '-q'], {
        root: CLI_ROOT,
      });
    }
    const rotated = await runCommand(
      [
        'repo',
        'rotate-root',
        repo,
        '--keys-dir',
        keys,
        '--new-key',
        `root=${join(dir, 'root2.pem')}`,
        '--new-key',
        `timestamp=${join(dir, 'ts2.pem')}`,
        '--json',
      ],
      { root: CLI_ROOT },
    );
    expect(rotated.error).toBeUndefined();
    expect(JSON.parse(rotated.stdout).roles.root.version).toBe(2);
    const refresh = await runCommand(
      [
        'repo',
        'refresh',
        repo,
        '--key',
        `snapshot=${join(keys, 'snapshot.pem')}`,
        '--key',
        `timestamp=${join(dir, 'ts2.pem')}`,
        '--force',
        '--json',
      ],
      { root: CLI_ROOT },
    );
    expect(refresh.error).toBeUndefined();
    const verify = await runCommand(
      ['repo', 'verify', repo, '--root', join(repo, 'metadata', '1.root.json'), '--json'],
      { root: CLI_ROOT },
    );
    expect(verify.error).toBeUndefined();
    expect(JSON.parse(verify.stdout).roles.root.version).toBe(2);
  });

  it('refuses to sign without keys, and with a bad role name suggests the right one', async () => {
    const r = spawnCli(['repo', 'refresh', '/nonexistent']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('[TUF_KEYS_MISSING]');
    const s = spawnCli(['repo', 'refresh', '/nonexistent', '--key', 'timestmap=x.pem']);
    expect(s.stderr).toContain('did you mean timestamp');
  });
});
