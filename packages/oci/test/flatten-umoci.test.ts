import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flattenImage, type ImageLayout, openLayout, type TarWriteEntry, writeImage } from '../src/index.js';
import { plain, snapshotDisk, snapshotTree, tempDir, umociUnpack } from './helpers.js';

const d = (path: string, mode = 0o755, extra: Partial<TarWriteEntry> = {}): TarWriteEntry => ({
  path,
  type: 'dir',
  mode,
  ...extra,
});
const f = (
  path: string,
  content: string,
  mode = 0o644,
  extra: Partial<TarWriteEntry> = {},
): TarWriteEntry => ({
  path,
  type: 'file',
  mode,
  content,
  ...extra,
});
const wh = (path: string): TarWriteEntry => ({ path, type: 'file', mode: 0, content: '' });

const long145 = `deep/${'d'.repeat(60)}/${'e'.repeat(70)}/x.txt`;
const long120 = `opt/${'d'.repeat(120)}/file.txt`;
const long150 = `gnu/${'g'.repeat(150)}.txt`;

/** Layers modelled on the facts sheet's test image: whiteouts, opaque dirs, hardlinks across layers. */
export const LAYERS: Array<{ entries: TarWriteEntry[]; format?: 'gnu'; compression?: 'gzip' | 'none' }> = [
  {
    entries: [
      d('bin/'),
      f('bin/hl1', 'hardlinked'),
      { path: 'bin/orig', type: 'hardlink', linkname: 'bin/hl1' },
      f('bin/suid', 'suid', 0o4755),
      d('data/'),
      d('data/dir/'),
      f('data/dir/x', 'x'),
      f('data/dir/y', 'y'),
      d('etc/'),
      f('etc/a.txt', 'a'),
      f('etc/xattr.txt', 'xattr', 0o644, { xattrs: { 'user.foo': 'bar' } }),
      d('home/'),
      d('home/user/', 0o750, { uid: 1000, gid: 1000 }),
      f('home/user/owned', 'mine', 0o640, { uid: 1000, gid: 1000 }),
      d('keep/'),
      f('keep/thing', 'thing'),
      { path: 'link', type: 'symlink', linkname: '/etc/a.txt' },
      f(long145, 'long'),
    ],
  },
  {
    compression: 'none',
    entries: [
      wh('etc/.wh.a.txt'),
      wh('data/dir/.wh.x'),
      wh('data/dir/.wh.y'),
      f('data/dir/z', 'z'),
      d('keep/thing/'),
      f('keep/thing/inner', 'inner'),
      { path: 'bin/hl2', type: 'hardlink', linkname: 'bin/hl1' },
    ],
  },
  {
    entries: [
      d('data/'),
      wh('data/.wh..wh..opq'),
      f('data/new.txt', 'new'),
      f('keep/thing', 'file again', 0o600),
      wh('bin/.wh.hl1'),
      f('etc/xattr.txt', 'same-layer', 0o644, { xattrs: { 'user.new': 'val' } }),
      wh('etc/.wh.xattr.txt'),
      wh('home/.wh.user'),
      f(long120, 'pax long'),
      { path: 'link', type: 'symlink', linkname: 'data/new.txt' },
    ],
  },
  {
    format: 'gnu',
    entries: [
      d('gnu/'),
      f(long150, 'gnu long'),
      { path: 'gnu/hard', type: 'hardlink', linkname: 'data/new.txt' },
      wh('data/.wh.new.txt'),
    ],
  },
  {
    entries: [
      d('opt/', 0o700),
      f('opt/fresh.txt', 'fresh'),
      wh('opt/.wh..wh..opq'),
      wh('bin/.wh.suid'),
      f('bin/suid', 'recreated', 0o755),
      wh('nonexistent/.wh.ghost'),
    ],
  },
];

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
