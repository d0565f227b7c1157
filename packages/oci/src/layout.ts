import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type Context,
  type DigestString,
  DroverError,
  digestBytes,
  isDigest,
  toDroverError,
  writeAtomically,
} from '@drover/core';
import { BlobStore } from './blob-store.js';
import { type ParsedManifest, parseConfig, parseManifest, serializeManifest } from './manifest.js';
import {
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  MediaType,
  type Platform,
  REF_NAME_ANNOTATION,
} from './media-types.js';
import { hostPlatform, selectPlatform } from './platform.js';

/** A resolved single-platform image: its manifest, config and their descriptors. */
export interface ResolvedImage {
  /** The descriptor of the image manifest (after platform selection). */
  descriptor: Descriptor;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  config: ImageConfig;
  /** The index the manifest was selected from, when the reference named an index. */
  index?: { descriptor: Descriptor; index: ImageIndex };
}

const MAX_MANIFEST = 4 << 20;

/**
 * An OCI image layout directory (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), as written by
 * `skopeo copy … oci:DIR`, `umoci` and drover itself.
 */
export class ImageLayout {
  readonly dir: string;
  readonly blobs: BlobStore;

  constructor(dir: string) {
    this.dir = resolve(dir);
    this.blobs = new BlobStore(join(this.dir, 'blobs'));
  }

  /** Read `index.json`. */
  async readIndex(): Promise<ImageIndex> {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(this.dir, 'index.json'));
    } catch (error) {
      throw toDroverError(error, `reading OCI layout ${this.dir}`);
    }
    const parsed = parseManifest(bytes, MediaType.OciIndex);
    if (parsed.kind !== 'index') {
      throw new DroverError('OCI_LAYOUT_INVALID', `${this.dir}/index.json is not an image index`, {
        hint: 'index.json must list manifests; the directory is not an OCI image layout.',
      });
    }
    return parsed.index;
  }

  /** Replace `index.json` atomically. */
  async writeIndex(index: ImageIndex): Promise<void> {
    const body = JSON.stringify({
      ...index,
      schemaVersion: 2,
      mediaType: index.mediaType ?? MediaType.OciIndex,
    });
    await writeAtomically(join(this.dir, 'index.json'), (tmp) => writeFile(tmp, body));
  }

  /** Tags (`org.opencontainers.image.ref.name`) with their descriptors, in index order. */
  async tags(): Promise<Array<{ name: string; descriptor: Descriptor }>> {
    const index = await this.readIndex();
    return index.manifests
      .filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== undefined)
      .map((m) => ({ name: m.annotations?.[REF_NAME_ANNOTATION] ?? '', descriptor: m }));
  }

  /**
   * The descriptor a reference names: a tag (`ref.name` annotation), a digest, or nothing when the index holds
   * exactly one manifest (what `skopeo copy … oci:DIR` without a tag writes).
   */
  async resolve(reference?: string): Promise<Descriptor> {
    const index = await this.readIndex();
    if (reference === undefined || reference === '') {
      if (index.manifests.length === 1) return index.manifests[0]!;
      const names = index.manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION] ?? m.digest);
      throw new DroverError(
        'OCI_LAYOUT_AMBIGUOUS',
        `${this.dir} holds ${index.manifests.length} images; name one`,
        {
          kind: 'usage',
          hint: names.length
            ? `Add :TAG or @DIGEST to the layout path; it holds: ${names.join(', ')}.`
            : 'The layout is empty.',
          details: { names },
        },
      );
    }
    if (isDigest(reference)) {
      const listed = index.manifests.find((m) => m.digest === reference);
      if (listed) return listed;
      // Any manifest blob in the store can be addressed by digest, e.g. a child of an index.
      const size = await this.blobs.size(reference);
      if (size !== undefined && size <= MAX_MANIFEST) {
        const parsed = parseManifest(await this.blobs.readBytes(reference, { maxSize: MAX_MANIFEST }));
        return { mediaType: parsed.mediaType, digest: reference, size };
      }
    } else {
      const tagged = index.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === reference);
      if (tagged) return tagged;
    }
    const names = index.manifests.flatMap((m) => m.annotations?.[REF_NAME_ANNOTATION] ?? []);
    throw new DroverError('OCI_REF_NOT_FOUND', `${this.dir} has no image ${JSON.stringify(reference)}`, {
      kind: 'not-found',
      hint: names.length ? `Tags in this layout: ${names.join(', ')}.` : 'The layout has no tagged images.',
      details: { reference, tags: names },
    });
  }

  /** Read and verify a manifest or index blob. */
  async readManifest(descriptor: Descriptor): Promise<ParsedManifest> {
    const bytes = await this.blobs.readBytes(descriptor.digest, {
      size: descriptor.size,
      maxSize: MAX_MANIFEST,
    });
    return parseManifest(bytes, descriptor.mediaType);
  }

  /** Read and verify an image config blob. */
  async readConfig(descriptor: Descriptor): Promise<ImageConfig> {
    return parseConfig(await this.blobs.readBytes(descriptor.digest, { size: descriptor.size }));
  }

  /**
   * Resolve a reference down to one image: follows an index to the manifest for `platform` (default: this
   * machine's), then reads the config.
   */
  async resolveImage(reference?: string, platform?: Platform): Promise<ResolvedImage> {
    let descriptor = await this.resolve(reference);
    let parsed = await this.readManifest(descriptor);
    let index: ResolvedImage['index'];
    for (let depth = 0; parsed.kind === 'index'; depth++) {
      if (depth > 4) {
        throw new DroverError('OCI_INDEX_TOO_DEEP', 'nested indexes deeper than 4 levels', {
          hint: 'The layout holds an index of indexes of indexes…; this is not a usable image.',
        });
      }
      index = { descriptor, index: parsed.index };
      descriptor = selectPlatform(parsed.index.manifests, platform ?? hostPlatform());
      parsed = await this.readManifest(descriptor);
    }
    const config = await this.readConfig(parsed.manifest.config);
    const out: ResolvedImage = { descriptor, manifest: parsed.manifest, manifestBytes: parsed.bytes, config };
    if (index) out.index = index;
    return out;
  }

  /** Store a manifest or index document and return its descriptor (not yet listed in index.json). */
  async putManifest(doc: ImageManifest | ImageIndex | Buffer, mediaType?: string): Promise<Descriptor> {
    const bytes = Buffer.isBuffer(doc) ? doc : serializeManifest(doc);
    const parsed = parseManifest(bytes, mediaType);
    const { digest, size } = await this.blobs.putBytes(bytes);
    const descriptor: Descriptor = { mediaType: mediaType ?? parsed.mediaType, digest, size };
    const artifactType =
      parsed.kind === 'manifest' ? parsed.manifest.artifactType : parsed.index.artifactType;
    if (artifactType) descriptor.artifactType = artifactType;
    return descriptor;
  }

  /**
   * List `descriptor` in index.json under `name` (replacing the entry that had that name). Without a name the
   * descriptor is listed untagged (once).
   */
  async tag(descriptor: Descriptor, name?: string): Promise<void> {
    const index = await this.readIndex();
    const entry: Descriptor = { ...descriptor };
    if (name !== undefined) {
      checkTagName(name);
      entry.annotations = { ...descriptor.annotations, [REF_NAME_ANNOTATION]: name };
    }
    const manifests = index.manifests.filter((m) =>
      name === undefined
        ? !(m.digest === descriptor.digest && m.annotations?.[REF_NAME_ANNOTATION] === undefined)
        : m.annotations?.[REF_NAME_ANNOTATION] !== name,
    );
    manifests.push(entry);
    await this.writeIndex({ ...index, manifests });
  }
}

