import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ErofsDirectory, ErofsNode } from '../src/index.js';

export const run = promisify(execFile);

/** What a test compares for one path: everything an EROFS image should preserve. */
export interface EntrySnapshot {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: string;
  size?: number;
  target?: string;
  rdev?: string;
  sha256?: string;
  nlink?: number;
  /** For hardlinks: the first path (sorted) of the group. */
  linkGroup?: string;
  xattrs?: Record<string, string>;
}

export type TreeSnapshot = Record<string, EntrySnapshot>;

export interface SnapshotOptions {
  xattrs?: boolean;
  nlink?: boolean;
  links?: boolean;
  /** Permission bits to compare (fsck --extract drops setuid/setgid when it chowns). */
  modeMask?: number;
}

export async function scratch(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `drover-image-${prefix}-`));
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const XATTR_DUMP = `
import os, sys, json
root = sys.argv[1]
out = {}
for dirpath, dirnames, filenames in os.walk(root):
    for name in [''] + dirnames + filenames:
        p = os.path.join(dirpath, name) if name else dirpath
        rel = os.path.relpath(p, root)
        rel = '' if rel == '.' else rel
        attrs = {}
        for n in os.listxattr(p, follow_symlinks=False):
            attrs[n] = os.getxattr(p, n, follow_symlinks=False).hex()
        if attrs:
            out[rel] = attrs
print(json.dumps(out))
`;

const TYPE_OF = (s: import('node:fs').BigIntStats): string =>
  s.isDirectory()
    ? 'directory'
    : s.isFile()
      ? 'file'
      : s.isSymbolicLink()
        ? 'symlink'
        : s.isCharacterDevice()
          ? 'char'
          : s.isBlockDevice()
            ? 'block'
            : s.isFIFO()
              ? 'fifo'
              : 'socket';

/** `sec.nnnnnnnnn` with floor division, so times before 1970 read like the tree's `{ sec, nsec }`. */
function formatNs(ns: bigint): string {
  const nsec = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return `${(ns - nsec) / 1_000_000_000n}.${String(nsec).padStart(9, '0')}`;
}

/** Snapshot a directory on disk (a mounted image, an extraction, a source tree). */
export async function snapshotDirectory(root: string, options: SnapshotOptions = {}): Promise<TreeSnapshot> {
  const out: TreeSnapshot = {};
  const inodes = new Map<bigint, string[]>();
  const visit = async (rel: string): Promise<void> => {
    const path = rel === '' ? root : join(root, rel);
    const st = await lstat(path, { bigint: true });
    const type = TYPE_OF(st);
    const e: EntrySnapshot = {
      type,
      mode: Number(st.mode & 0o7777n) & (options.modeMask ?? 0o7777),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtime: formatNs(st.mtimeNs),
    };
    if (type === 'file') {
      e.size = Number(st.size);
      e.sha256 = await sha256File(path);
    }
    if (type === 'symlink') e.target = await readlink(path);
    if (type === 'char' || type === 'block') {
      const rdev = Number(st.rdev);
      e.rdev = `${(rdev >>> 8) & 0xfff}:${(rdev & 0xff) | ((rdev >>> 12) & 0xfff00)}`;
    }
    if (options.nlink) e.nlink = Number(st.nlink);
    if (type !== 'directory') {
      const list = inodes.get(st.ino) ?? [];
      list.push(rel);
      inodes.set(st.ino, list);
    }
    out[rel] = e;
    if (type === 'directory') {
      for (const name of await readdir(path)) await visit(rel === '' ? name : `${rel}/${name}`);
    }
  };
  await visit('');
  if (options.links !== false) {
    for (const paths of inodes.values()) {
      if (paths.length < 2) continue;
      const first = [...paths].sort()[0]!;
      for (const p of paths) out[p]!.linkGroup = first;
    }
  }
  if (options.xattrs) {
    const { stdout } = await run('python3', ['-c', XATTR_DUMP, root], { maxBuffer: 1 << 28 });
    const xattrs = JSON.parse(stdout) as Record<string, Record<string, string>>;
    for (const [rel, attrs] of Object.entries(xattrs)) out[rel]!.xattrs = attrs;
  }
  return out;
}

