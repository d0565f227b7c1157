import type { Context } from '@drover/core';
import { compressionOf } from './decompress.js';
import { type FlattenLimits, flattenLayers } from './flatten.js';
import { type ImageLayout, openLayout, type ResolvedImage } from './layout.js';
import type { ImageConfig, ImageManifest, Platform } from './media-types.js';
import type { LayerSource, RootfsTree } from './tree.js';

/** Layer sources for an image stored in a layout: blobs are read (and verified) from its blob store. */
export function layoutLayerSources(
  layout: ImageLayout,
  manifest: ImageManifest,
  config?: ImageConfig,
): LayerSource[] {
  return manifest.layers.map((descriptor, i) => {
    const source: LayerSource = {
      descriptor,
      open: () => layout.blobs.open(descriptor.digest, { size: descriptor.size }),
      openRange: (start, end) => layout.blobs.open(descriptor.digest, { start, end }),
    };
    const compression = compressionOf(descriptor.mediaType);
    if (compression) source.compression = compression;
    const diffId = config?.rootfs?.diff_ids?.[i];
    if (diffId) source.diffId = diffId;
    return source;
  });
}

/** Options for {@link flattenImage}. */
export interface FlattenImageOptions {
  /** OCI layout directory (or an opened layout). */
  layout: string | ImageLayout;
  /** Tag or digest inside the layout; optional when it holds one image. */
  reference?: string;
  /** Platform to pick from an index (default: this machine's). */
  platform?: Platform;
  limits?: Partial<FlattenLimits>;
  /** Check layers against the config's diff ids (default true). */
  verifyDiffIds?: boolean;
  /** Layers read at once (default 2); they are always applied in order. */
  concurrency?: number;
}

/** A flattened image: the tree plus the manifest and config it came from. */
export interface FlattenedImage {
  tree: RootfsTree;
  image: ResolvedImage;
}

/** Resolve an image in an OCI layout and flatten its layers into a tree. */
export async function flattenImage(options: FlattenImageOptions, ctx: Context = {}): Promise<FlattenedImage> {
  const layout =
    typeof options.layout === 'string' ? await openLayout({ dir: options.layout }, ctx) : options.layout;
  const image = await layout.resolveImage(options.reference, options.platform);
  const tree = await flattenLayers(
    {
      layers: layoutLayerSources(layout, image.manifest, image.config),
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.verifyDiffIds === undefined ? {} : { verifyDiffIds: options.verifyDiffIds }),
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    },
    ctx,
  );
  return { tree, image };
}
