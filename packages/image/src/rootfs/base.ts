import { type Context, DroverError } from '@drover/core';
import type { RootfsTree } from '@drover/oci';

/** Options for {@link treeFromDirectory}. */
export interface TreeFromDirectoryOptions {
  /** A directory on this machine holding a root filesystem. */
  path: string;
}

/** Read a host directory into a tree (a `directory` base). File contents are referenced, not copied. */
export async function treeFromDirectory(
  _options: TreeFromDirectoryOptions,
  _ctx: Context = {},
): Promise<RootfsTree> {
  throw new DroverError('NOT_IMPLEMENTED', 'treeFromDirectory is not implemented yet', { kind: 'internal' });
}

/** Options for {@link treeFromTar}. */
export interface TreeFromTarOptions {
  /** A tar archive (plain, gzip or zstd) holding a root filesystem. */
  path: string;
}

/** Read a tar archive into a tree (a `tar` base), with the same safety checks as layer flattening. */
export async function treeFromTar(_options: TreeFromTarOptions, _ctx: Context = {}): Promise<RootfsTree> {
  throw new DroverError('NOT_IMPLEMENTED', 'treeFromTar is not implemented yet', { kind: 'internal' });
}
