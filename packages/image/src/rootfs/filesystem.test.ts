import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DroverError, isDroverError } from '@drover/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, scratch, snapshotDirectory } from '../../test/helpers.js';
import { treeFromTar } from './base.js';
import { writeFilesystem } from './filesystem.js';
import { applyLayers } from './layers.js';
import { normalizeTree } from './normalize.js';
import { writeRootfsTar } from './tar-output.js';
import { baseEntries, EPOCH, fileDigests, snapshotRootfs, withMounted, writeTarFile } from './test-util.js';

let dir: string;
beforeAll(async () => {
  dir = await scratch('rootfs-fs');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A base from a gzip tar (contents stay in the blob) plus layers of every kind, normalized. */
async function sampleTree() {
  const tarPath = join(dir, 'base.tar.gz');
  await writeTarFile(tarPath, baseEntries(), true);
  const tree = await treeFromTar({ path: tarPath });
  await applyLayers({
    tree,
    layers: [
      {
        type: 'file',
        path: '/etc/motd',
        content: 'hello \n',
        owner: { user: 'app', group: 'staff' },
        mode: 0o640,
      },
      { type: 'directory', path: '/srv/data', owner: { user: 1000, group: 1001 }, mode: 0o2750 },
      { type: 'symlink', path: '/srv/current', target: 'data', owner: { user: 0, group: 0 } },
      { type: 'remove', paths: ['/usr/bin/empty'] },
    ],
    variables: {},
    sourceDateEpoch: EPOCH,
  });
  normalizeTree({ tree, sourceDateEpoch: EPOCH });
  Object.assign(tree.root.inode, { mode: 0o750, uid: 5, gid: 6 });
  return tree;
}

describe.each(['erofs', 'squashfs', 'ext4'] as const)('writeFilesystem %s', (type) => {
  it('writes an image the tools accept, the kernel mounts equal to the tree, with correct digests, reproducibly', async () => {
    const tree = await sampleTree();
    const image = join(dir, `a.${type}`);
    const result = await writeFilesystem({ tree, type, output: image, sourceDateEpoch: EPOCH });
    expect(result.size).toBe((await stat(image)).size);
    expect(result.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    if (type === 'erofs') {
      const { stdout, stderr } = await run('fsck.erofs', [image]);
      expect(`${stdout}${stderr}`).not.toMatch(/corrupt|error|fail/i);
    } else if (type === 'squashfs') {
      const { stdout } = await run('unsquashfs', ['-lls', '-n', image]);
      expect(stdout).toContain('squashfs-root/usr/bin/ping');
    } else {
      await run('e2fsck', ['-fn', image]);
    }
    const expected = await snapshotRootfs(tree, {
      xattrs: true,
      nlink: type !== 'ext4',
      seconds: type === 'squashfs',
    });
    const mounted = await withMounted(image, type, async (mnt) => {
      const snap = await snapshotDirectory(mnt, { xattrs: true, nlink: type !== 'ext4' });
      // every file's digests as sha256sum/sha1sum see them
      for (const { path, node } of tree.walk()) {
        if (node.inode.type !== 'file') continue;
        expect(result.files.get(node.inode.id), path).toEqual(await fileDigests(join(mnt, path)));
      }
      return snap;
    });
    if (type === 'ext4') {
      expect(mounted['lost+found']).toMatchObject({ type: 'directory', mode: 0o700 });
      delete mounted['lost+found'];
    }
    // sqfstar 4.5.1 gives the root directory the build time and root:root
    if (type === 'squashfs') Object.assign(expected['']!, { mtime: `${EPOCH}.000000000`, uid: 0, gid: 0 });
    expect(mounted).toEqual(expected);
    // the same tree again, elsewhere, later: the same bytes
    await new Promise((r) => setTimeout(r, 1100));
    const again = await writeFilesystem({
      tree: await sampleTree(),
      type,
      output: join(dir, `b-${type}.img`),
      sourceDateEpoch: EPOCH,
    });
    expect(again.digest).toBe(result.digest);
    expect(Buffer.compare(await readFile(image), await readFile(again.path))).toBe(0);
  });
});

describe('writeFilesystem ext4 staging', () => {
  it('gives the same bytes whatever filesystem stages the tree (readdir order differs on tmpfs)', async () => {
    const tree = await sampleTree();
    await applyLayers({
      tree,
      layers: Array.from({ length: 300 }, (_, i) => ({
        type: 'file' as const,
        path: `/big/f-${(i * 7919) % 1000}`,
        content: String(i),
        owner: { user: 0, group: 0 },
        mode: 0o644,
      })),
      variables: {},
      sourceDateEpoch: EPOCH,
    });
    const a = await writeFilesystem({
      tree,
      type: 'ext4',
      output: join(dir, 'stage-a.img'),
      sourceDateEpoch: EPOCH,
      tempDir: '/dev/shm',
    });
    const b = await writeFilesystem({
      tree,
      type: 'ext4',
      output: join(dir, 'stage-b.img'),
      sourceDateEpoch: EPOCH,
      tempDir: dir,
    });
    expect(a.digest).toBe(b.digest);
  });
});

describe('missing tools', () => {
  it('names the Debian package to install', async () => {
    const tree = await sampleTree();
    const saved = process.env.PATH;
    process.env.PATH = join(dir, 'no-tools');
    try {
      for (const [type, pkg] of [
        ['squashfs', 'squashfs-tools'],
        ['ext4', 'e2fsprogs'],
      ] as const) {
        const output = join(dir, `missing.${type}`);
        const error = (await writeFilesystem({ tree, type, output, sourceDateEpoch: EPOCH }).catch(
          (e: unknown) => e,
        )) as DroverError;
        expect(isDroverError(error, 'TOOL_UNAVAILABLE'), String(error)).toBe(true);
        expect(error.kind).toBe('unavailable');
        expect(error.hint).toContain(pkg);
        await expect(stat(output)).rejects.toThrow();
      }
      const error = (await writeRootfsTar({
        tree,
        output: join(dir, 'x.tar.zst'),
        compression: 'zstd',
      }).catch((e: unknown) => e)) as DroverError;
      expect(isDroverError(error, 'TOOL_UNAVAILABLE')).toBe(true);
      expect(error.hint).toContain('zstd');
    } finally {
      process.env.PATH = saved;
    }
    expect((await readdir(dir)).filter((n) => n.endsWith('.partial'))).toEqual([]);
  });
});

describe('tool failures', () => {
  it('reports a failing tool with its message and leaves no partial output', async () => {
    const tree = await sampleTree();
    const output = join(dir, 'bad.squashfs');
    const error = (await writeFilesystem({
      tree,
      type: 'squashfs',
      output,
      sourceDateEpoch: EPOCH,
      extraArgs: ['-no-such-flag'],
    }).catch((e: unknown) => e)) as DroverError;
    expect(isDroverError(error, 'ROOTFS_SQUASHFS_FAILED'), String(error)).toBe(true);
    expect(error.message).toMatch(/invalid option/);
    await expect(stat(output)).rejects.toThrow();
    const usage = await writeFilesystem({
      tree,
      type: 'squashfs',
      output,
      sourceDateEpoch: EPOCH,
      compression: 'brotli',
    }).catch((e: unknown) => e);
    expect(isDroverError(usage, 'ROOTFS_SQUASHFS_COMPRESSION')).toBe(true);
    const erofs = await writeFilesystem({
      tree,
      type: 'erofs',
      output,
      sourceDateEpoch: EPOCH,
      compression: 'lz4',
    }).catch((e: unknown) => e);
    expect(isDroverError(erofs, 'ROOTFS_EROFS_COMPRESSION')).toBe(true);
    const label = await writeFilesystem({
      tree,
      type: 'erofs',
      output,
      sourceDateEpoch: EPOCH,
      label: 'a-label-too-long-for-erofs',
    }).catch((e: unknown) => e);
    expect(isDroverError(label, 'EROFS_INVALID_OPTION')).toBe(true);
    expect((await readdir(dir)).filter((n) => n.endsWith('.partial'))).toEqual([]);
  });

  it('fails with an integrity error, and writes nothing, when the base changed after it was read', async () => {
    const tree = await sampleTree();
    const tarPath = join(dir, 'base.tar.gz');
    const bytes = await readFile(tarPath);
    bytes[bytes.length - 6]! ^= 0xff; // inside the gzip trailer: the content pass reads other bytes now
    await writeFile(tarPath, bytes);
    const output = join(dir, 'changed.erofs');
    const error = await writeFilesystem({ tree, type: 'erofs', output, sourceDateEpoch: EPOCH }).catch(
      (e: unknown) => e,
    );
    expect(isDroverError(error) && (error as DroverError).kind, String(error)).toBe('integrity');
    await expect(stat(output)).rejects.toThrow();
  });
});
