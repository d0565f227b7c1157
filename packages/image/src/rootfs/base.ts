import { type BigIntStats, createReadStream } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Context,
  DroverError,
  digestFile,
  resolveContext,
  throwIfAborted,
  toDroverError,
} from '@drover/core';
import {
  type Compression,
  type FlattenLimits,
  flattenLayers,
  type LayerSource,
  openVerifiedFile,
  RootfsTree,
  sniffCompression,
  type TreeInode,
  type TreeNode,
} from '@drover/oci';

/** Options for {@link treeFromDirectory}. */
export interface TreeFromDirectoryOptions {
  /** A directory on this machine holding a root filesystem. */
  path: string;
}

/**
 * Read a host directory into a tree (a `directory` base). File contents are referenced, not copied.
 * Types, permission bits, owners, nanosecond mtimes, symlink targets, device numbers and hardlinks (by device
 * and inode) come from `lstat`; extended attributes are not read (Node has no API for them), and sockets are
 * skipped (images cannot hold them).
 */
export async function treeFromDirectory(
  options: TreeFromDirectoryOptions,
  ctx: Context = {},
): Promise<RootfsTree> {
  const { logger } = resolveContext(ctx);
  const rootStat = await lstatOrThrow(options.path);
  if (!rootStat.isDirectory()) {
    throw new DroverError('ROOTFS_BASE_NOT_DIRECTORY', `${options.path} is not a directory`, {
      hint: 'A directory base names the folder that holds the root filesystem.',
      details: { path: options.path },
    });
  }
  const tree = new RootfsTree();
  Object.assign(tree.root.inode, attributes(rootStat));
  const links = new Map<string, TreeInode>();
  let lastYield = performance.now();
  const visit = async (dir: TreeNode, hostDir: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(hostDir);
    } catch (error) {
      throw toDroverError(error, `reading ${hostDir}`);
    }
    names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      if (performance.now() - lastYield > 20) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        lastYield = performance.now();
        throwIfAborted(ctx);
      }
      const path = join(hostDir, name);
      const st = await lstatOrThrow(path);
      const key = `${st.dev}:${st.ino}`;
      const shared = !st.isDirectory() && st.nlink > 1n ? links.get(key) : undefined;
      if (shared) {
        tree.link(dir, name, shared, -1);
        continue;
      }
      let inode: TreeInode;
      if (st.isDirectory()) inode = tree.newInode({ type: 'dir', ...attributes(st) });
      else if (st.isFile()) {
        const size = Number(st.size);
        inode = tree.newInode({ type: 'file', ...attributes(st), size });
        if (size > 0) inode.content = { kind: 'host', path, size };
      } else if (st.isSymbolicLink()) {
        let target: string;
        try {
          target = await readlink(path);
        } catch (error) {
          throw toDroverError(error, `reading ${path}`);
        }
        inode = tree.newInode({ type: 'symlink', ...attributes(st), target });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const rdev = Number(st.rdev);
        inode = tree.newInode({
          type: st.isCharacterDevice() ? 'char' : 'block',
          ...attributes(st),
          devMajor: (rdev >>> 8) & 0xfff,
          devMinor: ((rdev & 0xff) | ((rdev >>> 12) & 0xfff00)) >>> 0,
        });
      } else if (st.isFIFO()) inode = tree.newInode({ type: 'fifo', ...attributes(st) });
      else {
        logger.warn('skipping a socket in the base directory', { path });
        continue;
      }
      if (!st.isDirectory() && st.nlink > 1n) links.set(key, inode);
      const node = tree.link(dir, name, inode, -1);
      if (st.isDirectory()) await visit(node, path);
    }
  };
  await visit(tree.root, options.path);
  return tree;
}

function attributes(st: BigIntStats): Pick<TreeInode, 'mode' | 'uid' | 'gid' | 'mtime'> {
  const ns = st.mtimeNs;
  const nsec = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return {
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: { sec: Number((ns - nsec) / 1_000_000_000n), nsec: Number(nsec) },
  };
}

async function lstatOrThrow(path: string): Promise<BigIntStats> {
  try {
    return await lstat(path, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DroverError('ROOTFS_BASE_MISSING', `${path} does not exist`, {
        kind: 'not-found',
        hint: 'Check the base path in the recipe (relative paths are relative to the recipe).',
        details: { path },
      });
    }
    throw toDroverError(error, `reading ${path}`);
  }
}

/** Options for {@link treeFromTar}. */
export interface TreeFromTarOptions {
  /** A tar archive (plain, gzip or zstd) holding a root filesystem. */
  path: string;
  /** Limits against tar bombs (defaults: those of `flattenLayers`). */
  limits?: Partial<FlattenLimits>;
}

const LAYER_MEDIA_TYPE: Record<Compression, string> = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

/**
 * Read a tar archive into a tree (a `tar` base), with the same safety checks as layer flattening: the file is
 * one layer whose contents stay in the archive. The archive is hashed first, and every later read of it is
 * checked against that digest, so a file that changes during the build is an integrity error.
 */
export async function treeFromTar(options: TreeFromTarOptions, ctx: Context = {}): Promise<RootfsTree> {
  const st = await lstatOrThrow(options.path);
  if (!st.isFile()) {
    throw new DroverError('ROOTFS_BASE_NOT_FILE', `${options.path} is not a file`, {
      hint: 'A tar base names a .tar, .tar.gz or .tar.zst archive.',
      details: { path: options.path },
    });
  }
  let head: Buffer;
  try {
    const handle = await open(options.path, 'r');
    try {
      head = Buffer.alloc(4);
      const { bytesRead } = await handle.read(head, 0, 4, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw toDroverError(error, `reading ${options.path}`);
  }
  const compression = sniffCompression(head);
  const { digest, size } = await digestFile(options.path, { progress: false }, ctx);
  const path = options.path;
  const layer: LayerSource = {
    descriptor: { mediaType: LAYER_MEDIA_TYPE[compression], digest, size },
    compression,
    open: () => openVerifiedFile(path, digest, { size, what: path }),
  };
  if (compression === 'none') {
    layer.openRange = (start, end) => createReadStream(path, { start, end });
  }
  return flattenLayers({ layers: [layer], ...(options.limits ? { limits: options.limits } : {}) }, ctx);
}
