import { type Context, type DigestString, DroverError } from '@drover/core';
import type { RootfsTree } from '@drover/oci';
import type { FileDigests } from './types.js';

/** Options for {@link writeFilesystem}. */
export interface WriteFilesystemOptions {
  tree: RootfsTree;
  type: 'erofs' | 'squashfs' | 'ext4';
  /** Output file; written under a temporary name and renamed when complete. */
  output: string;
  /** Build time and the upper bound of every timestamp. */
  sourceDateEpoch: number;
  /** Filesystem block size (erofs and ext4: 4096 default; squashfs: 131072 default). */
  blockSize?: number;
  label?: string;
  /** Filesystem UUID; default derived from the content so the same tree gives the same bytes. */
  uuid?: string;
  /** ext4 only: image size in bytes (default: content plus headroom). */
  size?: number;
  /** squashfs only: compressor (`gzip`, `xz`, `zstd`, `lz4`, `none`). */
  compression?: string;
  compressionLevel?: number;
  /** Extra arguments passed to mksquashfs/mke2fs. */
  extraArgs?: readonly string[];
}

/** What {@link writeFilesystem} produced. */
export interface FilesystemResult {
  path: string;
  type: 'erofs' | 'squashfs' | 'ext4';
  /** Bytes (a multiple of `blockSize` for erofs/ext4; squashfs is padded to 4096). */
  size: number;
  blockSize: number;
  digest: DigestString;
  uuid?: string;
  /** Content digests of every file, for the SBOM and the file manifest. */
  files: FileDigests;
}

/** Write a tree as an EROFS (in TypeScript), squashfs (`sqfstar`) or ext4 (`mke2fs -d`) image, reproducibly. */
export async function writeFilesystem(
  _options: WriteFilesystemOptions,
  _ctx: Context = {},
): Promise<FilesystemResult> {
  throw new DroverError('NOT_IMPLEMENTED', 'writeFilesystem is not implemented yet', { kind: 'internal' });
}
