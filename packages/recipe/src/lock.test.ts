import { createHash } from 'node:crypto';
import { chmod, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DigestString } from '@drover/core';
import { describe, expect, it } from 'vitest';
import { expectDroverError, fixture } from '../test/helpers.js';
import { digestTree, formatLockChanges, lockRecipe, readLockfile } from './lock.js';
import type { BaseResolver, LockChange } from './types.js';

const sha = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;

const recipe = (base: string, extra = '') => `apiVersion: drover.dev/v1
kind: Recipe
metadata: { name: locked, version: 1.0.0 }
base:
  ${base}
layers:
  - copy: { from: files, to: /etc }
  - file: { path: /etc/motd, template: motd.tmpl }
  - copy: { from: files/a, to: /opt/a }
${extra}`;

async function project(base = 'layout: oci', extra = '') {
  return fixture({
    'r/recipe.yaml': recipe(base, extra),
    'r/files/a': 'a',
    'r/files/sub/b': 'b',
    'r/motd.tmpl': 'hello ${greeting}\n',
    'r/oci/oci-layout': '{"imageLayoutVersion":"1.0.0"}',
    'r/oci/index.json': '{"schemaVersion":2,"manifests":[]}',
    'r/rootfs.tar': 'not really a tar',
  });
}

describe('lockRecipe', () => {
  it('pins the layout base, every source and the sourceDateEpoch, and writes drover.lock', async () => {
    const dir = await project();
    const result = await lockRecipe({ path: join(dir, 'r/recipe.yaml'), now: 1_700_000_000 });
    expect(result.written).toBe(true);
    expect(result.lockPath).toBe(join(dir, 'r/drover.lock'));
    expect(result.lock).toEqual({
      lockVersion: 1,
      recipe: 'recipe.yaml',
      variants: {
        default: {
          base: {
            type: 'layout',
            location: 'oci',
            platform: 'linux/amd64',
            digest: sha('{"schemaVersion":2,"manifests":[]}'),
            digestOf: 'index.json',
          },
          sourceDateEpoch: 1_700_000_000,
          sources: ['files', 'files/a', 'motd.tmpl'],
        },
      },
      sources: {
        files: { kind: 'directory', digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) },
        'files/a': { kind: 'file', digest: sha('a') },
        'motd.tmpl': { kind: 'file', digest: sha('hello ${greeting}\n') },
      },
    });
    expect(result.changes.every((c) => c.change === 'added')).toBe(true);
    expect(await readLockfile(result.lockPath)).toEqual(result.lock);
    expect((await readFile(result.lockPath, 'utf8')).endsWith('}\n')).toBe(true);

    // Locking again changes nothing and keeps the epoch it chose.
    const again = await lockRecipe({ path: join(dir, 'r/recipe.yaml'), now: 1_800_000_000 });
    expect(again).toMatchObject({ upToDate: true, written: false, changes: [] });
    expect(again.lock.variants.default!.sourceDateEpoch).toBe(1_700_000_000);
  });

  it('with frozen, fails with a clear diff when a source or the base changed', async () => {
    const dir = await project();
    const path = join(dir, 'r/recipe.yaml');
    await lockRecipe({ path, now: 1 });
    await expect(lockRecipe({ path, frozen: true })).resolves.toMatchObject({
      upToDate: true,
      written: false,
    });

    await writeFile(join(dir, 'r/files/sub/b'), 'changed');
    await writeFile(join(dir, 'r/oci/index.json'), '{"schemaVersion":2,"manifests":[{}]}');
    const error = await expectDroverError(() => lockRecipe({ path, frozen: true }), 'RECIPE_LOCK_STALE');
    expect(error.kind).toBe('conflict');
    const changes = error.details!.changes as LockChange[];
    expect(changes.map((c) => `${c.change} ${c.path}`)).toEqual([
      'changed sources.files.digest',
      'changed variants.default.base.digest',
    ]);
    expect(error.message).toContain('~ variants.default.base.digest: sha256:');
    expect(error.message).toContain(' -> sha256:');
    // The stale lock was not touched.
    const onDisk = await readLockfile(join(dir, 'r/drover.lock'));
    expect(onDisk?.variants.default?.base.digest).toBe(sha('{"schemaVersion":2,"manifests":[]}'));

    // A new source shows up as added; a SOURCE_DATE_EPOCH that differs from the lock is stale too.
    const updated = await lockRecipe({ path });
    expect(updated.written).toBe(true);
    await expectDroverError(
      () => lockRecipe({ path, frozen: true, env: { SOURCE_DATE_EPOCH: '99' } }),
      'RECIPE_LOCK_STALE',
    );
  });

  it('with frozen and no lockfile, fails with RECIPE_LOCK_MISSING', async () => {
    const dir = await project();
    const error = await expectDroverError(
      () => lockRecipe({ path: join(dir, 'r/recipe.yaml'), frozen: true }),
      'RECIPE_LOCK_MISSING',
    );
    expect(error.hint).toMatch(/drover recipe lock/);
  });

  it('locks directory and tar bases by content and registry bases through a resolver', async () => {
    const dir = await project('directory: files');
    const dirLock = await lockRecipe({ path: join(dir, 'r/recipe.yaml'), write: false });
    expect(dirLock.written).toBe(false);
    expect(dirLock.lock.variants.default!.base).toMatchObject({
      type: 'directory',
      digestOf: 'tree',
      digest: await digestTree(join(dir, 'r/files')),
    });

    const tar = await project('tar: rootfs.tar');
    const tarLock = await lockRecipe({ path: join(tar, 'r/recipe.yaml'), write: false });
    expect(tarLock.lock.variants.default!.base).toMatchObject({
      type: 'tar',
      digestOf: 'file',
      digest: sha('not really a tar'),
    });

    const pinned = `sha256:${'a'.repeat(64)}`;
    const reg = await project(`registry: ghcr.io/acme/base@${pinned}\n  platform: linux/arm64`);
    const regLock = await lockRecipe({ path: join(reg, 'r/recipe.yaml'), write: false });
    expect(regLock.lock.variants.default!.base).toEqual({
      type: 'registry',
      location: `ghcr.io/acme/base@${pinned}`,
      platform: 'linux/arm64',
      digest: pinned,
      digestOf: 'manifest',
    });

    const tagged = await project('registry: ghcr.io/acme/base:1.0');
    const calls: unknown[] = [];
    const resolver = {
      async resolve(base) {
        calls.push(base);
        return base.type === 'registry'
          ? {
              type: 'registry',
              location: base.ref,
              platform: 'linux/amd64',
              digest: `sha256:${'b'.repeat(64)}` as DigestString,
              digestOf: 'manifest',
            }
          : undefined;
      },
    } satisfies BaseResolver;
    const resolved = await lockRecipe({ path: join(tagged, 'r/recipe.yaml'), resolver, write: false });
    expect(resolved.lock.variants.default!.base.digest).toBe(`sha256:${'b'.repeat(64)}`);
    expect(calls).toEqual([
      { type: 'registry', ref: 'ghcr.io/acme/base:1.0', platform: { os: 'linux', architecture: 'amd64' } },
    ]);
    const unresolved = await lockRecipe({ path: join(tagged, 'r/recipe.yaml'), write: false });
    expect(unresolved.lock.variants.default!.base.digest).toBeUndefined();
  });

  it('locks every variant and shares identical bases and sources', async () => {
    const dir = await project(
      'layout: oci\n  platform: linux/${arch}',
      'variants:\n  matrix:\n    arch: [x86_64, aarch64]\n',
    );
    const { lock } = await lockRecipe({ path: join(dir, 'r/recipe.yaml'), now: 7 });
    expect(Object.keys(lock.variants)).toEqual(['aarch64', 'x86_64']);
    expect(lock.variants.aarch64!.base.platform).toBe('linux/arm64');
    expect(lock.variants.x86_64!.base.platform).toBe('linux/amd64');
    expect(Object.keys(lock.sources)).toEqual(['files', 'files/a', 'motd.tmpl']);
  });

  it('fails clearly when the base is missing (only when locking)', async () => {
    const dir = await project('layout: missing');
    const error = await expectDroverError(
      () => lockRecipe({ path: join(dir, 'r/recipe.yaml') }),
      'RECIPE_BASE_NOT_FOUND',
    );
    expect(error.kind).toBe('not-found');
    const dir2 = await project('directory: nowhere');
    await expectDroverError(() => lockRecipe({ path: join(dir2, 'r/recipe.yaml') }), 'RECIPE_BASE_NOT_FOUND');
  });

  it('rejects a lockfile that is not one', async () => {
    const dir = await project();
    await writeFile(join(dir, 'r/drover.lock'), 'nope');
    await expectDroverError(() => lockRecipe({ path: join(dir, 'r/recipe.yaml') }), 'RECIPE_LOCK_INVALID');
    await writeFile(join(dir, 'r/drover.lock'), '{"lockVersion":7}');
    await expectDroverError(() => lockRecipe({ path: join(dir, 'r/recipe.yaml') }), 'RECIPE_LOCK_INVALID');
  });
});

describe('digestTree', () => {
  it('changes with content, names, symlinks and the executable bit, not with other mode bits', async () => {
    const dir = await fixture({ 't/a': 'a', 't/d/b': 'b' });
    const t = join(dir, 't');
    const first = await digestTree(t);
    await chmod(join(t, 'a'), 0o600);
    expect(await digestTree(t)).toBe(first);
    await chmod(join(t, 'a'), 0o755);
    const exec = await digestTree(t);
    expect(exec).not.toBe(first);
    await symlink('a', join(t, 'link'));
    const linked = await digestTree(t);
    expect(linked).not.toBe(exec);
    await writeFile(join(t, 'd/b'), 'B');
    expect(await digestTree(t)).not.toBe(linked);
  });
});

describe('formatLockChanges', () => {
  it('renders one line per change', () => {
    expect(
      formatLockChanges([
        { path: 'sources.a.digest', change: 'changed', before: 'x', after: 'y' },
        { path: 'sources.b', change: 'added', after: { kind: 'file' } },
        { path: 'sources.c', change: 'removed', before: 1 },
      ]),
    ).toBe('  ~ sources.a.digest: x -> y\n  + sources.b: {"kind":"file"}\n  - sources.c: 1');
  });
});
