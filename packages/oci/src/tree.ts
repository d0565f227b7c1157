import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { type Context, type DigestString, DroverError, throwIfAborted } from '@drover/core';
import { type Compression, decompressChunks } from './decompress.js';
import type { Descriptor } from './media-types.js';
import { ByteReader, type Timespec } from './tar.js';

/**
 * The flattened root filesystem tree: the data model `@drover/oci` hands to the image builder.
 *
 * - A {@link TreeNode} is a directory entry (a name in its parent). A {@link TreeInode} is the file itself:
 *   type, mode, owner, times, xattrs, link target, device numbers and a {@link FileContent} reference.
 *   Hardlinks are several nodes sharing one inode object (`inode.nlink` counts them).
 * - File content is never copied: a layer file points at its layer blob and the byte offset of its data in
 *   the layer's uncompressed tar stream. Read it with {@link RootfsTree.openContent} (random access; costly
 *   on gzip/zstd layers) or, to read many files, {@link RootfsTree.forEachContent} (one ordered pass per layer).
 * - Directory children are kept in a Map; {@link RootfsTree.children} and {@link RootfsTree.walk} return them
 *   sorted by the byte order of their UTF-8 names, so every traversal is deterministic.
 */
export type TreeNodeType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo';

/** File content that lives in a layer blob: bytes `[offset, offset+size)` of the layer's uncompressed stream. */
export interface LayerContent {
  kind: 'layer';
  /** Index into {@link RootfsTree.layers}. */
  layer: number;
  /** Offset of the first byte in the uncompressed tar stream of the layer. */
  offset: number;
  size: number;
}

/** File content held in memory (small files added by recipes). */
export interface InlineContent {
  kind: 'inline';
  data: Uint8Array;
}

/** File content in a file on the build host (recipe files); read when the filesystem is written. */
export interface HostFileContent {
  kind: 'host';
  path: string;
  size: number;
}

/** Where a regular file's bytes come from. */
export type FileContent = LayerContent | InlineContent | HostFileContent;

/** An inode: everything about a file except its names. */
export interface TreeInode {
  /** Unique within the tree, assigned in creation order. */
  id: number;
  type: TreeNodeType;
  /** Permission bits including setuid, setgid and sticky (`& 0o7777`); the type is in `type`. */
  mode: number;
  uid: number;
  gid: number;
  mtime: Timespec;
  /** Extended attributes (e.g. `security.capability`, `security.selinux`, `user.*`), raw bytes. */
  xattrs: Map<string, Buffer>;
  /** Content size in bytes for files; 0 for other types. */
  size: number;
  /** Symlink target, exactly as stored. */
  target?: string;
  /** Device numbers of char/block devices. */
  devMajor?: number;
  devMinor?: number;
  /** Content of a regular file (absent for empty files). */
  content?: FileContent;
  /** How many tree nodes name this inode (hardlinks). */
  nlink: number;
}

/** A name in a directory. */
export interface TreeNode {
  name: string;
  inode: TreeInode;
  /** Children of a directory (unordered map; use {@link RootfsTree.children} for sorted order). */
  children?: Map<string, TreeNode>;
  /** Index of the layer that last created or changed this entry; -1 for entries created outside layers. */
  origin: number;
}

/** A layer as the tree knows it: where to get its bytes again when files are read. */
export interface LayerSource {
  descriptor: Descriptor;
  /** Digest of the uncompressed tar (`rootfs.diff_ids[i]`), when known; checked while flattening. */
  diffId?: DigestString;
  /** Open the stored blob as it is (compressed), verified against `descriptor.digest` while streaming. */
  open(): Readable;
  /** Random access to raw blob bytes `[start, end]` (inclusive); lets uncompressed layers skip straight to a file. */
  openRange?(start: number, end: number): Readable;
  /** The compression, when known (otherwise detected from the first bytes). */
  compression?: Compression;
}

