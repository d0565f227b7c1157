import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Context, type DigestString, DroverError } from '@drover/core';
import type { FlattenLimits } from './flatten.js';
import { type FlattenedImage, flattenImage } from './image.js';
import { openLayout, parseLayoutReference, type ResolvedImage } from './layout.js';
import { parseConfig } from './manifest.js';
import type { Descriptor, ImageConfig, ImageManifest, Platform } from './media-types.js';
import { formatPlatform, hostPlatform, selectPlatform } from './platform.js';
import { pullImage, type RegistryAccess } from './pull.js';
import { RegistryClient } from './registry/client.js';
import { formatImageReference, parseImageReference } from './registry/reference.js';
import type { RootfsTree, TreeNodeType } from './tree.js';
import { verifyBytes } from './verify.js';

/** Where an image is: an OCI layout (`oci:DIR[:TAG]`, or a directory with an `oci-layout` file) or a registry. */
export type ImageSource =
  | { kind: 'layout'; dir: string; reference?: string }
  | { kind: 'registry'; reference: string };

/** Decide whether `value` names a layout or a registry reference. */
export async function resolveImageSource(value: string): Promise<ImageSource> {
  if (value.startsWith('oci:')) return { kind: 'layout', ...parseLayoutReference(value) };
  const candidate = parseLayoutReference(value);
  for (const dir of [value, candidate.dir]) {
    const isLayout = await stat(join(dir, 'oci-layout')).then(
      () => true,
      () => false,
    );
    if (isLayout) return dir === value ? { kind: 'layout', dir } : { kind: 'layout', ...candidate };
  }
  return { kind: 'registry', reference: formatImageReference(parseImageReference(value)) };
}

/** Options for {@link inspectImage}. */
export interface InspectImageOptions {
  /** `oci:DIR[:TAG]`, a layout directory, or a registry reference. */
  source: string;
  platform?: Platform;
  registry?: RegistryAccess;
}

/** What {@link inspectImage} reports. */
export interface ImageInspection {
  source: string;
  /** Digest of the image manifest (after platform selection). */
  digest: DigestString;
  mediaType: string;
  /** The index the manifest was picked from, with the platforms it offers. */
  index?: { digest: DigestString; mediaType: string; platforms: string[] };
  platform: string;
  created?: string;
  config: {
    digest: DigestString;
    size: number;
    entrypoint?: unknown;
    cmd?: unknown;
    env?: unknown;
    labels?: unknown;
  };
  layers: Array<{ digest: DigestString; mediaType: string; size: number }>;
  /** Sum of layer and config sizes (compressed, as stored). */
  size: number;
  annotations?: Record<string, string>;
}

/** Describe an image: manifest, config and layers with sizes (from a layout or a registry). */
export async function inspectImage(
  options: InspectImageOptions,
  ctx: Context = {},
): Promise<ImageInspection> {
  const source = await resolveImageSource(options.source);
  let resolved: {
    descriptor: Descriptor;
    manifest: ImageManifest;
    config: ImageConfig;
    index?: { descriptor: Descriptor; manifests: Descriptor[] };
  };
  if (source.kind === 'layout') {
    const layout = await openLayout({ dir: source.dir }, ctx);
    const image: ResolvedImage = await layout.resolveImage(source.reference, options.platform);
    resolved = { descriptor: image.descriptor, manifest: image.manifest, config: image.config };
    if (image.index)
      resolved.index = { descriptor: image.index.descriptor, manifests: image.index.index.manifests };
  } else {
    const ref = parseImageReference(source.reference);
    const client = new RegistryClient({ ...options.registry, registry: ref.registry });
    try {
      let top = await client.getManifest(ref.repository, ref.digest ?? ref.tag!, ctx);
      let index: { descriptor: Descriptor; manifests: Descriptor[] } | undefined;
      if (top.parsed.kind === 'index') {
        index = { descriptor: top.descriptor, manifests: top.parsed.index.manifests };
        const picked = selectPlatform(top.parsed.index.manifests, options.platform ?? hostPlatform());
        top = await client.getManifest(ref.repository, picked.digest, ctx);
      }
      if (top.parsed.kind !== 'manifest') {
        throw new DroverError('OCI_NESTED_INDEX', `${source.reference}: nested indexes are not supported`, {
          hint: 'Inspect the inner index by digest.',
        });
      }
      const configBytes = await readAll(
        await client.openBlob(ref.repository, top.parsed.manifest.config.digest, ctx),
      );
      verifyBytes(
        configBytes,
        top.parsed.manifest.config.digest,
        top.parsed.manifest.config.size,
        'image config',
      );
      resolved = {
        descriptor: top.descriptor,
        manifest: top.parsed.manifest,
        config: parseConfig(configBytes),
      };
      if (index) resolved.index = index;
    } finally {
      client.close();
    }
  }
  const { manifest, config } = resolved;
  const inner = (config.config ?? {}) as Record<string, unknown>;
  const out: ImageInspection = {
    source:
      source.kind === 'layout'
        ? `oci:${source.dir}${source.reference ? `:${source.reference}` : ''}`
        : source.reference,
    digest: resolved.descriptor.digest,
    mediaType: resolved.descriptor.mediaType,
    platform: formatPlatform({
      os: config.os ?? 'unknown',
      architecture: config.architecture ?? 'unknown',
      ...(config.variant ? { variant: config.variant } : {}),
    }),
    config: {
      digest: manifest.config.digest,
      size: manifest.config.size,
      ...(inner.Entrypoint ? { entrypoint: inner.Entrypoint } : {}),
      ...(inner.Cmd ? { cmd: inner.Cmd } : {}),
      ...(inner.Env ? { env: inner.Env } : {}),
      ...(inner.Labels ? { labels: inner.Labels } : {}),
    },
    layers: manifest.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size })),
    size: manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0),
  };
  if (config.created) out.created = config.created;
  if (manifest.annotations) out.annotations = manifest.annotations;
  if (resolved.index) {
    out.index = {
      digest: resolved.index.descriptor.digest,
      mediaType: resolved.index.descriptor.mediaType,
      platforms: resolved.index.manifests.filter((m) => m.platform).map((m) => formatPlatform(m.platform!)),
    };
  }
  return out;
}

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    size += (c as Buffer).length;
    if (size > 16 << 20)
      throw new DroverError('OCI_CONFIG_TOO_LARGE', 'image config larger than 16 MiB', {
        hint: 'This is not a usable image config.',
      });
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}

