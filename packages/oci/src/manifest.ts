import { type DigestString, DroverError, isDigest } from '@drover/core';
import {
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  isIndexMediaType,
  isManifestMediaType,
  MediaType,
} from './media-types.js';

/** A parsed manifest document: an index or an image manifest, with its exact bytes. */
export type ParsedManifest =
  | { kind: 'index'; mediaType: string; index: ImageIndex; bytes: Buffer }
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest; bytes: Buffer };

function invalid(message: string, details?: Record<string, unknown>): DroverError {
  return new DroverError('OCI_MANIFEST_INVALID', message, {
    hint: 'The manifest is not a valid OCI/Docker schema 2 document; check the image source.',
    ...(details ? { details } : {}),
  });
}

/** Check a descriptor's shape and return it typed. */
export function checkDescriptor(value: unknown, where: string): Descriptor {
  const d = value as Partial<Descriptor> | null;
  if (!d || typeof d !== 'object') throw invalid(`${where}: descriptor is not an object`);
  if (typeof d.mediaType !== 'string' || d.mediaType === '')
    throw invalid(`${where}: descriptor has no mediaType`);
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) {
    throw invalid(`${where}: descriptor digest ${JSON.stringify(d.digest)} is not a valid digest`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw invalid(`${where}: descriptor size ${JSON.stringify(d.size)} is not a non-negative integer`);
  }
  return d as Descriptor;
}

/**
 * Parse manifest bytes. `mediaType` (from Content-Type or a descriptor) decides the kind when the document has
 * no `mediaType` field; the bytes are kept as-is, because digests cover the exact bytes.
 */
export function parseManifest(bytes: Buffer, mediaType?: string): ParsedManifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch (error) {
    throw invalid(`manifest is not JSON: ${(error as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw invalid('manifest is not a JSON object');
  if (doc.schemaVersion !== 2) {
    throw invalid(
      `unsupported manifest schemaVersion ${JSON.stringify(doc.schemaVersion)} (only 2 is supported)`,
    );
  }
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const type =
    declared ?? mediaType ?? (Array.isArray(doc.manifests) ? MediaType.OciIndex : MediaType.OciManifest);
  if (isIndexMediaType(type) || (!isManifestMediaType(type) && Array.isArray(doc.manifests))) {
    if (!Array.isArray(doc.manifests)) throw invalid('index has no manifests array');
    for (const [i, m] of doc.manifests.entries()) checkDescriptor(m, `manifests[${i}]`);
    if (doc.subject !== undefined) checkDescriptor(doc.subject, 'subject');
    return { kind: 'index', mediaType: type, index: doc as unknown as ImageIndex, bytes };
  }
  checkDescriptor(doc.config, 'config');
  if (!Array.isArray(doc.layers)) throw invalid('manifest has no layers array');
  for (const [i, l] of doc.layers.entries()) checkDescriptor(l, `layers[${i}]`);
  if (doc.subject !== undefined) checkDescriptor(doc.subject, 'subject');
  return { kind: 'manifest', mediaType: type, manifest: doc as unknown as ImageManifest, bytes };
}

/** Parse an image config blob. */
export function parseConfig(bytes: Buffer): ImageConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new DroverError('OCI_CONFIG_INVALID', `image config is not JSON: ${(error as Error).message}`, {
      hint: 'The image config blob is corrupt; check the image source.',
    });
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new DroverError('OCI_CONFIG_INVALID', 'image config is not a JSON object', {
      hint: 'The image config blob is corrupt; check the image source.',
    });
  }
  const config = doc as ImageConfig;
  const diffIds = config.rootfs?.diff_ids;
  if (
    diffIds !== undefined &&
    (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string' && isDigest(d)))
  ) {
    throw new DroverError('OCI_CONFIG_INVALID', 'image config rootfs.diff_ids is not a list of digests', {
      hint: 'The image config blob is corrupt; check the image source.',
    });
  }
  return config;
}

/** Serialise a manifest or index the canonical drover way (compact JSON, key order as given). */
export function serializeManifest(doc: ImageManifest | ImageIndex): Buffer {
  return Buffer.from(JSON.stringify(doc), 'utf8');
}

/** The media type a manifest document declares, or the default for its shape. */
export function manifestMediaType(doc: ImageManifest | ImageIndex): string {
  if (doc.mediaType) return doc.mediaType;
  return 'manifests' in doc ? MediaType.OciIndex : MediaType.OciManifest;
}

/** All blob digests a manifest references (config, layers; not subject). */
export function manifestBlobs(manifest: ImageManifest): Descriptor[] {
  return [manifest.config, ...manifest.layers];
}

/** Digest list helper for messages. */
export function shortDigest(digest: DigestString): string {
  return digest.slice(0, 19);
}
