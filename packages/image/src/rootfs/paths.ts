import { DroverError } from '@drover/core';
import type { RootfsTree, TreeNode } from '@drover/oci';

// Safe path handling inside a RootfsTree: every lookup stays inside the tree, symlinks are followed with
// chroot semantics (an absolute target starts at the image root, `..` at the root stays at the root).

const MAX_SYMLINK_HOPS = 40;

/** Where an error happened, for messages and hints (`layer 3 (copy)`). */
export interface PathContext {
  where: string;
  details?: Record<string, unknown>;
}

/** Split an absolute image path into its names; refuse relative paths, `..`, NUL and overlong names. */
export function splitImagePath(path: string, at: PathContext, allowRoot = false): string[] {
  const bad = (why: string): DroverError =>
    new DroverError('LAYER_PATH_INVALID', `${at.where}: ${why}: ${JSON.stringify(path)}`, {
      hint: `Fix the path of ${at.where}: paths inside the image are absolute and normalized, e.g. /etc/motd.`,
      details: { ...at.details, path },
    });
  if (typeof path !== 'string' || !path.startsWith('/')) throw bad('path is not absolute');
  if (path.includes('\0')) throw bad('path contains a NUL byte');
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw bad('path has a .. component');
    if (Buffer.byteLength(part) > 255) throw bad('a name is longer than 255 bytes');
    parts.push(part);
  }
  if (parts.length === 0 && !allowRoot) throw bad('path names the root directory');
  return parts;
}

/** Creates the directories a lookup needs (mode 0755, root-owned, time `mtime`). */
export type DirMaker = (parent: TreeNode, name: string) => TreeNode;

/**
 * Walk to the directory named by `parts`, following symlinks inside the tree. Missing directories are made
 * with `make` (or the walk returns undefined without it). A non-directory on the way is an error.
 */
export function resolveDir(
  tree: RootfsTree,
  parts: readonly string[],
  at: PathContext,
  make?: DirMaker,
): TreeNode | undefined {
  const hops = { n: 0 };
  return walkParts([tree.root], parts, tree, at, make, hops)?.at(-1);
}

function walkParts(
  start: TreeNode[],
  parts: readonly string[],
  tree: RootfsTree,
  at: PathContext,
  make: DirMaker | undefined,
  hops: { n: number },
): TreeNode[] | undefined {
  const stack = [...start];
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (stack.length > 1) stack.pop();
      continue;
    }
    const dir = stack[stack.length - 1]!;
    let child = dir.children!.get(part);
    if (!child) {
      if (!make) return undefined;
      if (Buffer.byteLength(part) > 255 || part.includes('\0')) {
        throw new DroverError(
          'LAYER_PATH_INVALID',
          `${at.where}: a symlink on the way names an invalid directory`,
          {
            hint: `A symlink under the path of ${at.where} points at a name longer than 255 bytes; fix the link or the path.`,
            details: { ...at.details, name: part.slice(0, 64) },
          },
        );
      }
      child = make(dir, part);
    }
    if (child.inode.type === 'symlink') {
      if (++hops.n > MAX_SYMLINK_HOPS) {
        throw new DroverError('LAYER_SYMLINK_LOOP', `${at.where}: too many symlinks on the way`, {
          hint: `The image has a symlink loop under the path of ${at.where}; fix the path or the links.`,
          details: at.details,
        });
      }
      const target = child.inode.target ?? '';
      const next = walkParts(
        target.startsWith('/') ? [tree.root] : stack,
        target.split('/'),
        tree,
        at,
        make,
        hops,
      );
      if (!next) return undefined;
      stack.length = 0;
      stack.push(...next);
      continue;
    }
    if (child.inode.type !== 'dir') {
      throw new DroverError(
        'LAYER_PATH_NOT_DIRECTORY',
        `${at.where}: ${part} is a ${child.inode.type}, not a directory`,
        {
          hint: `A path of ${at.where} goes through a non-directory in the image; remove it first or fix the path.`,
          details: at.details,
        },
      );
    }
    stack.push(child);
  }
  return stack;
}
