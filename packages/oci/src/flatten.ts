import {
  type Context,
  DroverError,
  parseDigest,
  resolveContext,
  startProgress,
  throwIfAborted,
} from '@drover/core';
import { decompressChunks } from './decompress.js';
import { type HashSession, WorkerHasher } from './hash-worker.js';
import { type ReadTarOptions, readTar, type TarHeader } from './tar.js';
import { type LayerSource, RootfsTree, type TreeInode, type TreeNode } from './tree.js';
import { digestMismatch } from './verify.js';

/** Limits that stop tar bombs and hostile layers. */
export interface FlattenLimits {
  /** Tar members across all layers (default 2,000,000). */
  maxEntries: number;
  /** Sum of regular file sizes across all layers, bytes (default 64 GiB). */
  maxTotalSize: number;
  /** Longest path, bytes (default 4096, Linux PATH_MAX). */
  maxPathLength: number;
  /** Longest single name, bytes (default 255, NAME_MAX). */
  maxNameLength: number;
  /** Largest PAX/GNU metadata record, bytes (default 1 MiB). */
  maxMetadataSize: number;
}

/** The defaults of {@link FlattenLimits}. */
export const DEFAULT_FLATTEN_LIMITS: Readonly<FlattenLimits> = Object.freeze({
  maxEntries: 2_000_000,
  maxTotalSize: 64 * 1024 ** 3,
  maxPathLength: 4096,
  maxNameLength: 255,
  maxMetadataSize: 1 << 20,
});

/** Options for {@link flattenLayers}. */
export interface FlattenOptions {
  /** Layers bottom to top. */
  layers: LayerSource[];
  limits?: Partial<FlattenLimits>;
  /** Check each layer's uncompressed digest against `diffId` when given (default true). */
  verifyDiffIds?: boolean;
  /** Layers read (decompressed and hashed) at once; they are always applied in order (default 2). */
  concurrency?: number;
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const MAX_SYMLINK_HOPS = 40;

function safety(code: string, message: string, hint: string, details: Record<string, unknown>): DroverError {
  return new DroverError(code, message, { kind: 'input', hint, details });
}

/**
 * Apply image layers in order into a {@link RootfsTree}, with OCI whiteout and opaque-directory semantics and
 * the safety checks of a careful unpacker; file contents stay in the layer blobs. Each layer blob is verified
 * against its digest (and diff id) as it streams by.
 */
export async function flattenLayers(options: FlattenOptions, ctx: Context = {}): Promise<RootfsTree> {
  const limits: FlattenLimits = { ...DEFAULT_FLATTEN_LIMITS, ...options.limits };
  const rctx = resolveContext(ctx);
  const tree = new RootfsTree(options.layers);
  const state = { entries: 0, bytes: 0 };
  const total = options.layers.reduce((n, l) => n + l.descriptor.size, 0);
  const progress = startProgress(ctx, {
    task: 'oci.flatten',
    label: 'flattening layers',
    unit: 'bytes',
    total,
  });
  const verify = options.verifyDiffIds ?? true;
  // Layers are read (decompressed, hashed, tar headers parsed) a few at a time in parallel, and applied to the
  // tree strictly in order. Only headers are kept, never file contents, and the entry limit bounds them.
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 2, options.layers.length));
  const hashers =
    verify && options.layers.some((l) => l.diffId)
      ? Array.from({ length: concurrency }, () => new WorkerHasher())
      : [];
  const allHashers = [...hashers];
  const stop = new AbortController();
  const readCtx: Context = { signal: ctx.signal ? AbortSignal.any([ctx.signal, stop.signal]) : stop.signal };
  // a FIFO gate: layers start reading in order, at most `concurrency` at a time, each with a hasher of its own
  let active = 0;
  const waiting: Array<() => void> = [];
  const acquire = (): Promise<void> => {
    if (active < concurrency) {
      active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => waiting.push(resolve));
  };
  const release = (): void => {
    const handOver = waiting.shift();
    if (handOver) handOver();
    else active--;
  };
  const reads = options.layers.map(async (layer, index) => {
    await acquire();
    const hasher = hashers.pop();
    try {
      throwIfAborted(readCtx);
      rctx.logger.debug('reading layer', { index, digest: layer.descriptor.digest });
      return await readLayer(index, layer, limits, state, hasher, progress.advance, readCtx);
    } finally {
      if (hasher) hashers.push(hasher);
      release();
    }
  });
  for (const read of reads) read.catch(() => {});
  try {
    for (let index = 0; index < options.layers.length; index++) {
      throwIfAborted(ctx);
      const headers = await reads[index]!;
      const applier = new LayerApplier(tree, index, limits);
      for (const header of headers) applier.apply(header);
    }
    progress.done(true);
    return tree;
  } catch (error) {
    stop.abort();
    progress.done(false);
    await Promise.allSettled(reads);
    throwIfAborted(ctx);
    throw error;
  } finally {
    await Promise.all(allHashers.map((h) => h.close()));
  }
}