/** Counts of a tree's entries by type, plus total file bytes. */
export interface TreeSummary {
  entries: number;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  devices: number;
  fifos: number;
  bytes: number;
}

/** One entry of a walk: its path (relative, no leading slash; `''` for the root) and node. */
export interface WalkEntry {
  path: string;
  node: TreeNode;
}

const COLLATOR = (a: string, b: string): number =>
  a === b ? 0 : Buffer.compare(Buffer.from(a), Buffer.from(b));

/** A flattened root filesystem. */
export class RootfsTree {
  readonly root: TreeNode;
  /** The layers file contents refer to, in application order. */
  readonly layers: LayerSource[];
  #nextId = 1;

  constructor(layers: LayerSource[] = []) {
    this.layers = layers;
    this.root = {
      name: '',
      origin: -1,
      inode: this.newInode({ type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: { sec: 0, nsec: 0 } }),
      children: new Map(),
    };
    this.root.inode.nlink = 1;
  }

  /** Make a fresh inode with the next id (nlink 0 until linked with {@link RootfsTree.link}). */
  newInode(
    fields: Omit<TreeInode, 'id' | 'nlink' | 'xattrs' | 'size'> & Partial<Pick<TreeInode, 'xattrs' | 'size'>>,
  ): TreeInode {
    return { xattrs: new Map(), size: 0, ...fields, id: this.#nextId++, nlink: 0 };
  }

  /** The node at `path` (relative or absolute, `/`-separated), without following symlinks. */
  get(path: string): TreeNode | undefined {
    let node: TreeNode | undefined = this.root;
    for (const part of path.split('/')) {
      if (part === '' || part === '.') continue;
      node = node?.children?.get(part);
      if (!node) return undefined;
    }
    return node;
  }

  /** Children of a directory sorted by the byte order of their names. */
  children(node: TreeNode): TreeNode[] {
    if (!node.children) return [];
    return [...node.children.values()].sort((a, b) => COLLATOR(a.name, b.name));
  }

  /** Depth-first, pre-order walk with children sorted by name: a deterministic order for writers. */
  *walk(start: TreeNode = this.root, prefix = ''): Generator<WalkEntry> {
    yield { path: prefix, node: start };
    for (const child of this.children(start)) {
      const path = prefix ? `${prefix}/${child.name}` : child.name;
      if (child.children) yield* this.walk(child, path);
      else yield { path, node: child };
    }
  }

  /** Put `inode` at `name` in directory `parent`, replacing (unlinking) whatever was there. */
  link(parent: TreeNode, name: string, inode: TreeInode, origin: number): TreeNode {
    if (!parent.children) {
      throw new DroverError('TREE_NOT_DIRECTORY', `cannot add ${name}: parent is not a directory`, {
        kind: 'internal',
      });
    }
    const old = parent.children.get(name);
    if (old) this.unlinkNode(old);
    const node: TreeNode = { name, inode, origin };
    if (inode.type === 'dir') node.children = new Map();
    inode.nlink++;
    parent.children.set(name, node);
    return node;
  }

  /** Remove `name` from `parent` (a directory's whole subtree goes with it). */
  unlink(parent: TreeNode, name: string): void {
    const node = parent.children?.get(name);
    if (!node) return;
    this.unlinkNode(node);
    parent.children!.delete(name);
  }

  /** Drop the link counts of a node and, for a directory, of everything below it. */
  private unlinkNode(node: TreeNode): void {
    node.inode.nlink--;
    if (node.children) for (const child of node.children.values()) this.unlinkNode(child);
  }

  /** Count entries by type (hardlinks = names beyond the first of a shared inode). */
  summary(): TreeSummary {
    const s: TreeSummary = {
      entries: 0,
      files: 0,
      dirs: 0,
      symlinks: 0,
      hardlinks: 0,
      devices: 0,
      fifos: 0,
      bytes: 0,
    };
    const seen = new Set<number>();
    for (const { node } of this.walk()) {
      s.entries++;
      const i = node.inode;
      if (seen.has(i.id)) {
        s.hardlinks++;
        continue;
      }
      seen.add(i.id);
      if (i.type === 'file') {
        s.files++;
        s.bytes += i.size;
      } else if (i.type === 'dir') s.dirs++;
      else if (i.type === 'symlink') s.symlinks++;
      else if (i.type === 'fifo') s.fifos++;
      else s.devices++;
    }
    return s;
  }

  /**
   * Open one file's content. Uncompressed layers with random access seek straight to it; compressed layers
   * are decompressed from the start up to the file (use {@link RootfsTree.forEachContent} for many files).
   * The layer blob was verified against its digest when the tree was built.
   */
  openContent(inode: TreeInode): Readable {
    const content = inode.content;
    if (!content || inode.size === 0) return Readable.from([]);
    if (content.kind === 'inline') return Readable.from([Buffer.from(content.data)]);
    if (content.kind === 'host') return createReadStream(content.path);
    const layer = this.layerOf(content);
    if (layer.openRange && layer.compression === 'none') {
      return layer.openRange(content.offset, content.offset + content.size - 1);
    }
    return Readable.from(
      (async function* () {
        // opened only once the stream is read, so a stream dropped unread holds no file
        const reader = new ByteReader(decompressChunks(layer.open()));
        try {
          await reader.skip(content.offset);
          yield* reader.take(content.size);
        } finally {
          await reader.close(); // the rest of the layer is not needed: close its file now
        }
      })(),
    );
  }

  /**
   * Read the content of every file (each shared inode once) in one ordered pass per layer: layers in order,
   * files in blob order. `visit` must consume or drop `data` before returning. Data is verified against the
   * layer digest only when the pass over that layer completes, so treat output as provisional until this
   * promise resolves.
   */
  async forEachContent(
    visit: (inode: TreeInode, data: AsyncIterable<Buffer>) => Promise<void>,
    ctx: Context = {},
  ): Promise<void> {
    const byLayer = new Map<number, TreeInode[]>();
    const seen = new Set<number>();
    const inline: TreeInode[] = [];
    for (const { node } of this.walk()) {
      const inode = node.inode;
      if (inode.type !== 'file' || seen.has(inode.id)) continue;
      seen.add(inode.id);
      const content = inode.content;
      if (!content || inode.size === 0) continue;
      if (content.kind !== 'layer') inline.push(inode);
      else {
        const list = byLayer.get(content.layer) ?? [];
        list.push(inode);
        byLayer.set(content.layer, list);
      }
    }
    for (const [index, inodes] of [...byLayer].sort((a, b) => a[0] - b[0])) {
      throwIfAborted(ctx);
      inodes.sort((a, b) => (a.content as LayerContent).offset - (b.content as LayerContent).offset);
      const reader = new ByteReader(
        decompressChunks(this.layerOf({ kind: 'layer', layer: index, offset: 0, size: 0 }).open()),
      );
      try {
        for (const inode of inodes) {
          const content = inode.content as LayerContent;
          await reader.skip(content.offset - reader.position);
          const start = reader.position;
          await visit(inode, reader.take(content.size));
          const left = start + content.size - reader.position;
          if (left > 0) await reader.skip(left);
        }
        await reader.drain(); // completes the digest check of the layer blob
      } finally {
        await reader.close(); // after a failure: release the layer's file and hashing session
      }
    }
    for (const inode of inline) {
      throwIfAborted(ctx);
      await visit(inode, this.openContent(inode) as AsyncIterable<Buffer>);
    }
  }

  private layerOf(content: LayerContent): LayerSource {
    const layer = this.layers[content.layer];
    if (!layer) {
      throw new DroverError(
        'TREE_LAYER_MISSING',
        `content refers to layer ${content.layer}, which the tree does not have`,
        {
          kind: 'internal',
        },
      );
    }
    return layer;
  }
}
