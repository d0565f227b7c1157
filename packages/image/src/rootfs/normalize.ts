import { DroverError } from '@drover/core';
import type { RootfsTree } from '@drover/oci';

/** Options for {@link normalizeTree}. */
export interface NormalizeTreeOptions {
  tree: RootfsTree;
  /** Every mtime later than this is clamped to it (SOURCE_DATE_EPOCH semantics). */
  sourceDateEpoch: number;
}

/** Make a tree reproducible: clamp timestamps to `sourceDateEpoch` and drop what must not leak into images. */
export function normalizeTree(_options: NormalizeTreeOptions): { clamped: number } {
  throw new DroverError('NOT_IMPLEMENTED', 'normalizeTree is not implemented yet', { kind: 'internal' });
}