/** Read one layer: verify its digests while streaming, and collect its tar headers (not contents). */
async function readLayer(
  index: number,
  layer: LayerSource,
  limits: FlattenLimits,
  state: { entries: number; bytes: number },
  hasher: WorkerHasher | undefined,
  advance: (n: number) => void,
  ctx: Context,
): Promise<TarHeader[]> {
  const compressed = layer.open();
  const decompressed = decompressChunks(compressed, advance);
  // the diff id is hashed on a worker thread, in parallel with tar parsing and the blob digest check
  const diffSession =
    hasher && layer.diffId ? hasher.session(parseDigest(layer.diffId).algorithm) : undefined;
  const uncompressed = diffSession ? hashedChunks(decompressed, diffSession) : decompressed;
  const tarOptions: ReadTarOptions = { maxMetadataSize: limits.maxMetadataSize };
  const headers: TarHeader[] = [];
  try {
    for await (const entry of readTar(uncompressed, tarOptions)) {
      if (ctx.signal?.aborted) throwIfAborted(ctx);
      if (++state.entries > limits.maxEntries) {
        throw safety(
          'OCI_LIMIT_ENTRIES',
          `the image has more than ${limits.maxEntries} tar entries`,
          'Raise limits.maxEntries if this image is trusted; otherwise it may be a tar bomb.',
          { limit: limits.maxEntries, layer: index },
        );
      }
      if (entry.type === 'file') {
        state.bytes += entry.size;
        if (state.bytes > limits.maxTotalSize) {
          throw safety(
            'OCI_LIMIT_SIZE',
            `the image's files add up to more than ${limits.maxTotalSize} bytes`,
            'Raise limits.maxTotalSize if this image is trusted; otherwise it may be a tar bomb.',
            { limit: limits.maxTotalSize, layer: index },
          );
        }
      }
      const { body: _body, ...header } = entry;
      headers.push(header);
    }
  } catch (error) {
    compressed.destroy();
    await diffSession?.cancel();
    throw error;
  }
  if (diffSession && layer.diffId) {
    const actual = `${parseDigest(layer.diffId).algorithm}:${await diffSession.digest()}`;
    if (actual !== layer.diffId) throw digestMismatch(`layer ${index} diff id`, layer.diffId, actual);
  }
  return headers;
}

/** Applies the members of one layer to the tree. */
class LayerApplier {
  readonly #tree: RootfsTree;
  readonly #layer: number;
  readonly #limits: FlattenLimits;
  /** Paths whited out in this layer, to name them when a hardlink points at one. */
  readonly #whitedOut = new Set<string>();

  constructor(tree: RootfsTree, layer: number, limits: FlattenLimits) {
    this.#tree = tree;
    this.#layer = layer;
    this.#limits = limits;
  }

