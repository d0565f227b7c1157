import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import { type Context, type DigestString, DroverError } from '@drover/core';
import type { ImageLayout } from './layout.js';
import {
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  MediaType,
  type Platform,
} from './media-types.js';
import { type TarWriteEntry, type TarWriteOptions, writeTar } from './tar-writer.js';

/** A layer to write: tar entries plus how to compress them. */
export interface LayerInput {
  entries: Iterable<TarWriteEntry> | AsyncIterable<TarWriteEntry>;
  /** `gzip` (default) or `none`. Node 20 has no zstd encoder; store zstd blobs with {@link ImageLayout.blobs}. */
  compression?: 'gzip' | 'none';
  /** gzip level 1-9 (default 9). */
  level?: number;
  tar?: TarWriteOptions;
}

/** A layer written to a layout: its descriptor and uncompressed digest. */
export interface WrittenLayer {
  descriptor: Descriptor;
  diffId: DigestString;
}

/** Write one layer into the layout's blob store (deterministic bytes for the same entries). */
export async function writeLayer(
  layout: ImageLayout,
  input: LayerInput,
  ctx: Context = {},
): Promise<WrittenLayer> {
  const diff = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      diff.update(chunk);
      cb(null, chunk);
    },
  });
  const tar = Readable.from(writeTar(input.entries, input.tar)).pipe(tap);
  const compression = input.compression ?? 'gzip';
  const body = compression === 'gzip' ? tar.pipe(createGzip({ level: input.level ?? 9 })) : tar;
  tar.on('error', (e) => body.destroy(e));
  const { digest, size } = await layout.blobs.put(body, {}, ctx);
  return {
    descriptor: {
      mediaType: compression === 'gzip' ? MediaType.OciLayerGzip : MediaType.OciLayer,
      digest,
      size,
    },
    diffId: `sha256:${diff.digest('hex')}`,
  };
}

/** Options for {@link writeImage}. */
export interface WriteImageOptions {
  layout: ImageLayout;
  layers: LayerInput[];
  /** Platform of the image (default linux/amd64). */
  platform?: Platform;
  /** Extra image config fields (`config`, `created`, `history`, …). `rootfs` is filled in. */
  config?: Partial<ImageConfig>;
  annotations?: Record<string, string>;
  /** Tag to list the image under in index.json. */
  tag?: string;
}

/** Write a single-platform image (layers, config, manifest) into a layout and optionally tag it. */
export async function writeImage(options: WriteImageOptions, ctx: Context = {}): Promise<Descriptor> {
  const { layout } = options;
  const layers: WrittenLayer[] = [];
  for (const layer of options.layers) layers.push(await writeLayer(layout, layer, ctx));
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    ...options.config,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configBlob = await layout.blobs.putBytes(configBytes);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: configBlob.digest, size: configBlob.size },
    layers: layers.map((l) => l.descriptor),
    ...(options.annotations ? { annotations: options.annotations } : {}),
  };
  const descriptor = await layout.putManifest(manifest, MediaType.OciManifest);
  descriptor.platform = platform;
  if (options.tag !== undefined) await layout.tag(descriptor, options.tag);
  if (layers.length === 0 && options.layers.length !== 0) {
    throw new DroverError('INTERNAL', 'no layers written', { kind: 'internal' });
  }
  return descriptor;
}