/** One line of a tree listing. */
export interface TreeListingEntry {
  /** Absolute path in the image (`/` for the root). */
  path: string;
  type: TreeNodeType;
  /** Permission bits as 4 octal digits. */
  mode: string;
  uid: number;
  gid: number;
  size: number;
  /** Modification time, seconds since the epoch (with fraction when nanoseconds are set). */
  mtime: number;
  target?: string;
  /** For a second (third…) name of a hardlinked inode: the first name. */
  hardlinkTo?: string;
  device?: string;
  xattrs?: string[];
}

/** A tree as a sorted listing (what `drover oci tree` prints). */
export function listTree(tree: RootfsTree): TreeListingEntry[] {
  const out: TreeListingEntry[] = [];
  const first = new Map<number, string>();
  for (const { path, node } of tree.walk()) {
    const i = node.inode;
    const abs = `/${path}`;
    const entry: TreeListingEntry = {
      path: abs,
      type: i.type,
      mode: i.mode.toString(8).padStart(4, '0'),
      uid: i.uid,
      gid: i.gid,
      size: i.size,
      mtime: i.mtime.sec + i.mtime.nsec / 1e9,
    };
    if (i.target !== undefined) entry.target = i.target;
    if (i.type === 'char' || i.type === 'block') entry.device = `${i.devMajor ?? 0},${i.devMinor ?? 0}`;
    if (i.xattrs.size) entry.xattrs = [...i.xattrs.keys()].sort();
    if (i.type === 'file' && i.nlink > 1) {
      const seen = first.get(i.id);
      if (seen) entry.hardlinkTo = seen;
      else first.set(i.id, abs);
    }
    out.push(entry);
  }
  return out;
}

/** Options for {@link flattenSource}. */
export interface FlattenSourceOptions {
  /** `oci:DIR[:TAG]`, a layout directory, or a registry reference (pulled into `cacheDir` first). */
  source: string;
  platform?: Platform;
  limits?: Partial<FlattenLimits>;
  registry?: RegistryAccess;
  /** Layout directory to pull registry images into (blobs there are reused). */
  cacheDir: string;
}

/** Flatten an image from a layout or a registry (pulling it into `cacheDir` first). */
export async function flattenSource(
  options: FlattenSourceOptions,
  ctx: Context = {},
): Promise<FlattenedImage> {
  const source = await resolveImageSource(options.source);
  const common = {
    ...(options.platform ? { platform: options.platform } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
  };
  if (source.kind === 'layout') {
    return flattenImage(
      { layout: source.dir, ...(source.reference ? { reference: source.reference } : {}), ...common },
      ctx,
    );
  }
  const pulled = await pullImage(
    {
      reference: source.reference,
      layout: options.cacheDir,
      ...(options.platform ? { platform: options.platform } : {}),
      ...(options.registry ? { registry: options.registry } : {}),
    },
    ctx,
  );
  return flattenImage({ layout: options.cacheDir, reference: pulled.digest, ...common }, ctx);
}
