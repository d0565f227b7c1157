import type { DigestString } from '@drover/core';

// Contract between the rootfs lane (layers, normalize, filesystem writers) and the build pipeline.

/** Digests of one regular file's content, computed while the filesystem is written (no extra read pass). */
export interface FileDigest {
  sha256: DigestString;
  /** Hex SHA-1 (SPDX 2.3 requires it for files). */
  sha1: string;
}

/** Content digests of every regular file (empty ones too), by `TreeInode.id` (hardlinks share one entry). */
export type FileDigests = Map<number, FileDigest>;