  apply(entry: TarHeader): void {
    const parts = this.#split(entry.path, 'OCI_PATH_TRAVERSAL', entry);
    if (parts.length === 0) {
      this.#applyRoot(entry);
      return;
    }
    const name = parts[parts.length - 1]!;
    if (name.startsWith(WHITEOUT)) {
      this.#whiteout(parts, entry);
      return;
    }
    if (entry.type === 'other') return; // unknown member types (e.g. GNU volume labels) carry no file
    const parent = this.#resolveDir(parts.slice(0, -1), true, entry.path)!;
    const existing = parent.children!.get(name);
    if (entry.type === 'dir') {
      if (existing?.inode.type === 'dir') {
        this.#setAttributes(existing.inode, entry);
        existing.origin = this.#layer;
        return;
      }
      if (existing) this.#replaceCheck(existing, entry);
      this.#tree.link(parent, name, this.#inode(entry), this.#layer);
      return;
    }
    if (existing?.inode.type === 'dir') this.#replaceCheck(existing, entry);
    if (entry.type === 'hardlink') {
      const target = this.#hardlinkTarget(entry);
      if (target === existing) {
        existing.origin = this.#layer;
        return;
      }
      this.#tree.link(parent, name, target.inode, this.#layer);
      return;
    }
    this.#tree.link(parent, name, this.#inode(entry), this.#layer);
  }

  #applyRoot(entry: TarHeader): void {
    if (entry.type !== 'dir') {
      throw safety(
        'OCI_UNSAFE_REPLACE',
        `layer ${this.#layer} replaces the root directory with a ${entry.type}`,
        'The layer is malformed or hostile; the root of an image must stay a directory.',
        { path: entry.path, layer: this.#layer },
      );
    }
    this.#setAttributes(this.#tree.root.inode, entry);
  }

