import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, scratch } from '../../test/helpers.js';
import { treeFromTar } from './base.js';
import { normalizeTree } from './normalize.js';
import { writeRootfsTar } from './tar-output.js';
import { baseEntries, EPOCH, snapshotRootfs, writeTarFile } from './test-util.js';
import type { FileDigests } from './types.js';

let dir: string;
beforeAll(async () => {
  dir = await scratch('rootfs-tar');
  await writeTarFile(join(dir, 'base.tar.gz'), baseEntries(), true);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function sample() {
  const tree = await treeFromTar({ path: join(dir, 'base.tar.gz') });
  normalizeTree({ tree, sourceDateEpoch: EPOCH });
  return tree;
}

describe('writeRootfsTar', () => {
  it.each([
    'none',
    'gzip',
    'zstd',
    'xz',
  ] as const)('writes a reproducible %s archive that round-trips', async (compression) => {
    const tree = await sample();
    const digests: FileDigests = new Map();
    const a = await writeRootfsTar({ tree, output: join(dir, `a-${compression}.tar`), compression, digests });
    const b = await writeRootfsTar({
      tree: await sample(),
      output: join(dir, `b-${compression}.tar`),
      compression,
    });
    const bytes = await readFile(a.path);
    expect(Buffer.compare(bytes, await readFile(b.path))).toBe(0);
    expect(a.digest).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    expect(a.size).toBe(bytes.length);
    if (compression === 'gzip') expect(bytes.subarray(4, 8).readUInt32LE(0)).toBe(0); // no mtime in the header
    let plain = a.path;
    if (compression === 'xz') {
      plain = join(dir, 'plain.tar');
      await run('sh', ['-c', `xz -dc '${a.path}' > '${plain}'`]);
    }
    // GNU tar reads it, and reading it back gives the same tree
    const { stdout } = await run('tar', ['-tvf', a.path]);
    expect(stdout).toContain('usr/bin/same link to usr/bin/big');
    const back = await treeFromTar({ path: plain });
    expect(await snapshotRootfs(back, { xattrs: true, nlink: true })).toEqual(
      await snapshotRootfs(tree, { xattrs: true, nlink: true }),
    );
    for (const { node } of tree.walk()) {
      if (node.inode.type !== 'file') continue;
      const hash = createHash('sha256');
      for await (const c of tree.openContent(node.inode)) hash.update(c as Buffer);
      expect(digests.get(node.inode.id)?.sha256).toBe(`sha256:${hash.digest('hex')}`);
    }
  });
});
