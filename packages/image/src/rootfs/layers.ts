import { type Context, DroverError } from '@drover/core';
import type { RootfsTree } from '@drover/oci';
import type { ResolvedLayer } from '@drover/recipe';

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
  added: number;
  changed: number;
  removed: number;
}

/** Apply a recipe's layers (copy, file, template, symlink, directory, remove, settings) to a tree. */
export async function applyLayers(
  _options: ApplyLayersOptions,
  _ctx: Context = {},
): Promise<ApplyLayersResult> {
  throw new DroverError('NOT_IMPLEMENTED', 'applyLayers is not implemented yet', { kind: 'internal' });
}
