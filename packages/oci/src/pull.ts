import { type Context, type DigestString, DroverError, resolveContext, startProgress } from '@drover/core';
import { type ImageLayout, openLayout } from './layout.js';
import { manifestBlobs } from './manifest.js';
import type { Descriptor, ImageManifest, Platform } from './media-types.js';
import { hostPlatform, selectPlatform } from './platform.js';
import { RegistryClient, type RegistryClientOptions } from './registry/client.js';
import { formatImageReference, type ImageReference, parseImageReference } from './registry/reference.js';

/** How to reach a registry: everything of {@link RegistryClientOptions} except the host, which the reference names. */
export type RegistryAccess = Omit<RegistryClientOptions, 'registry'>;

/** Options for {@link pullImage}. */
export interface PullImageOptions {
  /** Image reference, e.g. `127.0.0.1:5000/base:1` or `ghcr.io/org/img@sha256:…`. */
  reference: string;
  /** OCI layout directory to pull into (created when missing). */
  layout: string;
  /** Tag to list the image under in the layout (default: the reference's tag). */
  tag?: string;
  /** Platform to pick from an index (default: this machine's). Ignored with `all`. */
  platform?: Platform;
  /** Keep the whole index and every platform's image (like `skopeo copy --all`). */
  all?: boolean;
  /** Blobs downloaded at once (default 6, like skopeo). */
  concurrency?: number;
  registry?: RegistryAccess;
}

/** What {@link pullImage} did. */
export interface PullResult {
  reference: string;
  /** Digest of the manifest (or index with `all`) listed in the layout. */
  digest: DigestString;
  mediaType: string;
  layout: string;
  tag?: string;
  /** Image manifests pulled (one unless `all`). */
  manifests: DigestString[];
  blobs: number;
  /** Blobs actually downloaded (the rest were already in the layout). */
  downloaded: number;
  bytes: number;
}

/** Pull an image from a registry into an OCI image layout, verifying every manifest and blob. */
export async function pullImage(options: PullImageOptions, ctx: Context = {}): Promise<PullResult> {
  const ref = parseImageReference(options.reference);
  const client = new RegistryClient({ ...options.registry, registry: ref.registry });
  client.prepareDownloads(); // the workers start while the manifests are fetched
  try {
    const layout = await openLayout({ dir: options.layout, create: true }, ctx);
    return await pullInto(client, ref, layout, options, ctx);
  } finally {
    client.close();
  }
}

async function pullInto(
  client: RegistryClient,
  ref: ImageReference,
  layout: ImageLayout,
  options: PullImageOptions,
  ctx: Context,
): Promise<PullResult> {
  const log = resolveContext(ctx).logger;
  const repo = ref.repository;
  const top = await client.getManifest(repo, ref.digest ?? ref.tag!, ctx);
  const images: Array<{ descriptor: Descriptor; manifest: ImageManifest; bytes: Buffer }> = [];
  let listed: Descriptor = top.descriptor;
  const indexes: Array<{ bytes: Buffer; descriptor: Descriptor }> = [];
  if (top.parsed.kind === 'index') {
    const wanted = options.all
      ? top.parsed.index.manifests
      : [selectPlatform(top.parsed.index.manifests, options.platform ?? hostPlatform())];
    if (options.all) indexes.push({ bytes: top.parsed.bytes, descriptor: top.descriptor });
    for (const d of wanted) {
      const child = await client.getManifest(repo, d.digest, ctx);
      if (child.parsed.kind !== 'manifest') {
        throw new DroverError(
          'OCI_NESTED_INDEX',
          `${formatImageReference(ref)}: nested indexes are not supported`,
          {
            hint: 'Pull the inner index by its digest.',
          },
        );
      }
      images.push({
        descriptor: { ...child.descriptor, ...(d.platform ? { platform: d.platform } : {}) },
        manifest: child.parsed.manifest,
        bytes: child.parsed.bytes,
      });
    }
    if (!options.all) listed = images[0]!.descriptor;
  } else {
    images.push({ descriptor: top.descriptor, manifest: top.parsed.manifest, bytes: top.parsed.bytes });
  }
  const blobs = new Map<string, Descriptor>();
  for (const image of images) for (const b of manifestBlobs(image.manifest)) blobs.set(b.digest, b);
  const total = [...blobs.values()].reduce((n, b) => n + b.size, 0);
  const progress = startProgress(ctx, {
    task: `oci.pull:${formatImageReference(ref)}`,
    label: `pulling ${formatImageReference(ref)}`,
    unit: 'bytes',
    total,
  });
  let downloaded = 0;
  try {
    const queue = [...blobs.values()].sort((a, b) => b.size - a.size);
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const before = progress.completed;
        const r = await client.fetchBlob(
          repo,
          next,
          layout.blobs,
          { onBytes: (n) => progress.advance(n) },
          ctx,
        );
        if (r.downloaded) downloaded++;
        else progress.update(before + next.size);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 6) }, worker));
    progress.done(true);
  } catch (error) {
    progress.done(false);
    throw error;
  }
  // manifests last, so a layout never lists an image whose blobs are missing
  for (const image of images) await layout.blobs.putBytes(image.bytes, image.descriptor.digest);
  for (const index of indexes) await layout.blobs.putBytes(index.bytes, index.descriptor.digest);
  const tag = options.tag ?? ref.tag;
  const entry: Descriptor = { mediaType: listed.mediaType, digest: listed.digest, size: listed.size };
  if (listed.platform) entry.platform = listed.platform;
  await layout.tag(entry, tag);
  log.info('pulled image', { reference: formatImageReference(ref), digest: listed.digest });
  const result: PullResult = {
    reference: formatImageReference(ref),
    digest: listed.digest,
    mediaType: listed.mediaType,
    layout: layout.dir,
    manifests: images.map((i) => i.descriptor.digest),
    blobs: blobs.size,
    downloaded,
    bytes: total,
  };
  if (tag) result.tag = tag;
  return result;
}
