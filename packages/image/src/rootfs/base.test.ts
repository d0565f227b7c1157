import { chown, link, mkdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDroverError } from '@drover/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, scratch, snapshotDirectory } from '../../test/helpers.js';
import { treeFromDirectory, treeFromTar } from './base.js';
import { baseEntries, snapshotRootfs, writeTarFile } from './test-util.js';

let dir: string;
beforeAll(async () => {
  dir = await scratch('rootfs-base');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('treeFromDirectory', () => {
  it('reads types, modes, owners, ns times, hardlinks and devices; contents stay host references', async () => {
    const root = join(dir, 'tree');
    await mkdir(join(root, 'etc/sub'), { recursive: true });
    await writeFile(join(root, 'etc/a'), 'aaa');
    await link(join(root, 'etc/a'), join(root, 'etc/sub/a-link'));
    await writeFile(join(root, 'empty'), '');
    await symlink('etc/a', join(root, 'link'));
    await run('mknod', [join(root, 'null'), 'c', '1', '3']);
    await run('mkfifo', [join(root, 'fifo')]);
    await chown(join(root, 'etc/a'), 1234, 5678);
    await utimes(join(root, 'etc'), 1000, 1000.5);
    const tree = await treeFromDirectory({ path: root });
    expect(tree.get('etc/a')!.inode.content).toEqual({ kind: 'host', path: join(root, 'etc/a'), size: 3 });
    expect(tree.get('etc/sub/a-link')!.inode).toBe(tree.get('etc/a')!.inode);
    expect(await snapshotRootfs(tree, { nlink: true })).toEqual(
      await snapshotDirectory(root, { nlink: true }),
    );
  });

  it('names a missing base', async () => {
    const error = await treeFromDirectory({ path: join(dir, 'nope') }).catch((e: unknown) => e);
    expect(isDroverError(error, 'ROOTFS_BASE_MISSING')).toBe(true);
  });
});

describe('treeFromTar', () => {
  it.each([
    ['plain', false],
    ['gzip', true],
  ])('reads a %s tar like an unpacked copy', async (name, gzip) => {
    const tarPath = join(dir, `base-${name}.tar`);
    await writeTarFile(tarPath, baseEntries(), gzip);
    const tree = await treeFromTar({ path: tarPath });
    const out = join(dir, `x-${name}`);
    await mkdir(out);
    await run('tar', ['-xpf', tarPath, '-C', out, '--numeric-owner', '--xattrs', '--xattrs-include=*']);
    const expected = await snapshotDirectory(out, { xattrs: true });
    // GNU tar leaves the symlinks 0777 (Linux ignores their mode)
    const snap = await snapshotRootfs(tree, { xattrs: true });
    for (const e of Object.values(snap)) if (e.type === 'symlink') e.mode = 0o777;
    expect(snap).toEqual(expected);
  });

  it('reads a zstd tar', async () => {
    const tarPath = join(dir, 'base.tar');
    await writeTarFile(tarPath, baseEntries());
    await run('zstd', ['-q', '-f', tarPath, '-o', `${tarPath}.zst`]);
    const plain = await snapshotRootfs(await treeFromTar({ path: tarPath }), { xattrs: true });
    expect(await snapshotRootfs(await treeFromTar({ path: `${tarPath}.zst` }), { xattrs: true })).toEqual(
      plain,
    );
  });

  it('applies the flattening safety checks', async () => {
    const tarPath = join(dir, 'evil.tar');
    await writeTarFile(tarPath, [{ path: '../evil', type: 'file', content: 'x' }]);
    const error = await treeFromTar({ path: tarPath }).catch((e: unknown) => e);
    expect(isDroverError(error, 'OCI_PATH_TRAVERSAL')).toBe(true);
  });
});