async function contentHash(node: Extract<ErofsNode, { type: 'file' }>): Promise<string> {
  const hash = createHash('sha256');
  const c = node.content;
  if (c instanceof Uint8Array) hash.update(c);
  else if (typeof c === 'function')
    for await (const chunk of (await c()) as AsyncIterable<Uint8Array>) hash.update(chunk);
  else if (c) for await (const chunk of createReadStream(c.path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The snapshot a correct image of `tree` must produce. */
export async function snapshotTree(
  tree: ErofsDirectory,
  options: SnapshotOptions = {},
): Promise<TreeSnapshot> {
  const out: TreeSnapshot = {};
  const groups = new Map<unknown, string[]>();
  const firstNode = new Map<unknown, ErofsNode>();
  const subdirCount = (d: ErofsDirectory): number =>
    [...d.children].filter(([, n]) => n.type === 'directory').length;
  const visit = async (node: ErofsNode, rel: string): Promise<void> => {
    let key: unknown = node;
    if (node.type !== 'directory' && node.linkId !== undefined)
      key = `link:${typeof node.linkId}:${node.linkId}`;
    const sorted = (paths: string[]) => paths.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    if (node.type !== 'directory') {
      const list = groups.get(key) ?? [];
      list.push(rel);
      groups.set(key, list);
      sorted(list);
    }
    // The first name in walk order supplies the metadata of a hardlinked inode.
    const meta = firstNode.get(key) ?? node;
    if (!firstNode.has(key)) firstNode.set(key, node);
    const e: EntrySnapshot = {
      type: meta.type,
      mode: meta.mode & (options.modeMask ?? 0o7777),
      uid: meta.uid,
      gid: meta.gid,
      mtime: `${meta.mtime.sec}.${String(meta.mtime.nsec ?? 0).padStart(9, '0')}`,
    };
    if (meta.type === 'file') {
      e.size = meta.size;
      e.sha256 = await contentHash(meta);
    }
    if (meta.type === 'symlink') e.target = meta.target;
    if (meta.type === 'char' || meta.type === 'block') e.rdev = `${meta.rdev.major}:${meta.rdev.minor}`;
    if (meta.type === 'directory' && options.nlink) e.nlink = 2 + subdirCount(meta);
    if (options.xattrs && meta.xattrs) {
      const entries = meta.xattrs instanceof Map ? [...meta.xattrs] : Object.entries(meta.xattrs);
      if (entries.length > 0)
        e.xattrs = Object.fromEntries(entries.map(([k, v]) => [k, Buffer.from(v).toString('hex')]));
    }
    out[rel] = e;
    if (node.type === 'directory') {
      const children = [...node.children].sort((a, b) =>
        Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])),
      );
      for (const [name, child] of children) await visit(child, rel === '' ? name : `${rel}/${name}`);
    }
  };
  await visit(tree, '');
  for (const paths of groups.values()) {
    if (options.nlink) for (const p of paths) out[p]!.nlink = paths.length;
    if (options.links === false || paths.length < 2) continue;
    const first = [...paths].sort()[0]!;
    for (const p of paths) out[p]!.linkGroup = first;
  }
  return out;
}

/** Mount an EROFS image read-only on a loop device for the duration of `fn`. */
export async function withMountedErofs<T>(image: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await scratch('mnt');
  try {
    await run('mount', ['-t', 'erofs', '-o', 'ro,loop', image, dir]);
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

/** `fsck.erofs --extract` into a fresh directory, returning the fsck output. */
export async function fsckExtract(image: string, into: string): Promise<string> {
  await rm(into, { recursive: true, force: true });
  await mkdir(join(into, '..'), { recursive: true });
  const { stdout, stderr } = await run('fsck.erofs', [`--extract=${into}`, image]);
  return stdout + stderr;
}
