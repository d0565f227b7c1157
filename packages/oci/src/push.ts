import { type Context, type DigestString, DroverError, startProgress } from '@drover/core';
import { type ImageLayout, openLayout } from './layout.js';
import { manifestBlobs, parseManifest } from './manifest.js';
import type { Descriptor } from './media-types.js';
import type { RegistryAccess } from './pull.js';
import { type BlobPushOutcome, RegistryClient } from './registry/client.js';
import { formatImageReference, parseImageReference } from './registry/reference.js';

/** Options for {@link pushImage}. */
export interface PushImageOptions {
  /** OCI layout directory. */
  layout: string;
  /** Tag or digest inside the layout; optional when it holds one image. */
  source?: string;
  /** Where to push, e.g. `127.0.0.1:5000/base:1`. */
  reference: string;
  /** Repository on the same registry to mount blobs from instead of uploading them. */
  mountFrom?: string;
  /** Blobs uploaded at once (default 3). */
  concurrency?: number;
  registry?: RegistryAccess;
}

/** What {@link pushImage} did. */
export interface PushResult {
  reference: string;
  digest: DigestString;
  mediaType: string;
  blobs: { uploaded: number; mounted: number; existing: number };
  bytes: number;
}

/** Push an image (or a whole index) from an OCI layout to a registry: blobs, then child manifests, then the top one. */
export async function pushImage(options: PushImageOptions, ctx: Context = {}): Promise<PushResult> {
  const ref = parseImageReference(options.reference);
  const layout = await openLayout({ dir: options.layout }, ctx);
  const top = await layout.resolve(options.source);
  const client = new RegistryClient({ ...options.registry, registry: ref.registry });
  try {
    const manifests: Array<{ descriptor: Descriptor; bytes: Buffer }> = [];
    const blobs = new Map<string, Descriptor>();
    await collect(layout, top, manifests, blobs, 0);
    const total = [...blobs.values()].reduce((n, b) => n + b.size, 0);
    const progress = startProgress(ctx, {
      task: `oci.push:${formatImageReference(ref)}`,
      label: `pushing ${formatImageReference(ref)}`,
      unit: 'bytes',
      total,
    });
    const counts = { uploaded: 0, mounted: 0, existing: 0 };
    const tally = (o: BlobPushOutcome): void => {
      if (o === 'uploaded') counts.uploaded++;
      else if (o === 'mounted') counts.mounted++;
      else counts.existing++;
    };
    try {
      const queue = [...blobs.values()];
      const worker = async (): Promise<void> => {
        for (let b = queue.shift(); b; b = queue.shift()) {
          const desc = b;
          const before = progress.completed;
          const outcome = await client.pushBlob(
            ref.repository,
            desc,
            {
              open: (start) =>
                start === 0
                  ? layout.blobs.open(desc.digest, { size: desc.size })
                  : layout.blobs.open(desc.digest, { start }),
              ...(options.mountFrom ? { mountFrom: options.mountFrom } : {}),
              onBytes: (n) => progress.advance(n),
            },
            ctx,
          );
          progress.update(before + desc.size);
          tally(outcome);
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 3) }, worker));
      progress.done(true);
    } catch (error) {
      progress.done(false);
      throw error;
    }
    // children first (by digest), the top manifest last under the tag
    for (const m of manifests.slice(0, -1)) {
      await client.putManifest(ref.repository, m.descriptor.digest, m.bytes, m.descriptor.mediaType, ctx);
    }
    const last = manifests[manifests.length - 1]!;
    const pushed = await client.putManifest(
      ref.repository,
      ref.digest ?? ref.tag ?? last.descriptor.digest,
      last.bytes,
      last.descriptor.mediaType,
      ctx,
    );
    return {
      reference: formatImageReference(ref),
      digest: pushed.digest,
      mediaType: pushed.mediaType,
      blobs: counts,
      bytes: total,
    };
  } finally {
    client.close();
  }
}

async function collect(
  layout: ImageLayout,
  descriptor: Descriptor,
  manifests: Array<{ descriptor: Descriptor; bytes: Buffer }>,
  blobs: Map<string, Descriptor>,
  depth: number,
): Promise<void> {
  if (depth > 4)
    throw new DroverError('OCI_INDEX_TOO_DEEP', 'nested indexes deeper than 4 levels', {
      hint: 'Push the inner index instead.',
    });
  const bytes = await layout.blobs.readBytes(descriptor.digest, { size: descriptor.size, maxSize: 4 << 20 });
  const parsed = parseManifest(bytes, descriptor.mediaType);
  if (parsed.kind === 'index') {
    for (const child of parsed.index.manifests) await collect(layout, child, manifests, blobs, depth + 1);
  } else {
    for (const b of manifestBlobs(parsed.manifest)) blobs.set(b.digest, b);
  }
  if (!manifests.some((m) => m.descriptor.digest === descriptor.digest)) {
    manifests.push({
      descriptor: { mediaType: parsed.mediaType, digest: descriptor.digest, size: descriptor.size },
      bytes,
    });
  }
}
