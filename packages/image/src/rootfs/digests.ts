import { createHash } from 'node:crypto';
import type { TreeInode } from '@drover/oci';
import type { FileDigests } from './types.js';

const EMPTY = {
  sha256: `sha256:${createHash('sha256').digest('hex')}`,
  sha1: createHash('sha1').digest('hex'),
} as const;

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
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    sha256.update(buf);
    sha1.update(buf);
    yield buf;
  }
  digests.set(inode.id, { sha256: `sha256:${sha256.digest('hex')}`, sha1: sha1.digest('hex') });
}
