import type { BigIntStats } from 'node:fs';
import { lstat, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, posix, resolve, sep } from 'node:path';
import { type Context, DroverError, throwIfAborted, toDroverError } from '@drover/core';
import type { RootfsTree, TreeInode, TreeNode } from '@drover/oci';
import { type Owner, type ResolvedLayer, renderTemplate } from '@drover/recipe';
import { compileGlob } from './glob.js';
import { type PathContext, resolveDir, splitImagePath } from './paths.js';

/** Options for {@link applyLayers}. */
export interface ApplyLayersOptions {
  /** The flattened base; changed in place. */
  tree: RootfsTree;
  /** The recipe's layers, in order (sources are absolute paths). */
  layers: readonly ResolvedLayer[];
  /** Variables for `template` layers. */
  variables: Readonly<Record<string, string>>;
  /** mtime given to entries the layers create. */
  sourceDateEpoch: number;
}

/** What {@link applyLayers} did. */
export interface ApplyLayersResult {
  /** Paths created (each file, link and directory a `copy` adds counts). */
  added: number;
  /** Paths that existed and were replaced or had their attributes set. */
  changed: number;
  /** Paths removed by `remove` layers (a directory counts once); missing paths are skipped, not counted. */
  removed: number;
}

/** The largest template or /etc/passwd-like file read into memory. */
const MAX_TEXT = 16 << 20;

/** Apply a recipe's layers (copy, file, template, symlink, directory, remove, settings) to a tree. */
export async function applyLayers(
  options: ApplyLayersOptions,
  ctx: Context = {},
): Promise<ApplyLayersResult> {
  const applier = new Applier(options.tree, options.sourceDateEpoch, options.variables);
  for (const [index, layer] of options.layers.entries()) {
    throwIfAborted(ctx);
    await applier.apply(layer, index, ctx);
  }
  return applier.counts;
}

class Applier {
  readonly counts: ApplyLayersResult = { added: 0, changed: 0, removed: 0 };
  /** Parsed /etc/passwd and /etc/group, keyed by the inode they were read from. */
  #ids = new Map<string, { inode: number; names: Map<string, number> }>();

  constructor(
    private readonly tree: RootfsTree,
    private readonly epoch: number,
    private readonly variables: Readonly<Record<string, string>>,
  ) {}

