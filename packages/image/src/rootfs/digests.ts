import { createHash } from 'node:crypto';
import { type BatchHasher, WorkerHasher } from '@drover/core';
import type { TreeInode } from '@drover/oci';
import type { FileDigests } from './types.js';

const EMPTY = {
  sha256: `sha256:${createHash('sha256').digest('hex')}`,
  sha1: createHash('sha1').digest('hex'),
} as const;

/** A Buffer view of a chunk (no copy). */
function asBuffer(chunk: Buffer | Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** Record the digests of an empty file (its inode has no content). */
export function recordEmpty(digests: FileDigests, inode: TreeInode): void {
  digests.set(inode.id, { sha256: EMPTY.sha256, sha1: EMPTY.sha1 });
}

/** Pass `data` through while hashing it; the digests are recorded once the stream has ended. */
export async function* hashing(
  inode: TreeInode,
  data: AsyncIterable<Buffer | Uint8Array>,
  digests: FileDigests,
): AsyncGenerator<Buffer> {
  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1');
  for await (const chunk of data) {
    const buf = asBuffer(chunk);
    sha256.update(buf);
    sha1.update(buf);
    yield buf;
  }
  digests.set(inode.id, { sha256: `sha256:${sha256.digest('hex')}`, sha1: sha1.digest('hex') });
}

/**
 * Per-file SHA-256 and SHA-1 computed on a worker thread: {@link FileHasher.pass} copies each chunk into a
 * shared batch as it goes by, so the thread writing the filesystem does not hash.
 */
export class FileHasher {
  readonly #worker = new WorkerHasher();
  readonly #batch: BatchHasher = this.#worker.batch(['sha256', 'sha1']);

  /** Pass `data` through while it is hashed on the worker as the content of `inode`. */
  async *pass(inode: TreeInode, data: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<Buffer> {
    for await (const chunk of data) {
      const buf = asBuffer(chunk);
      await this.#batch.add(inode.id, buf);
      yield buf;
    }
    this.#batch.end(inode.id);
  }

  /** Wait for the worker and record every file's digests into `digests`; stops the worker. */
  async finish(digests: FileDigests): Promise<void> {
    try {
      for (const [id, [sha256, sha1]] of await this.#batch.finish()) {
        digests.set(id, { sha256: `sha256:${sha256}`, sha1: sha1! });
      }
    } finally {
      await this.#worker.close();
    }
  }

  /** Stop the worker without results (after an error). */
  async cancel(): Promise<void> {
    await this.#worker.close();
  }
}
