import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flattenImage, type ImageLayout, openLayout, writeImage } from '../src/index.js';
import { plain, snapshotDisk, snapshotTree, tempDir, umociUnpack } from './helpers.js';
import { LAYERS } from './layers.js';

describe('flattening agrees with umoci unpack', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let layout: ImageLayout;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    layout = await openLayout({ dir: join(dir, 'img'), create: true });
    for (let n = 1; n <= LAYERS.length; n++) {
      await writeImage({
        layout,
        tag: `layer${n}`,
        layers: LAYERS.slice(0, n).map((l) => ({
          entries: l.entries,
          ...(l.compression ? { compression: l.compression } : {}),
          ...(l.format ? { tar: { format: l.format } } : {}),
        })),
      });
    }
  });
  afterAll(() => cleanup());

  for (let n = 1; n <= 5; n++) {
    it(`layer${n}: names, types, modes, link targets, hardlinks and contents match`, async () => {
      const rootfs = await umociUnpack(layout.dir, `layer${n}`, join(dir, `bundle${n}`));
      const disk = await snapshotDisk(rootfs);
      const { tree } = await flattenImage({ layout, reference: `layer${n}` });
      const ours = await snapshotTree(tree);
      expect(disk.size).toBeGreaterThan(8);
      // umoci gives the rootfs directory itself its own mode; compare everything below it
      disk.delete('');
      ours.delete('');
      expect(plain(ours)).toEqual(plain(disk));
    });
  }

  it('keeps owners, xattrs and the facts-sheet results of the top image', async () => {
    const { tree } = await flattenImage({ layout, reference: 'layer2' });
    expect(tree.get('home/user')!.inode).toMatchObject({ uid: 1000, gid: 1000, mode: 0o750 });
    expect(tree.get('etc/xattr.txt')!.inode.xattrs.get('user.foo')?.toString()).toBe('bar');
    const top = (await flattenImage({ layout, reference: 'layer5' })).tree;
    expect(top.get('etc/xattr.txt')!.inode.xattrs.get('user.new')?.toString()).toBe('val');
    expect(top.get('gnu/hard')!.inode.nlink).toBe(1);
    expect(top.get('bin/orig')!.inode).toBe(top.get('bin/hl2')!.inode);
    expect(top.get('bin/orig')!.inode.nlink).toBe(2);
    expect(top.get('keep/thing')!.inode).toMatchObject({ type: 'file', mode: 0o600 });
    expect(top.get('home/user')).toBeUndefined();
    expect(top.get('nonexistent')).toBeUndefined();
    // reading layers one at a time or all at once gives the same tree
    const serial = await flattenImage({ layout, reference: 'layer5', concurrency: 1 });
    const wide = await flattenImage({ layout, reference: 'layer5', concurrency: 5 });
    expect(plain(await snapshotTree(serial.tree))).toEqual(plain(await snapshotTree(wide.tree)));
    const controller = new AbortController();
    controller.abort();
    await expect(
      flattenImage({ layout, reference: 'layer5' }, { signal: controller.signal }),
    ).rejects.toMatchObject({
      code: 'ABORTED',
    });
  });
});