  async apply(layer: ResolvedLayer, index: number, ctx: Context): Promise<void> {
    const at: PathContext = {
      where: `layer ${index} (${layer.type})`,
      details: { layer: index, type: layer.type },
    };
    switch (layer.type) {
      case 'file':
        await this.#putFile(layer.path, Buffer.from(layer.content, 'utf8'), layer.owner, layer.mode, at);
        return;
      case 'settings':
        await this.#putFile(layer.path, Buffer.from(layer.content, 'utf8'), layer.owner, layer.mode, at);
        return;
      case 'template': {
        const text = await this.#readSource(layer.source, layer.from, at);
        const rendered = renderTemplate({
          text,
          variables: { ...this.variables },
          name: `${at.where} ${layer.from}`,
        });
        await this.#putFile(layer.path, Buffer.from(rendered, 'utf8'), layer.owner, layer.mode, at);
        return;
      }
      case 'symlink': {
        const { parent, name } = this.#parentOf(layer.path, at);
        const { uid, gid } = await this.#owner(layer.owner, at);
        const inode = this.tree.newInode({
          type: 'symlink',
          mode: 0o777,
          uid,
          gid,
          mtime: this.#time(),
          target: layer.target,
        });
        this.#link(parent, name, inode, index);
        return;
      }
      case 'directory': {
        const parts = splitImagePath(layer.path, at);
        const { uid, gid } = await this.#owner(layer.owner, at);
        const parent = resolveDir(this.tree, parts.slice(0, -1), at, this.#maker(index))!;
        const name = parts[parts.length - 1]!;
        const existing = parent.children!.get(name);
        // an existing directory (or a symlink to one inside the image) keeps its contents
        const dir =
          existing?.inode.type === 'dir'
            ? existing
            : existing?.inode.type === 'symlink'
              ? this.#followToDir(parts, at)
              : undefined;
        if (dir) {
          Object.assign(dir.inode, { mode: layer.mode & 0o7777, uid, gid, mtime: this.#time() });
          dir.origin = index;
          this.counts.changed++;
          return;
        }
        const inode = this.tree.newInode({
          type: 'dir',
          mode: layer.mode & 0o7777,
          uid,
          gid,
          mtime: this.#time(),
        });
        this.#link(parent, name, inode, index);
        return;
      }
      case 'remove':
        for (const path of layer.paths) {
          const parts = splitImagePath(path, at);
          const parent = this.#followToDir(parts.slice(0, -1), at);
          const name = parts[parts.length - 1]!;
          if (parent?.children?.has(name)) {
            this.tree.unlink(parent, name);
            this.counts.removed++;
          }
        }
        return;
      case 'copy':
        await this.#copy(layer, index, at, ctx);
        return;
      default: {
        const unknown = layer as { type: string };
        throw new DroverError('LAYER_TYPE_UNKNOWN', `${at.where}: unknown layer type ${unknown.type}`, {
          kind: 'internal',
          hint: 'The recipe resolver produced a layer this builder does not know; update drover.',
        });
      }
    }
  }

  #time(): { sec: number; nsec: number } {
    return { sec: this.epoch, nsec: 0 };
  }

  #maker(index: number): (parent: TreeNode, name: string) => TreeNode {
    return (parent, name) => {
      const inode = this.tree.newInode({ type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: this.#time() });
      this.counts.added++;
      return this.tree.link(parent, name, inode, index);
    };
  }

  #parentOf(path: string, at: PathContext): { parent: TreeNode; name: string; index: number } {
    const parts = splitImagePath(path, at);
    const index = (at.details?.layer as number) ?? -1;
    const parent = resolveDir(this.tree, parts.slice(0, -1), at, this.#maker(index))!;
    return { parent, name: parts[parts.length - 1]!, index };
  }

  /** The directory at `parts` (following symlinks) if there is one; undefined for anything else. */
  #existingDir(parts: string[], at: PathContext): TreeNode | undefined {
    const parent = resolveDir(this.tree, parts.slice(0, -1), at);
    const node = parent?.children?.get(parts[parts.length - 1]!);
    if (!node) return undefined;
    if (node.inode.type === 'dir') return node;
    return node.inode.type === 'symlink' ? this.#followToDir(parts, at) : undefined;
  }

  #followToDir(parts: string[], at: PathContext): TreeNode | undefined {
    try {
      return resolveDir(this.tree, parts, at);
    } catch (error) {
      // a link to a file (or a dangling one) is not a directory; loops are still errors
      if ((error as DroverError).code === 'LAYER_PATH_NOT_DIRECTORY') return undefined;
      throw error;
    }
  }

  /** Link `inode` at `name`, replacing what is there (a directory with its subtree); counts it. */
  #link(parent: TreeNode, name: string, inode: TreeInode, index: number): TreeNode {
    if (parent.children!.has(name)) this.counts.changed++;
    else this.counts.added++;
    return this.tree.link(parent, name, inode, index);
  }

