import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { type Context, throwIfAborted } from './context.js';
import { DroverError, toDroverError } from './error.js';
import { sharedWorkerHasher } from './hash-worker.js';
import { startProgress } from './progress.js';

/** Files at least this large are hashed on a worker when no progress is reported. */
const WORKER_MIN_BYTES = 4 << 20;

/** Digest algorithms an OCI/drover digest string may name. */
export type DigestAlgorithm = 'sha256' | 'sha512';

/** A content digest as `sha256:<64 lowercase hex>` (the OCI form). */
export type DigestString = `${DigestAlgorithm}:${string}`;

export interface Digest {
  algorithm: DigestAlgorithm;
  /** Lowercase hex. */
  hex: string;
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

/** True when `value` names a supported digest algorithm. */
export function isDigestAlgorithm(value: string): value is DigestAlgorithm {
  return Object.hasOwn(HEX_LENGTH, value);
}

/** Parse `sha256:<hex>`; throws `DIGEST_INVALID` with a hint for anything else. */
export function parseDigest(value: string): Digest {
  const colon = value.indexOf(':');
  const algorithm = colon < 0 ? '' : value.slice(0, colon);
  const hex = colon < 0 ? '' : value.slice(colon + 1);
  if (colon < 0 || !isDigestAlgorithm(algorithm)) {
    throw new DroverError('DIGEST_INVALID', `not a digest: ${JSON.stringify(truncate(value))}`, {
      hint: 'A digest looks like sha256:<64 hex characters> (sha512:<128 hex> also works).',
    });
  }
  const want = HEX_LENGTH[algorithm];
  if (hex.length !== want || !/^[0-9a-f]+$/.test(hex)) {
    throw new DroverError(
      'DIGEST_INVALID',
      `${algorithm} digest must be ${want} lowercase hex characters, got ${JSON.stringify(truncate(hex))}`,
      { hint: 'Copy the digest exactly as printed, e.g. by `drover image inspect` or `sha256sum`.' },
    );
  }
  return { algorithm, hex };
}

/** Format a digest as `algorithm:hex`. */
export function formatDigest(digest: Digest): DigestString {
  return `${digest.algorithm}:${digest.hex}`;
}

/** True when `value` is a well-formed digest string. */
export function isDigest(value: string): value is DigestString {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

/** Digest of bytes in memory (small inputs only: manifests, records). */
export function digestBytes(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): DigestString {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

export interface DigestStreamOptions {
  algorithm?: DigestAlgorithm;
  /** Progress task id; when set, byte progress is reported under it. */
  task?: string;
  label?: string;
  total?: number;
}

export interface DigestResult {
  digest: DigestString;
  size: number;
}

/** Digest a readable stream chunk by chunk (bounded memory), honouring the context's abort signal. */
export async function digestStream(
  stream: Readable,
  options: DigestStreamOptions = {},
  ctx: Context = {},
): Promise<DigestResult> {
  const algorithm = options.algorithm ?? 'sha256';
  const hash = createHash(algorithm);
  const progress = options.task
    ? startProgress(ctx, {
        task: options.task,
        label: options.label ?? 'hashing',
        unit: 'bytes',
        ...(options.total === undefined ? {} : { total: options.total }),
      })
    : undefined;
  let size = 0;
  const onAbort = (): void => {
    stream.destroy();
  };
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    throwIfAborted(ctx);
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      hash.update(buf);
      size += buf.length;
      progress?.advance(buf.length);
    }
    throwIfAborted(ctx);
    progress?.done(true);
    return { digest: `${algorithm}:${hash.digest('hex')}`, size };
  } catch (error) {
    progress?.done(false);
    throwIfAborted(ctx);
    throw toDroverError(error, 'digest');
  } finally {
    ctx.signal?.removeEventListener('abort', onAbort);
  }
}

export interface DigestFileOptions {
  algorithm?: DigestAlgorithm;
  /** Report byte progress under this task id (defaults to `digest:<path>`); set false to stay silent. */
  progress?: boolean;
}

/**
 * Digest a file by streaming it in 1 MiB chunks; memory stays bounded whatever the file's size. With
 * `progress: false`, files of 4 MiB or more are read and hashed on a worker thread, leaving this one free.
 */
export async function digestFile(
  path: string,
  options: DigestFileOptions = {},
  ctx: Context = {},
): Promise<DigestResult> {
  let total: number;
  try {
    total = (await stat(path)).size;
  } catch (error) {
    throw toDroverError(error, 'digest');
  }
  const algorithm = options.algorithm ?? 'sha256';
  if (options.progress === false && total >= WORKER_MIN_BYTES) {
    // no progress to report: the file is read and hashed on a worker thread, this thread stays free
    throwIfAborted(ctx);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      throw toDroverError(error, 'digest');
    }
    const session = sharedWorkerHasher().session(algorithm);
    try {
      session.updateFromFile(handle.fd, 0, total);
      const hex = await session.digest();
      if ((await handle.stat()).size !== total) {
        throw new DroverError('DIGEST_FILE_CHANGED', `${path} changed size while it was hashed`, {
          kind: 'io',
          hint: 'Make sure nothing else writes to the file, and retry.',
        });
      }
      return { digest: `${algorithm}:${hex}`, size: total };
    } finally {
      await session.cancel();
      await handle.close();
    }
  }
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  const opts: DigestStreamOptions = { algorithm, total };
  if (options.progress !== false) {
    opts.task = `digest:${path}`;
    opts.label = `hashing ${path}`;
  }
  return digestStream(stream, opts, ctx);
}

/** Throw `DIGEST_MISMATCH` unless `actual` equals `expected`. */
export function assertDigest(expected: string, actual: string, what: string): void {
  if (parseDigest(expected).algorithm !== parseDigest(actual).algorithm || expected !== actual) {
    throw new DroverError('DIGEST_MISMATCH', `${what}: expected ${expected}, got ${actual}`, {
      kind: 'integrity',
      hint: 'The content changed or was corrupted in transit; nothing from it was kept. Fetch it again from a trusted source.',
      details: { expected, actual },
    });
  }
}

function truncate(value: string): string {
  return value.length > 80 ? `${value.slice(0, 77)}...` : value;
}
