import { DroverError } from '@drover/core';
import type { RootfsTree } from '@drover/oci';

/** Options for {@link normalizeTree}. */
export interface NormalizeTreeOptions {
  tree: RootfsTree;
  /** Every mtime later than this is clamped to it (SOURCE_DATE_EPOCH semantics). */
  sourceDateEpoch: number;
}

/** What {@link normalizeTree} changed (each inode counted once). */
export interface NormalizeTreeResult {
  /** Inodes whose mtime was later than the epoch. */
  clamped: number;
  /** Symlinks whose permission bits were not 0777 (tar layers often say 0644; Linux always shows 0777). */
  symlinkModes?: number;
}

/**
 * Make a tree reproducible: clamp timestamps to `sourceDateEpoch` (any mtime after `{ sec: epoch, nsec: 0 }`
 * becomes exactly that) and give symlinks mode 0777 (what every Linux filesystem reports, and what squashfs
 * and ext4 store whatever the input says, so all three formats agree). Names, owners, other modes and xattrs
 * are content and stay; every writer walks the tree in byte order of names, so ordering needs no fixing.
 */
export function normalizeTree(options: NormalizeTreeOptions): NormalizeTreeResult {
  const epoch = options.sourceDateEpoch;
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new DroverError(
      'ROOTFS_EPOCH_INVALID',
      `sourceDateEpoch must be a non-negative integer, got ${epoch}`,
      {
        kind: 'usage',
        hint: 'Pass the lockfile’s sourceDateEpoch (seconds since 1970).',
      },
    );
  }
  const seen = new Set<number>();
  let clamped = 0;
  let symlinkModes = 0;
  for (const { node } of options.tree.walk()) {
    const inode = node.inode;
    if (seen.has(inode.id)) continue;
    seen.add(inode.id);
    if (inode.type === 'symlink' && inode.mode !== 0o777) {
      inode.mode = 0o777;
      symlinkModes++;
    }
    const { sec, nsec } = inode.mtime;
    if (sec > epoch || (sec === epoch && nsec > 0)) {
      inode.mtime = { sec: epoch, nsec: 0 };
      clamped++;
    }
  }
  return { clamped, symlinkModes };
}