  async #putFile(path: string, data: Buffer, owner: Owner, mode: number, at: PathContext): Promise<void> {
    const { parent, name, index } = this.#parentOf(path, at);
    const { uid, gid } = await this.#owner(owner, at);
    const inode = this.tree.newInode({
      type: 'file',
      mode: mode & 0o7777,
      uid,
      gid,
      mtime: this.#time(),
      size: data.length,
    });
    if (data.length > 0) inode.content = { kind: 'inline', data };
    this.#link(parent, name, inode, index);
  }

  async #readSource(source: string, from: string, at: PathContext): Promise<string> {
    const st = await this.#lstatSource(source, from, at);
    if (!st.isFile() && !st.isSymbolicLink()) {
      throw new DroverError('LAYER_SOURCE_INVALID', `${at.where}: ${from} is not a file`, {
        hint: `Point ${at.where} at a template file.`,
        details: { ...at.details, source },
      });
    }
    await this.#checkInside(source, from, at);
    if (Number(st.size) > MAX_TEXT) {
      throw new DroverError('LAYER_SOURCE_TOO_LARGE', `${at.where}: template ${from} is larger than 16 MiB`, {
        hint: 'Templates are rendered in memory; use a copy layer for large files.',
        details: { ...at.details, source },
      });
    }
    try {
      return await readFile(source, 'utf8');
    } catch (error) {
      throw toDroverError(error, `${at.where}: reading ${from}`);
    }
  }

  async #lstatSource(source: string, from: string, at: PathContext): Promise<BigIntStats> {
    try {
      return await lstat(source, { bigint: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new DroverError('LAYER_SOURCE_MISSING', `${at.where}: source ${from} does not exist`, {
          kind: 'not-found',
          hint: `Create ${source} or fix the path of ${at.where} (relative to the recipe).`,
          details: { ...at.details, source },
        });
      }
      throw toDroverError(error, `${at.where}: reading ${from}`);
    }
  }

  /**
   * A source reached through a symlink must stay inside the folder the recipe names it from (the recipe's
   * folder for a relative `from`): a link to `/etc/shadow` in a checkout must not leak into an image.
   */
  async #checkInside(source: string, from: string, at: PathContext): Promise<void> {
    if (isAbsolute(from)) return; // an absolute source is what the recipe explicitly asks for
    // the folder `from` is relative to: climb one level per named segment of `from` (leading `..` excluded)
    const named = posix
      .normalize(from.split(sep).join('/'))
      .split('/')
      .filter((p) => p !== '' && p !== '.' && p !== '..');
    const base = resolve(source, ...named.map(() => '..'));
    let real: string;
    let realBase: string;
    try {
      [real, realBase] = await Promise.all([realpath(source), realpath(base)]);
    } catch (error) {
      throw toDroverError(error, `${at.where}: resolving ${from}`);
    }
    const prefix = realBase.endsWith(sep) ? realBase : realBase + sep;
    if (real !== realBase && !real.startsWith(prefix)) {
      throw new DroverError(
        'LAYER_SOURCE_ESCAPE',
        `${at.where}: source ${from} resolves through a symlink to ${real}, outside ${realBase}`,
        {
          kind: 'denied',
          hint: `Copy the files into the recipe's folder instead of linking to them (${at.where}).`,
          details: { ...at.details, source, resolved: real },
        },
      );
    }
  }

  async #copy(
    layer: Extract<ResolvedLayer, { type: 'copy' }>,
    index: number,
    at: PathContext,
    ctx: Context,
  ): Promise<void> {
    const st = await this.#lstatSource(layer.source, layer.from, at);
    await this.#checkInside(layer.source, layer.from, at);
    // the top-level source is followed when it is a symlink (it was checked to stay inside)
    const top = st.isSymbolicLink() ? await stat(layer.source, { bigint: true }) : st;
    const { uid, gid } = await this.#owner(layer.owner, at);
    const excludes = layer.exclude.map(compileGlob);
    const excluded = (rel: string): boolean => excludes.some((m) => m(rel));
    const links = new Map<string, TreeInode>();
    const toParts = splitImagePath(layer.to, at, true);
    const make = this.#maker(index);
    const dirMode = layer.dirMode & 0o7777;
    // directories the copy creates (missing parents of `to` included) get dirMode and the layer's owner
    const makeOwned = (parent: TreeNode, name: string): TreeNode => {
      const node = make(parent, name);
      Object.assign(node.inode, { mode: dirMode, uid, gid });
      return node;
    };
    const copy = { uid, gid, dirMode, mode: layer.mode, excluded, links, index, at, ctx };
    if (top.isDirectory()) {
      const dest = resolveDir(this.tree, toParts, at, makeOwned)!;
      await this.#copyDir(layer.source, '', dest, copy);
      return;
    }
    // a file: into `to` when it names a directory (existing, or written with a trailing slash), else at `to`
    const existing = toParts.length ? this.#existingDir(toParts, at) : this.tree.root;
    let parent: TreeNode;
    let name: string;
    const base = layer.source.split(sep).pop()!;
    if (existing || layer.to.endsWith('/')) {
      parent = existing ?? resolveDir(this.tree, toParts, at, makeOwned)!;
      name = base;
    } else {
      parent = resolveDir(this.tree, toParts.slice(0, -1), at, makeOwned)!;
      name = toParts[toParts.length - 1]!;
    }
    await this.#copyEntry(layer.source, top, parent, name, copy);
  }

  async #copyDir(hostDir: string, rel: string, dest: TreeNode, o: CopyOptions): Promise<void> {
    throwIfAborted(o.ctx);
    let names: string[];
    try {
      names = await readdir(hostDir);
    } catch (error) {
      throw toDroverError(error, `${o.at.where}: reading ${hostDir}`);
    }
    names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      if (o.excluded(childRel)) continue;
      const path = join(hostDir, name);
      let st: BigIntStats;
      try {
        st = await lstat(path, { bigint: true });
      } catch (error) {
        throw toDroverError(error, `${o.at.where}: reading ${path}`);
      }
      await this.#copyEntry(path, st, dest, name, o, childRel);
    }
  }

  async #copyEntry(
    path: string,
    st: BigIntStats,
    parent: TreeNode,
    name: string,
    o: CopyOptions,
    rel = name,
  ): Promise<void> {
    const time = this.#time();
    if (st.isDirectory()) {
      const existing = parent.children!.get(name);
      let dest: TreeNode;
      if (existing?.inode.type === 'dir') dest = existing;
      else {
        const inode = this.tree.newInode({
          type: 'dir',
          mode: o.dirMode,
          uid: o.uid,
          gid: o.gid,
          mtime: time,
        });
        dest = this.#link(parent, name, inode, o.index);
      }
      await this.#copyDir(path, rel, dest, o);
      return;
    }
    const key = `${st.dev}:${st.ino}`;
    const shared = st.nlink > 1n ? o.links.get(key) : undefined;
    if (shared) {
      this.#link(parent, name, shared, o.index);
      return;
    }
    let inode: TreeInode;
    if (st.isFile()) {
      const size = Number(st.size);
      // Only the executable bit survives a checkout (and the lockfile's source digest), so it alone decides.
      const mode = o.mode ?? ((st.mode & 0o111n) !== 0n ? 0o755 : 0o644);
      inode = this.tree.newInode({
        type: 'file',
        mode: mode & 0o7777,
        uid: o.uid,
        gid: o.gid,
        mtime: time,
        size,
      });
      if (size > 0) inode.content = { kind: 'host', path, size };
    } else if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = await readlink(path);
      } catch (error) {
        throw toDroverError(error, `${o.at.where}: reading ${path}`);
      }
      inode = this.tree.newInode({
        type: 'symlink',
        mode: 0o777,
        uid: o.uid,
        gid: o.gid,
        mtime: time,
        target,
      });
    } else if (st.isFIFO()) {
      inode = this.tree.newInode({
        type: 'fifo',
        mode: Number(st.mode & 0o7777n),
        uid: o.uid,
        gid: o.gid,
        mtime: time,
      });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const rdev = Number(st.rdev);
      inode = this.tree.newInode({
        type: st.isCharacterDevice() ? 'char' : 'block',
        mode: Number(st.mode & 0o7777n),
        uid: o.uid,
        gid: o.gid,
        mtime: time,
        devMajor: (rdev >>> 8) & 0xfff,
        devMinor: ((rdev & 0xff) | ((rdev >>> 12) & 0xfff00)) >>> 0,
      });
    } else {
      throw new DroverError('LAYER_SOURCE_UNSUPPORTED', `${o.at.where}: ${path} is a socket`, {
        hint: `Exclude it from ${o.at.where} (exclude: [...]); sockets cannot be stored in an image.`,
        details: { ...o.at.details, source: path },
      });
    }
    if (st.nlink > 1n) o.links.set(key, inode);
    this.#link(parent, name, inode, o.index);
  }

  /** Numeric ids for an owner; names are looked up in the image's /etc/passwd and /etc/group. */
  async #owner(owner: Owner, at: PathContext): Promise<{ uid: number; gid: number }> {
    return { uid: await this.#id(owner.user, 'passwd', at), gid: await this.#id(owner.group, 'group', at) };
  }

  async #id(value: number | string, db: 'passwd' | 'group', at: PathContext): Promise<number> {
    if (typeof value === 'number') return value;
    if (/^[0-9]+$/.test(value)) return Number(value);
    const names = await this.#database(db, at);
    const id = names.get(value);
    if (id === undefined) {
      throw new DroverError(
        'LAYER_OWNER_UNKNOWN',
        `${at.where}: ${db === 'passwd' ? 'user' : 'group'} ${value} is not in the image's /etc/${db}`,
        {
          hint: `Use a numeric id in ${at.where}, or add the ${db === 'passwd' ? 'user' : 'group'} to /etc/${db} in an earlier layer.`,
          details: { ...at.details, name: value },
        },
      );
    }
    return id;
  }

  async #database(db: 'passwd' | 'group', at: PathContext): Promise<Map<string, number>> {
    const etc = resolveDir(this.tree, ['etc'], at);
    let node = etc?.children?.get(db);
    if (node?.inode.type === 'symlink') node = resolveDir(this.tree, ['etc', db], at);
    if (!node || node.inode.type !== 'file') return new Map();
    const cached = this.#ids.get(db);
    if (cached && cached.inode === node.inode.id) return cached.names;
    const names = new Map<string, number>();
    const text = await readText(this.tree, node.inode);
    for (const line of text.split('\n')) {
      const fields = line.split(':');
      if (fields.length < 3 || !/^[0-9]+$/.test(fields[2]!)) continue;
      if (!names.has(fields[0]!)) names.set(fields[0]!, Number(fields[2]));
    }
    this.#ids.set(db, { inode: node.inode.id, names });
    return names;
  }
}

interface CopyOptions {
  uid: number;
  gid: number;
  dirMode: number;
  mode: number | undefined;
  excluded: (rel: string) => boolean;
  links: Map<string, TreeInode>;
  index: number;
  at: PathContext;
  ctx: Context;
}

/** A small text file of the tree (bounded: /etc/passwd and /etc/group). */
async function readText(tree: RootfsTree, inode: TreeInode): Promise<string> {
  if (inode.size > MAX_TEXT) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of tree.openContent(inode)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
