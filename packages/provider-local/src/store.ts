import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import {
  type ArtifactSource,
  assertDigest,
  type Context,
  canonicalJson,
  type DigestString,
  DroverError,
  digestBytes,
  digestStream,
  type ImageRecord,
  type ImageRef,
  isDigest,
  type Publisher,
  parseDigest,
  throwIfAborted,
  toDroverError,
  writeAtomically,
} from '@drover/core';

/** What a channel file holds. */
export interface ChannelPointer {
  channel: string;
  ref: ImageRef;
  /** RFC 3339. */
  promotedAt: string;
  /** The reference the channel pointed to before this promotion. */
  previous?: ImageRef;
}

/** A signature attached to a published image (`drover publish` takes it from `image.json.sigstore.json`). */
export interface ImageSignature {
  /** The published record it belongs to. */
  record: DigestString;
  /** Digest of the record file exactly as it was signed (its canonical form is the published record). */
  signedRecord: DigestString;
  /** The Sigstore bundle, as parsed JSON. */
  bundle: unknown;
}

/** An attached signature with where its signed bytes are in the store. */
export interface StoredSignature extends ImageSignature {
  /** Path of the signed record bytes (a blob: verify the bundle against this file). */
  signedRecordPath: string;
  /** Path of the signature entry. */
  path: string;
}

/** Options of `LocalStore.attachSignature`. */
export interface AttachSignatureOptions {
  /** The record file that was signed (image.json as `drover sign` saw it). */
  signedRecord: string;
  /** The Sigstore bundle (parsed JSON) `drover sign` wrote next to it. */
  bundle: unknown;
}

/** Options of `LocalStore.open`. */
export interface LocalStoreOptions {
  /** Store directory; created when missing. */
  dir: string;
}

const CHANNEL_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const URI_PREFIX = 'local:';

/** The `local:` reference of a record digest. */
export function localRefOf(digest: DigestString, version?: string): ImageRef {
  return { uri: `${URI_PREFIX}${digest}`, digest, ...(version === undefined ? {} : { version }) };
}

/** The record digest a reference names; accepts `local:sha256:…`, a bare digest, or an `ImageRef`. */
export function digestOfRef(ref: ImageRef | string): DigestString {
  const text = typeof ref === 'string' ? ref : ref.digest;
  const bare = text.startsWith(URI_PREFIX) ? text.slice(URI_PREFIX.length) : text;
  if (!isDigest(bare)) {
    throw new DroverError('STORE_BAD_REF', `not an image reference: ${text}`, {
      kind: 'usage',
      hint: 'Pass local:sha256:<64 hex> or sha256:<64 hex> (see `drover publish` output).',
    });
  }
  return bare;
}

function checkChannel(channel: string): void {
  if (!CHANNEL_NAME.test(channel)) {
    throw new DroverError('STORE_BAD_CHANNEL', `invalid channel name ${JSON.stringify(channel)}`, {
      kind: 'usage',
      hint: 'Channel names are lower-case letters, digits, ".", "_" and "-", such as stable or canary.',
    });
  }
}

const ZEROS = Buffer.alloc(1 << 20);

/** True when every byte of `buf` is zero. */
function isZero(buf: Buffer): boolean {
  for (let at = 0; at < buf.length; at += ZEROS.length) {
    const part = buf.subarray(at, Math.min(buf.length, at + ZEROS.length));
    if (!part.equals(ZEROS.subarray(0, part.length))) return false;
  }
  return true;
}

const exists = async (path: string): Promise<boolean> => {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw toDroverError(error, `checking ${path}`);
  }
};

/**
 * A content-addressed image store in a directory:
 * `blobs/<alg>/<hex>` (artifacts and records), `images/<alg>/<hex>.json` (published records, the index `list`
 * reads), `channels/<name>.json` (pointers, replaced atomically), `signatures/<alg>/<record hex>/<hex>.json`
 * (Sigstore bundles over the record file as it was signed, whose bytes are a blob too). Every blob is hashed on the way in and on
 * the way out; a mismatch is an integrity error and nothing from it is used.
 */
