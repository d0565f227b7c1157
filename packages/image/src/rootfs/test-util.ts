// Helpers shared by the rootfs tests (not exported from the package).
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { type RootfsTree, type TarWriteEntry, writeTar } from '@drover/oci';
import { type EntrySnapshot, run, scratch, type TreeSnapshot } from '../../test/helpers.js';

export const CAPABILITY = Buffer.from('0100000200040000000000000000000000000000', 'hex');
export const EPOCH = 1_700_000_000;

export function pattern(seed: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** The entries of a base image with every feature: all types, hardlinks, xattrs, setuid, big ids, ns times. */
export function baseEntries(): TarWriteEntry[] {
  const t = (sec: number, nsec = 0) => ({ sec, nsec });
  return [
    { path: './', type: 'dir', mode: 0o755, mtime: t(EPOCH - 100) },
    { path: 'etc/', type: 'dir', mode: 0o755, mtime: t(EPOCH - 50, 5) },
    {
      path: 'etc/passwd',
      type: 'file',
      mode: 0o644,
      mtime: t(EPOCH - 50),
      content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n',
    },
    {
      path: 'etc/group',
      type: 'file',
      mode: 0o644,
      mtime: t(EPOCH - 50),
      content: 'root:x:0:\nstaff:x:50:\napp:x:1001:\n',
    },
    { path: 'usr/', type: 'dir', mode: 0o755, mtime: t(EPOCH - 10) },
    { path: 'usr/bin/', type: 'dir', mode: 0o755, mtime: t(EPOCH - 10) },
    {
      path: 'usr/bin/ping',
      type: 'file',
      mode: 0o4755,
      uid: 0,
      gid: 0,
      mtime: t(EPOCH - 20, 123_456_789),
      content: pattern(1, 10_000),
      xattrs: { 'security.capability': CAPABILITY, 'user.note': 'hi' },
    },
    {
      path: 'usr/bin/big',
      type: 'file',
      mode: 0o755,
      uid: 70_000,
      gid: 70_001,
      mtime: t(EPOCH + 5000),
      content: pattern(2, 300_000),
    },
    { path: 'usr/bin/same', type: 'hardlink', linkname: 'usr/bin/big' },
    { path: 'usr/bin/empty', type: 'file', mode: 0o600, mtime: t(EPOCH - 1) },
    { path: 'usr/bin/sh', type: 'symlink', linkname: 'busybox', mtime: t(EPOCH - 1) },
    { path: 'usr/bin/busybox', type: 'file', mode: 0o755, mtime: t(EPOCH - 1), content: pattern(3, 4096) },
    { path: 'usr/lib/', type: 'dir', mode: 0o755, mtime: t(EPOCH - 1) },
    {
      path: `usr/lib/${'long-name-'.repeat(20)}.so`,
      type: 'file',
      mode: 0o644,
      mtime: t(EPOCH - 1),
      content: 'x',
    },
    { path: 'dev/', type: 'dir', mode: 0o755, mtime: t(EPOCH - 1) },
    { path: 'dev/null', type: 'char', mode: 0o666, devMajor: 1, devMinor: 3, mtime: t(EPOCH - 1) },
    { path: 'dev/sda1', type: 'block', mode: 0o660, gid: 6, devMajor: 8, devMinor: 1, mtime: t(EPOCH - 1) },
    { path: 'dev/initctl', type: 'fifo', mode: 0o600, mtime: t(EPOCH - 1) },
    { path: 'lib', type: 'symlink', linkname: 'usr/lib', mtime: t(EPOCH - 1) },
    { path: 'tmp/', type: 'dir', mode: 0o1777, mtime: t(EPOCH - 1) },
    { path: 'var/', type: 'dir', mode: 0o755, mtime: t(EPOCH - 1) },
    { path: 'var/run', type: 'symlink', linkname: '../run', mtime: t(EPOCH - 1) },
    { path: 'run/', type: 'dir', mode: 0o755, mtime: t(EPOCH - 1) },
  ];
}

/** Write entries as a tar (optionally gzip) file. */
export async function writeTarFile(path: string, entries: TarWriteEntry[], gzip = false): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of writeTar(entries)) chunks.push(c);
  const tar = Buffer.concat(chunks);
  await writeFile(path, gzip ? gzipSync(tar) : tar);
}

export interface TreeSnapshotOptions {
  xattrs?: boolean;
  nlink?: boolean;
  /** Drop nanoseconds (squashfs keeps seconds only). */
  seconds?: boolean;
  /** Leave out paths (e.g. lost+found). */
  skip?: (path: string) => boolean;
}

/** What a correct image of `tree` must show when mounted (the format of `snapshotDirectory`). */
export async function snapshotRootfs(
  tree: RootfsTree,
  options: TreeSnapshotOptions = {},
): Promise<TreeSnapshot> {
  const out: TreeSnapshot = {};
  const groups = new Map<number, string[]>();
  const hashes = new Map<number, string>();
  for (const { path, node } of tree.walk()) {
    const i = node.inode;
    const e: EntrySnapshot = {
      type: i.type === 'dir' ? 'directory' : i.type,
      mode: i.mode & 0o7777,
      uid: i.uid,
      gid: i.gid,
      mtime: `${i.mtime.sec}.${options.seconds ? '000000000' : String(i.mtime.nsec).padStart(9, '0')}`,
    };
    if (i.type === 'file') {
      e.size = i.size;
      let h = hashes.get(i.id);
      if (!h) {
        const hash = createHash('sha256');
        for await (const c of tree.openContent(i)) hash.update(c as Buffer);
        h = hash.digest('hex');
        hashes.set(i.id, h);
      }
      e.sha256 = h;
    }
    if (i.type === 'symlink') e.target = i.target ?? '';
    if (i.type === 'char' || i.type === 'block') e.rdev = `${i.devMajor}:${i.devMinor}`;
    if (options.nlink) {
      e.nlink =
        i.type === 'dir'
          ? 2 + [...(node.children?.values() ?? [])].filter((c) => c.inode.type === 'dir').length
          : i.nlink;
    }
    if (options.xattrs && i.xattrs.size > 0) {
      e.xattrs = Object.fromEntries([...i.xattrs].map(([k, v]) => [k, v.toString('hex')]));
    }
    if (i.type !== 'dir') {
      const list = groups.get(i.id) ?? [];
      list.push(path);
      groups.set(i.id, list);
    }
    out[path] = e;
  }
  for (const paths of groups.values()) {
    if (paths.length < 2) continue;
    const first = [...paths].sort()[0]!;
    for (const p of paths) out[p]!.linkGroup = first;
  }
  return out;
}

/** Mount an image read-only on a loop device for the duration of `fn`. */
export async function withMounted<T>(
  image: string,
  type: 'erofs' | 'squashfs' | 'ext4',
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await scratch('mnt');
  try {
    await run('mount', ['-t', type, '-o', type === 'ext4' ? 'ro,loop,noload' : 'ro,loop', image, dir]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  try {
    return await fn(dir);
  } finally {
    await run('umount', [dir]);
    await rm(dir, { recursive: true, force: true });
  }
}

/** sha256sum and sha1sum of a file, as `writeFilesystem` reports them. */
export async function fileDigests(path: string): Promise<{ sha256: string; sha1: string }> {
  const [a, b] = await Promise.all([run('sha256sum', [path]), run('sha1sum', [path])]);
  return { sha256: `sha256:${a.stdout.split(' ')[0]}`, sha1: b.stdout.split(' ')[0]! };
}