  /** Split and check a member path: strip leading `/` and `./`, reject `..`, enforce length limits. */
  #split(raw: string, code: string, entry: TarHeader): string[] {
    if (raw.includes('\0')) {
      throw safety(
        'OCI_PATH_INVALID',
        `tar member path contains a NUL byte`,
        'The layer is malformed or hostile.',
        {
          path: raw,
          layer: this.#layer,
        },
      );
    }
    if (Buffer.byteLength(raw) > this.#limits.maxPathLength) {
      throw safety(
        'OCI_LIMIT_PATH_LENGTH',
        `path of ${Buffer.byteLength(raw)} bytes exceeds the limit of ${this.#limits.maxPathLength}`,
        'Raise limits.maxPathLength if this image is trusted.',
        { path: `${raw.slice(0, 120)}…`, layer: this.#layer },
      );
    }
    const parts: string[] = [];
    for (const part of raw.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        throw safety(
          code,
          code === 'OCI_HARDLINK_ESCAPE'
            ? `hardlink ${entry.path} points outside the root: ${raw}`
            : `tar member ${raw} has a .. component`,
          'The layer tries to write outside the root filesystem; it is malformed or hostile.',
          { path: entry.path, target: raw, layer: this.#layer },
        );
      }
      if (Buffer.byteLength(part) > this.#limits.maxNameLength) {
        throw safety(
          'OCI_LIMIT_PATH_LENGTH',
          `a name of ${Buffer.byteLength(part)} bytes exceeds the limit of ${this.#limits.maxNameLength}`,
          'Raise limits.maxNameLength if this image is trusted.',
          { path: `${raw.slice(0, 120)}…`, layer: this.#layer },
        );
      }
      parts.push(part);
    }
    return parts;
  }

  /**
   * Walk to the directory `parts` names, following symlinks inside the root (like securejoin) and refusing
   * those that climb out of it. Missing directories are created (as tar extractors do) when `create`.
   */
  #resolveDir(parts: string[], create: boolean, path: string, hops = { n: 0 }): TreeNode | undefined {
    const stack: TreeNode[] = [this.#tree.root];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const dir = stack[stack.length - 1]!;
      let child = dir.children!.get(part);
      if (!child) {
        if (!create) return undefined;
        child = this.#implicitDir(dir, part);
      }
      if (child.inode.type === 'symlink') {
        this.#countSymlinkHop(hops, path);
        const target = child.inode.target ?? '';
        const base = target.startsWith('/') ? [this.#tree.root] : [...stack];
        const resolved = this.#followLink(base, target, create, path, hops);
        if (!resolved) return undefined;
        stack.length = 0;
        stack.push(...resolved);
        continue;
      }
      if (child.inode.type !== 'dir') {
        if (!create) return undefined;
        throw safety(
          'OCI_PATH_NOT_DIRECTORY',
          `${path}: ${parts.slice(0, i + 1).join('/')} is a ${child.inode.type}, not a directory`,
          'A member lies under a path that an earlier member made a non-directory; the layer is malformed.',
          { path, layer: this.#layer },
        );
      }
      stack.push(child);
    }
    return stack[stack.length - 1];
  }

  /** A directory a layer implies but never lists (as tar extractors create it): root-owned, 0755, time 0. */
  #implicitDir(parent: TreeNode, name: string): TreeNode {
    const inode = this.#tree.newInode({
      type: 'dir',
      mode: 0o755,
      uid: 0,
      gid: 0,
      mtime: { sec: 0, nsec: 0 },
    });
    return this.#tree.link(parent, name, inode, this.#layer);
  }

  /** One more symlink followed while resolving `path`; a loop (or an absurd chain) is an error. */
  #countSymlinkHop(hops: { n: number }, path: string): void {
    if (++hops.n > MAX_SYMLINK_HOPS) {
      throw safety(
        'OCI_SYMLINK_LOOP',
        `too many symlinks resolving ${path}`,
        'The layer has a symlink loop.',
        {
          path,
          layer: this.#layer,
        },
      );
    }
  }

  #followLink(
    base: TreeNode[],
    target: string,
    create: boolean,
    path: string,
    hops: { n: number },
  ): TreeNode[] | undefined {
    const stack = base;
    for (const part of target.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (stack.length === 1) {
          throw safety(
            'OCI_SYMLINK_ESCAPE',
            `${path}: a symlink on the way (-> ${target}) climbs out of the root`,
            'The layer writes through a symlink that points outside the root filesystem; it is malformed or hostile.',
            { path, target, layer: this.#layer },
          );
        }
        stack.pop();
        continue;
      }
      const dir = stack[stack.length - 1]!;
      const child = dir.children!.get(part);
      if (!child) {
        if (!create) return undefined;
        stack.push(this.#implicitDir(dir, part));
        continue;
      }
      if (child.inode.type === 'symlink') {
        this.#countSymlinkHop(hops, path);
        const t = child.inode.target ?? '';
        const next = this.#followLink(
          t.startsWith('/') ? [this.#tree.root] : [...stack],
          t,
          create,
          path,
          hops,
        );
        if (!next) return undefined;
        stack.length = 0;
        stack.push(...next);
        continue;
      }
      if (child.inode.type !== 'dir') {
        if (!create) return undefined;
        throw safety(
          'OCI_PATH_NOT_DIRECTORY',
          `${path}: symlink target ${target} goes through a ${child.inode.type}`,
          'A member lies under a path that is not a directory; the layer is malformed.',
          { path, layer: this.#layer },
        );
      }
      stack.push(child);
    }
    return stack;
  }

  #whiteout(parts: string[], entry: TarHeader): void {
    const name = parts[parts.length - 1]!;
    const dirParts = parts.slice(0, -1);
    if (name === OPAQUE) {
      const dir = this.#resolveDir(dirParts, false, entry.path);
      if (dir?.children) this.#pruneChildren(dir);
      return;
    }
    if (name.startsWith('.wh..wh.')) return; // other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): no file
    const target = name.slice(WHITEOUT.length);
    if (target === '' || target === '.' || target === '..') {
      throw safety(
        'OCI_WHITEOUT_INVALID',
        `invalid whiteout ${entry.path}`,
        'A whiteout must name a file (.wh.NAME); the layer is malformed.',
        { path: entry.path, layer: this.#layer },
      );
    }
    this.#whitedOut.add([...dirParts, target].join('/'));
    const dir = this.#resolveDir(dirParts, false, entry.path);
    const node = dir?.children?.get(target);
    if (!dir || !node) return; // whiteouts of missing paths (even under missing parents) are no-ops
    if (this.#prune(node)) this.#tree.unlink(dir, target);
  }

  /**
   * Remove what lower layers put under `node`, keeping what this layer wrote. Returns true when `node` itself
   * should go (it came from a lower layer and nothing of this layer lives below it).
   */
  #prune(node: TreeNode): boolean {
    if (node.children) this.#pruneChildren(node);
    if (node.origin === this.#layer) return false;
    return !node.children || node.children.size === 0 || !this.#hasCurrent(node);
  }

  #pruneChildren(dir: TreeNode): void {
    for (const [name, child] of dir.children!) {
      if (this.#prune(child)) this.#tree.unlink(dir, name);
    }
  }

  #hasCurrent(node: TreeNode): boolean {
    if (node.origin === this.#layer) return true;
    if (node.children) for (const c of node.children.values()) if (this.#hasCurrent(c)) return true;
    return false;
  }

  /** Replacing a directory with anything else must not drop what this same layer wrote below it. */
  #replaceCheck(existing: TreeNode, entry: TarHeader): void {
    if (existing.inode.type === 'dir' && existing.children && existing.children.size > 0) {
      for (const child of existing.children.values()) {
        if (this.#hasCurrent(child)) {
          throw safety(
            'OCI_UNSAFE_REPLACE',
            `${entry.path}: a ${entry.type} replaces a directory that this layer just filled`,
            'The layer writes files into a directory and then replaces the directory; it is malformed or hostile.',
            { path: entry.path, layer: this.#layer },
          );
        }
      }
    }
  }

  #hardlinkTarget(entry: TarHeader): TreeNode {
    const parts = this.#split(entry.linkname, 'OCI_HARDLINK_ESCAPE', entry);
    const key = parts.join('/');
    const dir = parts.length ? this.#resolveDir(parts.slice(0, -1), false, entry.linkname) : undefined;
    const target = dir?.children?.get(parts[parts.length - 1]!);
    if (!target) {
      if (this.#whitedOut.has(key)) {
        throw safety(
          'OCI_HARDLINK_WHITED_OUT',
          `hardlink ${entry.path} points at ${entry.linkname}, which this layer whited out`,
          'The layer deletes a file and then links to it; it is malformed.',
          { path: entry.path, target: entry.linkname, layer: this.#layer },
        );
      }
      throw safety(
        'OCI_HARDLINK_MISSING',
        `hardlink ${entry.path} points at ${entry.linkname}, which does not exist`,
        'A hardlink must point at a file written earlier (in this or a lower layer); the layer is malformed.',
        { path: entry.path, target: entry.linkname, layer: this.#layer },
      );
    }
    if (target.inode.type === 'dir') {
      throw safety(
        'OCI_HARDLINK_TO_DIRECTORY',
        `hardlink ${entry.path} points at directory ${entry.linkname}`,
        'Directories cannot be hardlinked; the layer is malformed or hostile.',
        { path: entry.path, target: entry.linkname, layer: this.#layer },
      );
    }
    return target;
  }

  #inode(entry: TarHeader): TreeInode {
    const type = entry.type as TreeInode['type'];
    const inode = this.#tree.newInode({
      type,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      mtime: entry.mtime,
      xattrs: entry.xattrs,
    });
    if (type === 'file') {
      inode.size = entry.size;
      if (entry.size > 0)
        inode.content = { kind: 'layer', layer: this.#layer, offset: entry.dataOffset, size: entry.size };
    } else if (type === 'symlink') inode.target = entry.linkname;
    else if (type === 'char' || type === 'block') {
      inode.devMajor = entry.devMajor;
      inode.devMinor = entry.devMinor;
    }
    return inode;
  }

  #setAttributes(inode: TreeInode, entry: TarHeader): void {
    inode.mode = entry.mode;
    inode.uid = entry.uid;
    inode.gid = entry.gid;
    inode.mtime = entry.mtime;
    inode.xattrs = entry.xattrs;
  }
}

/** Pass chunks through while a worker hashes a copy of each. */
async function* hashedChunks(source: AsyncIterable<Buffer>, session: HashSession): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    await session.update(new Uint8Array(chunk)); // a copy: the chunk itself goes on to the tar reader
    yield chunk;
  }
}
