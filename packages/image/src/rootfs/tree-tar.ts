import { Readable } from 'node:stream';
import type { Context } from '@drover/core';
import type { RootfsTree, TarWriteEntry, TreeInode } from '@drover/oci';
import { hashing, recordEmpty } from './digests.js';
import { Rendezvous } from './rendezvous.js';
import type { FileDigests } from './types.js';

/** Options for {@link treeTarEntries}. */
export interface TreeTarOptions {
  /** Emit the root directory as `./` (default true). */
  includeRoot?: boolean;
  /** Filled with the digests of every regular file as its content streams by. */
  digests?: FileDigests;
}

/**
 * The tree as tar members, deterministically, reading every layer blob once:
 * 1. in path order (names sorted by bytes): directories (`a/b/`), symlinks, devices, fifos, empty files and
 *    hardlinks to those;
 * 2. then the files with content, in the order `forEachContent` reads them (layer by layer, blob order; then
 *    inline and host files in path order), each followed by its other names as hardlinks.
 * Times are the tree's (seconds plus PAX nanoseconds when non-zero); owners are numeric only (no names).
 */
export async function* treeTarEntries(
  tree: RootfsTree,
  options: TreeTarOptions = {},
  ctx: Context = {},
): AsyncGenerator<TarWriteEntry> {
  const includeRoot = options.includeRoot ?? true;
  const digests = options.digests;
  const first = new Map<number, string>();
  const withContent = new Map<number, string[]>();
  for (const { path, node } of tree.walk()) {
    const inode = node.inode;
    if (inode.type === 'file' && inode.content && inode.size > 0) {
      const list = withContent.get(inode.id) ?? [];
      list.push(path);
      withContent.set(inode.id, list);
      continue;
    }
    if (path === '' && !includeRoot) continue;
    const name = path === '' ? './' : inode.type === 'dir' ? `${path}/` : path;
    const seen = first.get(inode.id);
    if (seen !== undefined && inode.type !== 'dir') {
      yield { ...meta(inode), path: name, type: 'hardlink', linkname: seen };
      continue;
    }
    first.set(inode.id, path);
    if (inode.type === 'file') {
      if (digests) recordEmpty(digests, inode);
      yield { ...entryOf(inode, name), content: new Uint8Array(0) };
    } else yield entryOf(inode, name);
  }
  if (withContent.size === 0) return;
  const channel = new Rendezvous<TarWriteEntry>();
  const producing = tree
    .forEachContent(async (inode, data) => {
      const paths = withContent.get(inode.id)!;
      const source = digests ? hashing(inode, data, digests) : data;
      await channel.send({
        ...entryOf(inode, paths[0]!),
        size: inode.size,
        open: () => Readable.from(source),
      });
      for (const path of paths.slice(1)) {
        await channel.send({ ...meta(inode), path, type: 'hardlink', linkname: paths[0]! });
      }
    }, ctx)
    .then(
      () => channel.close(),
      (error: unknown) => channel.close(error),
    );
  try {
    yield* channel.values();
  } finally {
    await producing;
  }
}

function meta(inode: TreeInode): Pick<TarWriteEntry, 'mode' | 'uid' | 'gid' | 'mtime'> {
  return { mode: inode.mode & 0o7777, uid: inode.uid, gid: inode.gid, mtime: { ...inode.mtime } };
}

function entryOf(inode: TreeInode, path: string): TarWriteEntry {
  const e: TarWriteEntry = { ...meta(inode), path, type: inode.type as TarWriteEntry['type'] };
  if (inode.xattrs.size > 0) {
    e.xattrs = Object.fromEntries([...inode.xattrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  if (inode.type === 'symlink') e.linkname = inode.target ?? '';
  if (inode.type === 'char' || inode.type === 'block') {
    e.devMajor = inode.devMajor ?? 0;
    e.devMinor = inode.devMinor ?? 0;
  }
  return e;
}
