import { createHash, type Hash } from 'node:crypto';
import { close as fsClose, open as fsOpen, read as fsRead, fstat } from 'node:fs';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import {
  type DigestString,
  DroverError,
  fileIdentity,
  type HashSession,
  parseDigest,
  sharedWorkerHasher,
  toDroverError,
} from '@drover/core';

/** Error for content whose digest or size differs from its descriptor. */
export function digestMismatch(what: string, expected: string, actual: string): DroverError {
  return new DroverError('DIGEST_MISMATCH', `${what}: expected ${expected}, got ${actual}`, {
    kind: 'integrity',
    hint: 'The content changed or was corrupted in transit; nothing from it was kept. Fetch it again from a trusted source.',
    details: { expected, actual },
  });
}

/** Error for content longer or shorter than its descriptor says. */
export function sizeMismatch(what: string, expected: number, actual: number): DroverError {
  return new DroverError('SIZE_MISMATCH', `${what}: expected ${expected} bytes, got ${actual}`, {
    kind: 'integrity',
    hint: 'The content is truncated or padded; nothing from it was kept. Fetch it again from a trusted source.',
    details: { expected, actual },
  });
}

/**
 * A pass-through stream that hashes what flows through it and fails at the end (before the final chunk is
 * considered complete) unless the digest, and the size when given, match. Consumers must treat data as
 * unverified until the stream ends without error.
 */
export class VerifyingStream extends Transform {
  readonly #hash: Hash;
  readonly #expected: DigestString;
  readonly #size: number | undefined;
  readonly #what: string;
  #seen = 0;

  constructor(expected: DigestString, size: number | undefined, what: string) {
    // large buffers let the decompressor (on the thread pool) work ahead while this thread hashes
    super({ highWaterMark: 4 << 20 });
    this.#hash = createHash(parseDigest(expected).algorithm);
    this.#expected = expected;
    this.#size = size;
    this.#what = what;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#size !== undefined && this.#seen > this.#size) {
      callback(sizeMismatch(this.#what, this.#size, this.#seen));
      return;
    }
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#size !== undefined && this.#seen !== this.#size) {
      callback(sizeMismatch(this.#what, this.#size, this.#seen));
      return;
    }
    const actual = `${parseDigest(this.#expected).algorithm}:${this.#hash.digest('hex')}`;
    callback(actual === this.#expected ? null : digestMismatch(this.#what, this.#expected, actual));
  }
}

/** Check bytes in memory against a digest (and size). */
export function verifyBytes(
  data: Uint8Array,
  expected: DigestString,
  size: number | undefined,
  what: string,
): void {
  if (size !== undefined && data.length !== size) throw sizeMismatch(what, size, data.length);
  const { algorithm } = parseDigest(expected);
  const actual = `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
  if (actual !== expected) throw digestMismatch(what, expected, actual);
}

/** Options of {@link openVerifiedFile}. */
export interface OpenVerifiedFileOptions {
  /** Expected size in bytes (checked before reading, and against what was read). */
  size?: number;
  /** What the file is, for error messages. */
  what: string;
  /** The error for a missing file (default: a wrapped ENOENT). */
  notFound?: () => DroverError;
}

const READ_CHUNK = 1 << 20;

// Files this process verified completely, by identity (`fileIdentity`: an unchanged identity means unchanged
// bytes): a second read of the same unchanged file (the build's content pass over a layer blob flattened
// moments earlier) is not hashed again.
const verified = new Map<string, string>();
const VERIFIED_MAX = 1024;
const WORKER_MIN_BYTES = 1 << 20;

/**
 * Stream a file whose digest must match `expected`. This thread only reads; a hashing worker reads the same
 * byte ranges from the page cache right behind it and hashes them, so the reader's consumer (a decompressor, a
 * tar parser) keeps this thread to itself. The stream errors at its end, before signalling completion, unless
 * the digest and size match: consumers must treat data as unverified until it ends without error.
 */
export function openVerifiedFile(
  path: string,
  expected: DigestString,
  options: OpenVerifiedFileOptions,
): Readable {
  const { algorithm } = parseDigest(expected);
  let fd = -1;
  let size = 0;
  let position = 0;
  let session: HashSession | undefined;
  // small files (manifests, configs) are hashed right here: not worth a worker round trip
  let local: Hash | undefined;
  let id = '';
  let trusted = false;
  const changed = (): DroverError =>
    new DroverError('FILE_CHANGED', `${options.what} changed while it was read`, {
      kind: 'integrity',
      hint: 'Something wrote to the file while it was read; make sure nothing else modifies it and retry.',
    });
  return new Readable({
    highWaterMark: 4 << 20,
    construct(callback) {
      fsOpen(path, 'r', (error, opened) => {
        if (error) {
          callback(
            error.code === 'ENOENT' && options.notFound
              ? options.notFound()
              : toDroverError(error, options.what),
          );
          return;
        }
        fd = opened;
        fstat(fd, { bigint: true }, (statError, stats) => {
          if (statError) {
            callback(toDroverError(statError, options.what));
            return;
          }
          size = Number(stats.size);
          id = fileIdentity(stats);
          if (options.size !== undefined && size !== options.size) {
            callback(sizeMismatch(options.what, options.size, size));
            return;
          }
          if (verified.get(id) === expected) trusted = true;
          else if (size < WORKER_MIN_BYTES) local = createHash(algorithm);
          else session = sharedWorkerHasher().session(algorithm);
          callback();
        });
      });
    },
    read() {
      const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(1, size - position)));
      fsRead(fd, buffer, 0, buffer.length, position, (error, n) => {
        if (error) {
          this.destroy(toDroverError(error, options.what));
          return;
        }
        if (n > 0) {
          if (local) local.update(buffer.subarray(0, n));
          else session?.updateFromFile(fd, position, n);
          position += n;
          this.push(n === buffer.length ? buffer : buffer.subarray(0, n));
          return;
        }
        if (position !== size) {
          this.destroy(sizeMismatch(options.what, size, position));
          return;
        }
        // The bytes passed on are the bytes verified only if the file did not change while it was read (the
        // worker hashed its own read of it; a trusted file was not hashed this time at all).
        const endIfUnchanged = (): void => {
          fstat(fd, { bigint: true }, (statError, stats) => {
            if (statError || fileIdentity(stats) !== id) {
              verified.delete(id);
              this.destroy(changed());
              return;
            }
            if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!);
            verified.set(id, expected);
            this.push(null);
          });
        };
        if (trusted) {
          endIfUnchanged();
          return;
        }
        (local ? Promise.resolve(local.digest('hex')) : session!.digest()).then(
          (hex) => {
            session = undefined;
            const actual = `${algorithm}:${hex}`;
            if (actual !== expected) {
              this.destroy(digestMismatch(options.what, expected, actual));
              return;
            }
            // a local hash covered exactly the bytes passed on
            if (local) this.push(null);
            else endIfUnchanged();
          },
          (hashError: Error) => this.destroy(hashError),
        );
      });
    },
    destroy(error, callback) {
      const pending = session;
      session = undefined;
      (pending ? pending.cancel() : Promise.resolve()).finally(() => {
        if (fd < 0) callback(error);
        else fsClose(fd, () => callback(error));
      });
    },
  });
}