export class LocalStore implements Publisher {
  readonly id: string;
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
    this.id = `local:${dir}`;
  }

  /** Open (creating if needed) a store directory. */
  static async open(options: LocalStoreOptions): Promise<LocalStore> {
    const dir = resolve(options.dir);
    try {
      for (const sub of ['blobs/sha256', 'blobs/sha512', 'images/sha256', 'channels', 'signatures/sha256']) {
        await mkdir(join(dir, sub), { recursive: true });
      }
    } catch (error) {
      throw toDroverError(error, `creating the image store ${dir}`);
    }
    return new LocalStore(dir);
  }

  /** Path of the blob with this digest (it may not exist). */
  blobPath(digest: DigestString): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.dir, 'blobs', algorithm, hex);
  }

  #imagePath(digest: DigestString): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.dir, 'images', algorithm, `${hex}.json`);
  }

  #channelPath(channel: string): string {
    return join(this.dir, 'channels', `${channel}.json`);
  }

  /** Copy a stream into the store under `digest`, hashing it on the way; refuses content that does not match. */
  async #ingest(
    source: () => Readable,
    digest: DigestString,
    what: string,
    size: number | undefined,
    ctx: Context,
  ): Promise<void> {
    throwIfAborted(ctx);
    const final = this.blobPath(digest);
    if (await exists(final)) {
      // Already stored: check it is still intact; a damaged copy is replaced below.
      try {
        await this.#checkBlob(digest, what, ctx);
        return;
      } catch (error) {
        if (!(error instanceof DroverError) || error.code !== 'DIGEST_MISMATCH') throw error;
      }
    }
    const { algorithm } = parseDigest(digest);
    await writeAtomically(final, async (tmp) => {
      const hash = createHash(algorithm);
      let written = 0;
      // Sparse copy: chunks of zeros become holes (disk images are mostly empty), the size is set at the end.
      const out = await open(tmp, 'w');
      try {
        for await (const chunk of source()) {
          throwIfAborted(ctx);
          const buf = chunk as Buffer;
          hash.update(buf);
          if (!isZero(buf)) await out.write(buf, 0, buf.length, written);
          written += buf.length;
        }
        await out.truncate(written);
      } finally {
        await out.close();
      }
      assertDigest(digest, `${algorithm}:${hash.digest('hex')}`, what);
      if (size !== undefined && size !== written) {
        throw new DroverError('STORE_SIZE_MISMATCH', `${what}: expected ${size} bytes, got ${written}`, {
          kind: 'integrity',
          hint: 'The artifact changed since its record was written; rebuild it.',
          details: { expected: size, actual: written },
        });
      }
    });
  }

  async #checkBlob(digest: DigestString, what: string, ctx: Context): Promise<number> {
    const { algorithm } = parseDigest(digest);
    const path = this.blobPath(digest);
    if (!(await exists(path))) {
      throw new DroverError('STORE_BLOB_MISSING', `${what}: blob ${digest} is not in the store`, {
        kind: 'not-found',
        hint: `Publish the image again to ${this.dir}.`,
      });
    }
    const result = await digestStream(createReadStream(path, { highWaterMark: 1 << 20 }), { algorithm }, ctx);
    assertDigest(digest, result.digest, what);
    return result.size;
  }

  /** Publish a record and its artifacts; idempotent: the same record gives the same reference. */
  async publish(record: ImageRecord, artifacts: ArtifactSource[], ctx: Context = {}): Promise<ImageRef> {
    if (record?.schemaVersion !== 1 || !Array.isArray(record.artifacts)) {
      throw new DroverError('STORE_BAD_RECORD', 'the image record is not a schemaVersion 1 record', {
        hint: 'Publish the record.json written by `drover build`.',
      });
    }
    for (const artifact of record.artifacts) {
      const source =
        artifacts.find((a) => a.digest === artifact.digest) ??
        artifacts.find((a) => a.name === artifact.name);
      const what = `artifact ${artifact.name} (${artifact.path})`;
      if (source) {
        if (source.digest !== artifact.digest) {
          throw new DroverError(
            'STORE_ARTIFACT_MISMATCH',
            `${what}: the file handed over has digest ${source.digest}, the record says ${artifact.digest}`,
            { kind: 'integrity', hint: 'Publish the artifacts the record was built with.' },
          );
        }
        await this.#ingest(
          () => createReadStream(source.file, { highWaterMark: 1 << 20 }),
          artifact.digest,
          what,
          artifact.size,
          ctx,
        );
      } else if (await exists(this.blobPath(artifact.digest))) {
        await this.#checkBlob(artifact.digest, what, ctx);
      } else {
        throw new DroverError(
          'STORE_ARTIFACT_MISSING',
          `${what} was not handed over and is not in the store`,
          {
            hint: 'Pass every artifact file listed in the record.',
            details: { name: artifact.name, digest: artifact.digest },
          },
        );
      }
    }
    const bytes = Buffer.from(canonicalJson(record));
    const digest = digestBytes(bytes);
    const blob = this.blobPath(digest);
    if (!(await exists(blob))) {
      await writeAtomically(blob, (tmp) => writeFile(tmp, bytes));
    }
    const ref = localRefOf(digest, record.version);
    const index = this.#imagePath(digest);
    if (!(await exists(index))) {
      const entry = { ref, name: record.name, version: record.version };
      await writeAtomically(index, (tmp) => writeFile(tmp, `${JSON.stringify(entry, null, 2)}\n`));
    }
    return ref;
  }

  /** The record a reference names, checked against its digest. */
  async record(ref: ImageRef | string, ctx: Context = {}): Promise<ImageRecord> {
    throwIfAborted(ctx);
    const digest = digestOfRef(ref);
    if (!(await exists(this.#imagePath(digest)))) {
      throw new DroverError('STORE_IMAGE_NOT_FOUND', `no published image ${digest} in ${this.dir}`, {
        kind: 'not-found',
        hint: 'List the store with `drover fleet ls` / `LocalStore.list()`, or publish the image first.',
      });
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(this.blobPath(digest));
    } catch (error) {
      throw toDroverError(error, `reading the record ${digest}`);
    }
    assertDigest(digest, digestBytes(bytes, parseDigest(digest).algorithm), `image record ${digest}`);
    return JSON.parse(bytes.toString('utf8')) as ImageRecord;
  }

  /**
   * Stream a blob out of the store, hashing it as it goes: the returned stream errors with `DIGEST_MISMATCH`
   * at its end when the content does not match, so a consumer must treat what it wrote as untrusted until
   * the stream ends cleanly.
   */
  openBlob(digest: DigestString): Readable {
    const { algorithm } = parseDigest(digest);
    const hash = createHash(algorithm);
    const input = createReadStream(this.blobPath(digest), { highWaterMark: 1 << 20 });
    async function* checked(): AsyncGenerator<Buffer> {
      for await (const chunk of input) {
        hash.update(chunk as Buffer);
        yield chunk as Buffer;
      }
      assertDigest(digest, `${algorithm}:${hash.digest('hex')}`, `blob ${digest}`);
    }
    // Readable.from keeps backpressure and propagates the generator's error to the consumer.
    return Readable.from(checked(), { objectMode: false });
  }

  /** Re-hash a stored blob; throws `DIGEST_MISMATCH` when it was tampered with. Returns its size. */
  async verifyBlob(digest: DigestString, ctx: Context = {}): Promise<number> {
    return this.#checkBlob(digest, `blob ${digest}`, ctx);
  }

  /**
   * Attach a signature to a published image: the record file that was signed goes into the blobs (it must be
   * the same record: its canonical JSON has the image's digest, else `STORE_SIGNATURE_MISMATCH`) and the bundle
   * into `signatures/`. The signature itself is checked when it matters, against a policy (`drover rollout`).
   */
  async attachSignature(
    ref: ImageRef | string,
    options: AttachSignatureOptions,
    ctx: Context = {},
  ): Promise<StoredSignature> {
    const digest = digestOfRef(ref);
    await this.record(digest, ctx);
    let bytes: Buffer;
    try {
      // A record is small (a few KiB): it is read whole, as `record()` does.
      bytes = await readFile(options.signedRecord);
    } catch (error) {
      throw toDroverError(error, 'reading the signed record');
    }
    let canonical: string;
    try {
      canonical = canonicalJson(JSON.parse(bytes.toString('utf8')));
    } catch (error) {
      throw new DroverError('STORE_SIGNATURE_MISMATCH', `${options.signedRecord} is not JSON`, {
        kind: 'integrity',
        cause: error,
        hint: 'Sign the image.json written by `drover build`.',
      });
    }
    if (digestBytes(Buffer.from(canonical)) !== digest) {
      throw new DroverError(
        'STORE_SIGNATURE_MISMATCH',
        `the signed record ${options.signedRecord} is not the published image ${digest}`,
        {
          kind: 'integrity',
          hint: 'Attach the signature of this very record (publish the record that was signed).',
        },
      );
    }
    const signedRecord = digestBytes(bytes);
    const blob = this.blobPath(signedRecord);
    if (!(await exists(blob))) await writeAtomically(blob, (tmp) => writeFile(tmp, bytes));
    const entry: ImageSignature = { record: digest, signedRecord, bundle: options.bundle };
    const entryBytes = `${JSON.stringify(entry, null, 2)}\n`;
    const path = join(
      this.#signatureDir(digest),
      `${parseDigest(digestBytes(Buffer.from(canonicalJson(options.bundle)))).hex}.json`,
    );
    if (!(await exists(path))) {
      await mkdir(this.#signatureDir(digest), { recursive: true }).catch((e) =>
        Promise.reject(toDroverError(e, 'storing a signature')),
      );
      await writeAtomically(path, (tmp) => writeFile(tmp, entryBytes));
    }
    return { ...entry, signedRecordPath: blob, path };
  }

  #signatureDir(digest: DigestString): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.dir, 'signatures', algorithm, hex);
  }

  /** The signatures attached to a published image (none: an empty list). */
  async signatures(ref: ImageRef | string, ctx: Context = {}): Promise<StoredSignature[]> {
    throwIfAborted(ctx);
    const digest = digestOfRef(ref);
    const dir = this.#signatureDir(digest);
    let files: string[];
    try {
      files = (await readdir(dir)).filter((f) => f.endsWith('.json') && !f.startsWith('.')).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw toDroverError(error, `reading the signatures of ${digest}`);
    }
    const out: StoredSignature[] = [];
    for (const file of files) {
      const path = join(dir, file);
      let entry: ImageSignature;
      try {
        entry = JSON.parse(await readFile(path, 'utf8')) as ImageSignature;
      } catch (error) {
        throw new DroverError('STORE_SIGNATURE_CORRUPT', `signature entry ${path} is not JSON`, {
          kind: 'integrity',
          cause: error,
          hint: 'Publish the image again with its signature.',
        });
      }
      if (entry.record !== digest) continue;
      out.push({ ...entry, signedRecordPath: this.blobPath(entry.signedRecord), path });
    }
    return out;
  }

  /** The reference a channel points to, or undefined. */
  async resolve(channel: string, ctx: Context = {}): Promise<ImageRef | undefined> {
    return (await this.channel(channel, ctx))?.ref;
  }

  /** The whole channel pointer (with when it moved and where it pointed before), or undefined. */
  async channel(channel: string, ctx: Context = {}): Promise<ChannelPointer | undefined> {
    throwIfAborted(ctx);
    checkChannel(channel);
    let text: string;
    try {
      text = await readFile(this.#channelPath(channel), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw toDroverError(error, `reading channel ${channel}`);
    }
    try {
      return JSON.parse(text) as ChannelPointer;
    } catch (error) {
      throw new DroverError('STORE_CHANNEL_CORRUPT', `channel file of ${channel} is not JSON`, {
        kind: 'integrity',
        cause: error,
        hint: `Promote the channel again to rewrite ${this.#channelPath(channel)}.`,
      });
    }
  }

  /** Every channel with its pointer. */
  async channels(ctx: Context = {}): Promise<ChannelPointer[]> {
    const names = (await readdir(join(this.dir, 'channels')))
      .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
      .map((f) => f.slice(0, -'.json'.length))
      .sort();
    const out: ChannelPointer[] = [];
    for (const name of names) {
      const pointer = await this.channel(name, ctx);
      if (pointer) out.push(pointer);
    }
    return out;
  }

  /** Point a channel at a published image; the channel file is replaced atomically. */
  async promote(channel: string, ref: ImageRef, ctx: Context = {}): Promise<void> {
    checkChannel(channel);
    const record = await this.record(ref, ctx);
    const previous = await this.resolve(channel, ctx);
    const pointer: ChannelPointer = {
      channel,
      ref: localRefOf(digestOfRef(ref), record.version),
      promotedAt: new Date().toISOString(),
      ...(previous ? { previous } : {}),
    };
    await writeAtomically(this.#channelPath(channel), (tmp) =>
      writeFile(tmp, `${JSON.stringify(pointer, null, 2)}\n`),
    );
  }

  /** Every published image, oldest name first (sorted by name, version, digest). */
  async list(ctx: Context = {}): Promise<ImageRef[]> {
    throwIfAborted(ctx);
    const out: { ref: ImageRef; name: string; version: string }[] = [];
    const dir = join(this.dir, 'images', 'sha256');
    for (const file of (await readdir(dir)).sort()) {
      if (!file.endsWith('.json') || file.startsWith('.')) continue;
      try {
        out.push(JSON.parse(await readFile(join(dir, file), 'utf8')));
      } catch (error) {
        throw toDroverError(error, `reading ${join(dir, file)}`);
      }
    }
    out.sort(
      (a, b) =>
        a.name.localeCompare(b.name) ||
        a.version.localeCompare(b.version) ||
        a.ref.digest.localeCompare(b.ref.digest),
    );
    return out.map((e) => e.ref);
  }

  /**
   * Remove a published image and the blobs no other image uses. Refuses while a channel points to it
   * (`STORE_IMAGE_IN_USE`): promote the channel elsewhere first.
   */
  async retire(ref: ImageRef, ctx: Context = {}): Promise<void> {
    const digest = digestOfRef(ref);
    const users = (await this.channels(ctx)).filter((c) => c.ref.digest === digest).map((c) => c.channel);
    if (users.length > 0) {
      throw new DroverError('STORE_IMAGE_IN_USE', `channels ${users.join(', ')} point to ${digest}`, {
        kind: 'conflict',
        hint: 'Promote those channels to another image before retiring this one.',
        details: { channels: users },
      });
    }
    const record = await this.record(ref, ctx);
    const signed = (await this.signatures(digest, ctx)).map((sig) => sig.signedRecord);
    await rm(this.#imagePath(digest), { force: true });
    await rm(this.#signatureDir(digest), { recursive: true, force: true });
    const keep = new Set<string>();
    for (const other of await this.list(ctx)) {
      keep.add(other.digest);
      for (const a of (await this.record(other, ctx)).artifacts) keep.add(a.digest);
    }
    for (const d of [digest, ...signed, ...record.artifacts.map((a) => a.digest)]) {
      if (!keep.has(d)) await rm(this.blobPath(d), { force: true });
    }
  }
}
