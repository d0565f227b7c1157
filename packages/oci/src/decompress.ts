import { PassThrough, pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DroverError } from '@drover/core';
import { Decompress } from 'fzstd';

/** Compression of a layer blob. */
export type Compression = 'gzip' | 'zstd' | 'none';

/** The compression a layer media type declares (undefined when the type says nothing, e.g. artifacts). */
export function compressionOf(mediaType: string): Compression | undefined {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return 'gzip';
  if (mediaType.endsWith('+zstd')) return 'zstd';
  if (mediaType.endsWith('.tar')) return 'none';
  return undefined;
}

/** Detect compression from the first bytes (gzip 1f 8b, zstd 28 b5 2f fd). */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd)
    return 'zstd';
  return 'none';
}

/** A Transform that decompresses zstd frames with the pure-JS fzstd decoder (Node 20's zlib has no zstd). */
export class ZstdDecompressStream extends Transform {
  readonly #decoder: Decompress;
  #pending: Buffer[] = [];

  constructor() {
    super();
    this.#decoder = new Decompress((data) => {
      // fzstd may hand out views into its window buffer: copy before it is reused
      this.#pending.push(Buffer.from(data));
    });
  }

  #flushPending(): void {
    for (const b of this.#pending) this.push(b);
    this.#pending = [];
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#decoder.push(chunk);
      this.#flushPending();
      callback();
    } catch (error) {
      callback(zstdError(error));
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#decoder.push(new Uint8Array(0), true);
      this.#flushPending();
      callback();
    } catch (error) {
      callback(zstdError(error));
    }
  }
}

function zstdError(error: unknown): DroverError {
  return new DroverError('OCI_LAYER_DECOMPRESS', `zstd layer is corrupt: ${(error as Error).message}`, {
    kind: 'integrity',
    hint: 'The layer blob does not decompress; fetch the image again.',
    cause: error,
  });
}

/**
 * Decompress a layer stream. The compression is detected from the first bytes (as containerd does), so a
 * mislabelled media type still works; the result is the uncompressed tar stream. Errors of the source (e.g. a
 * digest mismatch) and of the decoder surface on the returned stream.
 */
export function decompress(source: Readable): Readable {
  const output = new PassThrough({ highWaterMark: 2 << 20 });
  let tail: Readable | undefined;
  output.once('close', () => {
    tail?.destroy();
    source.destroy();
  });
  const run = async (): Promise<void> => {
    const iterator = source[Symbol.asyncIterator]();
    const parts: Buffer[] = [];
    let got = 0;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      parts.push(next.value as Buffer);
      got += (next.value as Buffer).length;
      if (got >= 4) break;
    }
    const head = Buffer.concat(parts);
    const kind = sniffCompression(head);
    const rest = Readable.from(
      (async function* () {
        if (head.length) yield head;
        for (let n = await iterator.next(); !n.done; n = await iterator.next()) yield n.value as Buffer;
      })(),
      { objectMode: false, highWaterMark: 4 << 20 },
    );
    const stage = decompressorFor(kind);
    tail = stage ? pipeline(rest, stage, () => {}) : rest;
    try {
      for await (const chunk of tail) {
        if (output.destroyed) return;
        if (!output.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              output.off('drain', done);
              output.off('close', done);
              resolve();
            };
            output.on('drain', done);
            output.on('close', done);
          });
        }
      }
      output.end();
    } catch (error) {
      throw wrapDecompressError(error as Error, kind);
    }
  };
  run().catch((error: unknown) => output.destroy(error as Error));
  return output;
}

/** The decompressing stage for `kind` (none for uncompressed input). */
function decompressorFor(kind: Compression): Transform | undefined {
  if (kind === 'gzip') return createGunzip({ chunkSize: 256 << 10 });
  if (kind === 'zstd') return new ZstdDecompressStream();
  return undefined;
}

function wrapDecompressError(error: Error, kind: Compression): Error {
  if ((error as { name?: string }).name === 'DroverError') return error;
  if ((error as NodeJS.ErrnoException).code?.startsWith('Z_')) {
    return new DroverError('OCI_LAYER_DECOMPRESS', `${kind} layer is corrupt: ${error.message}`, {
      kind: 'integrity',
      hint: 'The layer blob does not decompress; fetch the image again.',
      cause: error,
    });
  }
  return error;
}

/**
 * Wait for the first `want` bytes of `source` and put them back. When the input ends sooner, `ended` is true and
 * `head` is all of it (a stream cannot take bytes back after its end).
 */
function peek(source: Readable, want: number): Promise<{ head: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const cleanup = (): void => {
      source.off('readable', onReadable);
      source.off('end', onEnd);
      source.off('error', onError);
    };
    const finish = (ended: boolean): void => {
      cleanup();
      const head = Buffer.concat(parts);
      if (!ended && head.length) source.unshift(head);
      resolve({ head, ended });
    };
    const onEnd = (): void => finish(true);
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onReadable = (): void => {
      for (
        let chunk = source.read() as Buffer | null;
        chunk !== null;
        chunk = source.read() as Buffer | null
      ) {
        parts.push(chunk);
        got += chunk.length;
        if (got >= want) {
          finish(false);
          return;
        }
      }
    };
    source.on('readable', onReadable);
    source.once('end', onEnd);
    source.once('error', onError);
  });
}

/**
 * The decompressed bytes of `source` as chunks (gzip, zstd or none, sniffed from the first bytes like
 * {@link decompress}), with no stream stages beyond the decompressor itself. `onInput` counts the compressed
 * bytes as they are read (for progress).
 */
export function decompressChunks(
  source: Readable,
  onInput?: (bytes: number) => void,
): AsyncIterableIterator<Buffer> {
  const chunks = decompressing(source, onInput);
  return {
    next: () => chunks.next(),
    // also when iteration never started (a generator's `finally` would not run then): release the source
    return: async (value?: unknown) => {
      source.destroy();
      return chunks.return(value);
    },
    throw: (error?: unknown) => chunks.throw(error),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

async function* decompressing(source: Readable, onInput?: (bytes: number) => void): AsyncGenerator<Buffer> {
  const { head, ended } = await peek(source, 4);
  const kind = sniffCompression(head);
  if (ended) source = Readable.from(head.length ? [head] : []); // all there is: nothing to put back
  if (onInput) source.on('data', (chunk: Buffer) => onInput(chunk.length));
  const stage = decompressorFor(kind);
  const tail = stage ? pipeline(source, stage, () => {}) : source;
  try {
    for await (const chunk of tail) yield chunk as Buffer;
  } catch (error) {
    throw wrapDecompressError(error as Error, kind);
  } finally {
    tail.destroy();
    source.destroy();
  }
}
