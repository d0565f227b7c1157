import { type Context, type DigestString, DroverError } from '@drover/core';
import type { RootfsTree } from '@drover/oci';

/** Options for {@link writeRootfsTar}. */
export interface WriteRootfsTarOptions {
  tree: RootfsTree;
  output: string;
  compression?: 'none' | 'gzip' | 'zstd' | 'xz';
}

/** Write a tree as a reproducible tar archive (sorted, PAX for long names and xattrs, fixed times). */
export async function writeRootfsTar(
  _options: WriteRootfsTarOptions,
  _ctx: Context = {},
): Promise<{ path: string; size: number; digest: DigestString }> {
  throw new DroverError('NOT_IMPLEMENTED', 'writeRootfsTar is not implemented yet', { kind: 'internal' });
}
