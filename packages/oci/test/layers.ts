import type { TarWriteEntry } from '../src/index.js';

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
