import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { type DigestString, DroverError, parseDigest } from '@drover/core';

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
