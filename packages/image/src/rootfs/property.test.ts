import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isDroverError } from '@drover/core';
import { RootfsTree } from '@drover/oci';
import type { ResolvedLayer } from '@drover/recipe';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, scratch, snapshotDirectory } from '../../test/helpers.js';
import { writeFilesystem } from './filesystem.js';
import { applyLayers } from './layers.js';
import { normalizeTree } from './normalize.js';
import { EPOCH, fileDigests, snapshotRootfs, withMounted } from './test-util.js';

let dir: string;
beforeAll(async () => {
  dir = await scratch('rootfs-prop');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const name = fc.constantFrom('a', 'b', 'c d', 'é', 'long-'.repeat(30), '.hidden', 'x'.repeat(255));
const path = fc.array(name, { minLength: 1, maxLength: 3 }).map((parts) => `/${parts.join('/')}`);
const owner = fc.record({
  user: fc.constantFrom(0, 1, 1000, 70_000),
  group: fc.constantFrom(0, 5, 65_535, 80_000),
});
const layer: fc.Arbitrary<ResolvedLayer> = fc.oneof(
  fc.record({
    type: fc.constant('file' as const),
    path,
    content: fc.oneof(
      fc.string({ maxLength: 50 }),
      fc.nat({ max: 9000 }).map((n) => 'z'.repeat(n)),
    ),
    owner,
    mode: fc.constantFrom(0o644, 0o600, 0o4755, 0o2711, 0o1777),
  }),
  fc.record({
    type: fc.constant('directory' as const),
    path,
    owner,
    mode: fc.constantFrom(0o755, 0o700, 0o1777, 0o2750),
  }),
  fc.record({
    type: fc.constant('symlink' as const),
    path,
    target: fc.constantFrom('a', '../b', '/c d', 'nowhere', 'x'.repeat(300)),
    owner,
  }),
  fc.record({ type: fc.constant('remove' as const), paths: fc.array(path, { maxLength: 2 }) }),
);
const xattr = fc.array(
  fc.tuple(
    fc.constantFrom('user.a', 'user.long.name', 'trusted.t', 'security.selinux'),
    fc.uint8Array({ minLength: 1, maxLength: 40 }),
  ),
  { maxLength: 3 },
);

/** Apply layers one by one, skipping those the tree refuses (a path through a file, a symlink loop). */
async function build(
  layers: ResolvedLayer[],
  xattrs: Array<Array<[string, Uint8Array]>>,
): Promise<RootfsTree> {
  const tree = new RootfsTree();
  for (const l of layers) {
    try {
      await applyLayers({ tree, layers: [l], variables: {}, sourceDateEpoch: EPOCH });
    } catch (error) {
      const expected = ['LAYER_PATH_NOT_DIRECTORY', 'LAYER_SYMLINK_LOOP', 'LAYER_PATH_INVALID'];
      if (!expected.some((code) => isDroverError(error, code))) throw error;
    }
  }
  // (Linux keeps user.* xattrs off symlinks and devices, so only files and directories get them; the root
  // always has one, so every image has an xattr table to list.)
  tree.root.inode.xattrs.set('user.root', Buffer.from('1'));
  const anchor = tree.newInode({ type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: { sec: 1, nsec: 0 } });
  anchor.xattrs.set('user.anchor', Buffer.from('1'));
  tree.link(tree.root, '.anchor', anchor, -1);
  let i = 0;
  for (const { node } of tree.walk()) {
    if (node.inode.type !== 'file' && node.inode.type !== 'dir') continue;
    const list = xattrs[i++ % Math.max(1, xattrs.length)] ?? [];
    for (const [k, v] of list) node.inode.xattrs.set(k, Buffer.from(v));
  }
  normalizeTree({ tree, sourceDateEpoch: EPOCH });
  return tree;
}

describe.each([
  ['erofs', 8],
  ['squashfs', 4],
  ['ext4', 4],
] as const)('random trees through applyLayers and writeFilesystem %s', (type, numRuns) => {
  it('mount equal to the tree, digests right, tools accept the image', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(layer, { minLength: 1, maxLength: 25 }),
        fc.array(xattr, { maxLength: 4 }),
        async (layers, xattrs) => {
          const tree = await build(layers, xattrs);
          const image = join(dir, `p.${type}`);
          const result = await writeFilesystem({ tree, type, output: image, sourceDateEpoch: EPOCH });
          if (type === 'erofs') {
            const { stdout, stderr } = await run('fsck.erofs', [image]);
            expect(`${stdout}${stderr}`).not.toMatch(/corrupt|error|fail/i);
          } else if (type === 'ext4') await run('e2fsck', ['-fn', image]);
          else await run('unsquashfs', ['-l', '-n', image]);
          const expected = await snapshotRootfs(tree, { xattrs: true });
          if (type === 'squashfs') {
            // sqfstar 4.5.1 gives the root its build time and cannot store xattrs on it
            expected['']!.mtime = `${EPOCH}.000000000`;
            delete expected['']!.xattrs;
          }
          const mounted = await withMounted(image, type, async (mnt) => {
            for (const { path: p, node } of tree.walk()) {
              if (node.inode.type === 'file')
                expect(result.files.get(node.inode.id)).toEqual(await fileDigests(join(mnt, p)));
            }
            return snapshotDirectory(mnt, { xattrs: true });
          });
          if (type === 'ext4') delete mounted['lost+found'];
          expect(mounted).toEqual(expected);
        },
      ),
      { numRuns },
    );
  }, 120_000);
});