/** The rules for tag names in a layout (the distribution tag grammar). */
export function checkTagName(name: string): void {
  if (!/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/.test(name)) {
    throw new DroverError('OCI_TAG_INVALID', `not a valid tag: ${JSON.stringify(name)}`, {
      kind: 'usage',
      hint: 'Tags are 1-128 characters of letters, digits, _, . and -, not starting with . or -.',
    });
  }
}

/** Options for {@link openLayout}. */
export interface OpenLayoutOptions {
  dir: string;
  /** Create an empty layout when `dir` holds none. */
  create?: boolean;
}

/** Open an OCI image layout directory (optionally creating it); checks `oci-layout`. */
export async function openLayout(options: OpenLayoutOptions, _ctx: Context = {}): Promise<ImageLayout> {
  const layout = new ImageLayout(options.dir);
  let marker: string | undefined;
  try {
    marker = await readFile(join(layout.dir, 'oci-layout'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw toDroverError(error, `opening ${layout.dir}`);
  }
  if (marker === undefined) {
    if (!options.create) {
      throw new DroverError(
        'OCI_LAYOUT_NOT_FOUND',
        `${layout.dir} is not an OCI image layout (no oci-layout file)`,
        {
          kind: 'not-found',
          hint: 'Point at a directory written by `drover oci pull`, `skopeo copy … oci:DIR` or umoci.',
        },
      );
    }
    await mkdir(join(layout.dir, 'blobs', 'sha256'), { recursive: true });
    const exists = await stat(join(layout.dir, 'index.json')).then(
      () => true,
      () => false,
    );
    if (!exists) await layout.writeIndex({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
    await writeAtomically(join(layout.dir, 'oci-layout'), (tmp) =>
      writeFile(tmp, JSON.stringify({ imageLayoutVersion: '1.0.0' })),
    );
    return layout;
  }
  let version: unknown;
  try {
    version = (JSON.parse(marker) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    version = undefined;
  }
  if (typeof version !== 'string' || !version.startsWith('1.')) {
    throw new DroverError(
      'OCI_LAYOUT_INVALID',
      `${layout.dir}/oci-layout has unsupported version ${JSON.stringify(version)}`,
      {
        hint: 'Only imageLayoutVersion 1.x layouts are supported.',
      },
    );
  }
  return layout;
}

/** Split `DIR[:TAG|@DIGEST]` (the `oci:` prefix is optional) into directory and reference. */
export function parseLayoutReference(value: string): { dir: string; reference?: string } {
  const raw = value.startsWith('oci:') ? value.slice(4) : value;
  const at = raw.lastIndexOf('@');
  if (at > 0 && isDigest(raw.slice(at + 1))) return { dir: raw.slice(0, at), reference: raw.slice(at + 1) };
  const colon = raw.lastIndexOf(':');
  if (colon > 0 && !raw.slice(colon + 1).includes('/')) {
    return { dir: raw.slice(0, colon), reference: raw.slice(colon + 1) };
  }
  return { dir: raw };
}

/** Digest of a manifest as stored (exact bytes). */
export function manifestDigest(bytes: Uint8Array): DigestString {
  return digestBytes(bytes);
}
