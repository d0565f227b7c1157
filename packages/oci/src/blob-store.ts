import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type Context,
  type DigestString,
  DroverError,
  parseDigest,
  temporaryPathFor,
  throwIfAborted,
  toDroverError,
} from '@drover/core';
import { digestMismatch, openVerifiedFile, sizeMismatch, verifyBytes } from './verify.js';

/** Options for reading a blob. */
export interface OpenBlobOptions {
  /** Expected size in bytes; checked while streaming. */
  size?: number;
  /** Start at this byte (the digest is then not verified: use only on blobs verified when stored). */
  start?: number;
  /** Last byte to read, inclusive (with `start`). */
  end?: number;
}

/** Result of storing a blob. */
export interface PutBlobResult {
  digest: DigestString;
  size: number;
  /** False when the blob was already present. */
  written: boolean;
}

/**
 * A content-addressed blob store: `<root>/<algorithm>/<hex>`, the `blobs/` directory of an OCI image layout.
 * Blobs are written to a temporary sibling and renamed into place only after their digest checked out, so a
 * blob under its final name is always complete and verified. Reads re-verify while streaming.
 */
export class BlobStore {
  /** The directory holding `<algorithm>/<hex>` files. */
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  /** Path of the blob with this digest (whether or not it exists). */
  path(digest: DigestString): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.root, algorithm, hex);
  }

  /** Size of the blob, or undefined when absent. */
  async size(digest: DigestString): Promise<number | undefined> {
    try {
      return (await stat(this.path(digest))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw toDroverError(error, `blob ${digest}`);
    }
  }

  /** True when the blob is present. */
  async has(digest: DigestString): Promise<boolean> {
    return (await this.size(digest)) !== undefined;
  }

  /**
   * Stream a blob, verifying its digest (and size) as it is read, on a hashing worker; a mismatch errors the
   * stream at its end. With `start`/`end`, a byte range is read unverified.
   */
  open(digest: DigestString, options: OpenBlobOptions = {}): Readable {
    const path = this.path(digest);
    const notFound = (): DroverError =>
      new DroverError('BLOB_NOT_FOUND', `blob ${digest} is not in ${this.root}`, {
        kind: 'not-found',
        hint: 'The image layout is incomplete; pull or copy the image again.',
        details: { digest },
      });
    if (options.start === undefined && options.end === undefined) {
      return openVerifiedFile(path, digest, {
        ...(options.size === undefined ? {} : { size: options.size }),
        what: `blob ${digest}`,
        notFound,
      });
    }
    const file = createReadStream(path, {
      highWaterMark: 1 << 20,
      ...(options.start === undefined ? {} : { start: options.start }),
      ...(options.end === undefined ? {} : { end: options.end }),
    });
    // a stream of its own, so that a missing blob or a read error reaches the consumer as a DroverError
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    file.on('error', (error) => {
      out.destroy(
        (error as NodeJS.ErrnoException).code === 'ENOENT'
          ? notFound()
          : toDroverError(error, `reading blob ${digest}`),
      );
    });
    out.on('close', () => file.destroy());
    return file.pipe(out);
  }

  /** Read a small blob (manifest, config) into memory, verified. */
  async readBytes(digest: DigestString, options: { size?: number; maxSize?: number } = {}): Promise<Buffer> {
    const max = options.maxSize ?? 16 << 20;
    const actual = await this.size(digest);
    if (actual === undefined) {
      throw new DroverError('BLOB_NOT_FOUND', `blob ${digest} is not in ${this.root}`, {
        kind: 'not-found',
        hint: 'The image layout is incomplete; pull or copy the image again.',
        details: { digest },
      });
    }
    if (actual > max) {
      throw new DroverError(
        'BLOB_TOO_LARGE',
        `blob ${digest} is ${actual} bytes, more than ${max} allowed here`,
        {
          hint: 'Manifests and configs are small JSON documents; this layout looks corrupt.',
        },
      );
    }
    const chunks: Buffer[] = [];
    for await (const chunk of this.open(digest, options.size === undefined ? {} : { size: options.size })) {
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /** Store bytes, verifying them against `expected` when given. */
  async putBytes(data: Uint8Array, expected?: DigestString): Promise<PutBlobResult> {
    const digest = expected ?? (`sha256:${createHash('sha256').update(data).digest('hex')}` as DigestString);
    if (expected) verifyBytes(data, expected, undefined, `blob ${expected}`);
    if ((await this.size(digest)) === data.length) return { digest, size: data.length, written: false };
    await this.#commit(digest, async (tmp) => {
      await writeFile(tmp, data);
    });
    return { digest, size: data.length, written: true };
  }

  /**
   * Store a stream. With `expected` the digest (and `size`) is checked while writing and nothing is kept on a
   * mismatch; without it the blob is stored under the digest computed from its content.
   */
  async put(
    source: Readable | AsyncIterable<Uint8Array>,
    options: { expected?: DigestString; size?: number; onBytes?: (n: number) => void } = {},
    ctx: Context = {},
  ): Promise<PutBlobResult> {
    const algorithm = options.expected ? parseDigest(options.expected).algorithm : 'sha256';
    const hash = createHash(algorithm);
    let size = 0;
    const tmpDir = join(this.root, algorithm);
    await mkdir(tmpDir, { recursive: true });
    const tmp = temporaryPathFor(join(tmpDir, 'incoming'));
    try {
      throwIfAborted(ctx);
      const meter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          if (options.size !== undefined && size > options.size) {
            cb(sizeMismatch(`blob ${options.expected ?? ''}`.trim(), options.size, size));
            return;
          }
          hash.update(chunk);
          options.onBytes?.(chunk.length);
          cb(null, chunk);
        },
      });
      await pipeline(source, meter, createWriteStream(tmp), ctx.signal ? { signal: ctx.signal } : {});
      if (options.size !== undefined && size !== options.size) {
        throw sizeMismatch(`blob ${options.expected}`, options.size, size);
      }
      const digest = `${algorithm}:${hash.digest('hex')}` as DigestString;
      if (options.expected && digest !== options.expected)
        throw digestMismatch(`blob`, options.expected, digest);
      const final = this.path(digest);
      await rename(tmp, final);
      return { digest, size, written: true };
    } catch (error) {
      await rm(tmp, { force: true });
      throwIfAborted(ctx);
      throw toDroverError(error, 'storing blob');
    }
  }

  /** Digests of every blob present, sorted. */
  async list(): Promise<DigestString[]> {
    const out: DigestString[] = [];
    for (const algorithm of ['sha256', 'sha512']) {
      let names: string[];
      try {
        names = await readdir(join(this.root, algorithm));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw toDroverError(error, 'listing blobs');
      }
      for (const name of names) if (!name.startsWith('.')) out.push(`${algorithm}:${name}` as DigestString);
    }
    return out.sort();
  }

  /** Remove a blob (missing is fine). */
  async delete(digest: DigestString): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  async #commit(digest: DigestString, write: (tmp: string) => Promise<void>): Promise<void> {
    const final = this.path(digest);
    await mkdir(join(final, '..'), { recursive: true });
    const tmp = temporaryPathFor(final);
    try {
      await write(tmp);
      await rename(tmp, final);
    } catch (error) {
      await rm(tmp, { force: true });
      throw toDroverError(error, `storing blob ${digest}`);
    }
  }
}
