import type { FileHandle } from 'node:fs/promises';
import { open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Context, DroverError, type ProgressTask, throwIfAborted, toDroverError } from '@drover/core';
import type { BlockHasher, HashSlot } from './hasher.js';

/** Read exactly `length` bytes at `position`, or throw VERITY_DEVICE_TRUNCATED. */
export async function readFully(
  file: FileHandle,
  buffer: Buffer,
  length: number,
  position: number,
  what = 'device',
): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) {
      throw new DroverError(
        'VERITY_DEVICE_TRUNCATED',
        `${what} ends at byte ${position + done}, expected ${position + length}`,
        {
          kind: 'integrity',
          hint: 'The file is shorter than the tree describes; check the paths, --data-blocks and --hash-offset.',
          details: { what, end: position + done, expected: position + length },
        },
      );
    }
    done += bytesRead;
  }
}

/** Read up to `length` bytes at `position`, zero-filling anything past the end of the file; returns bytes read. */
export async function readPadded(
  file: FileHandle,
  buffer: Buffer,
  length: number,
  position: number,
): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  buffer.fill(0, done, length);
  return done;
}

/** Size of a regular file or block device in bytes. */
export async function sizeOf(file: FileHandle): Promise<number> {
  const s = await file.stat();
  if (s.isBlockDevice()) {
    // fstat reports 0 for block devices; the end offset is their size.
    const probe = Buffer.alloc(1);
    let low = 0;
    let high = 2 ** 50;
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      const { bytesRead } = await file.read(probe, 0, 1, mid - 1);
      if (bytesRead === 1) low = mid;
      else high = mid - 1;
    }
    return low;
  }
  return s.size;
}

/** True when both paths name the same file (same device and inode), or the same path when one is missing. */
export async function sameFile(a: string, b: string): Promise<boolean> {
  if (resolve(a) === resolve(b)) return true;
  try {
    const [sa, sb] = await Promise.all([stat(a), stat(b)]);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    // One of them does not exist yet, so they cannot be the same file.
    return false;
  }
}

/** Open with a DroverError naming what the file is for. */
export async function openFile(path: string, flags: string | number, what: string): Promise<FileHandle> {
  try {
    return await open(path, flags, 0o600);
  } catch (error) {
    throw toDroverError(error, `opening ${what} ${path}`);
  }
}

/**
 * Stream `dataBlocks` blocks of `file` through the hasher, in order: `onChunk` gets the digests of each run of
 * blocks (at the hasher's entry stride); the view is reused once it returns.
 */
export async function hashDataStream(
  options: {
    file: FileHandle;
    hasher: BlockHasher;
    blockSize: number;
    dataBlocks: number;
    blocksPerSlot: number;
    /** Byte offset of block 0 in `file` (a partition inside a disk image); default 0. */
    dataOffset?: number;
    progress: ProgressTask;
    ctx: Context;
  },
  onChunk: (firstBlock: number, count: number, digests: Buffer) => Promise<void> | void,
): Promise<void> {
  const { file, hasher, blockSize, dataBlocks, blocksPerSlot, progress, ctx } = options;
  const dataOffset = options.dataOffset ?? 0;
  const free: HashSlot[] = [...hasher.slots];
  const queue: { slot: HashSlot; first: number; count: number; done: Promise<void> }[] = [];
  let next = 0;
  try {
    while (next < dataBlocks || queue.length > 0) {
      throwIfAborted(ctx);
      if (next < dataBlocks && free.length > 0) {
        const slot = free.shift()!;
        const count = Math.min(blocksPerSlot, dataBlocks - next);
        await readBlocks(
          file,
          hasher.stride === blockSize ? undefined : slot,
          slot.data,
          count,
          blockSize,
          dataOffset + next * blockSize,
        );
        const done = hasher.run(slot, count);
        done.catch(() => {});
        queue.push({ slot, first: next, count, done });
        next += count;
        continue;
      }
      const head = queue.shift()!;
      await head.done;
      await onChunk(
        head.first,
        head.count,
        head.slot.out.subarray(0, head.count * (head.slot.out.length / blocksPerSlot)),
      );
      progress.advance(head.count * blockSize);
      free.push(head.slot);
    }
  } finally {
    // Let in-flight work finish before the caller closes the pool and the slots go away.
    await Promise.allSettled(queue.map((q) => q.done));
  }
}

/**
 * Read `count` blocks at `position`: straight into `data`, or, when the slot interleaves salts, scattered into the
 * slot's block views with vectored reads (at most 1024 buffers per call, the usual IOV_MAX).
 */
async function readBlocks(
  file: FileHandle,
  slot: HashSlot | undefined,
  data: Buffer,
  count: number,
  blockSize: number,
  position: number,
): Promise<void> {
  if (!slot) {
    await readFully(file, data, count * blockSize, position, 'data device');
    return;
  }
  for (let first = 0; first < count; first += 1024) {
    const n = Math.min(1024, count - first);
    const at = position + first * blockSize;
    const { bytesRead } = await file.readv(slot.blocks.slice(first, first + n), at);
    if (bytesRead < n * blockSize) {
      // A short read: finish block by block from where it stopped.
      for (let b = Math.floor(bytesRead / blockSize); b < n; b++) {
        await readFully(file, slot.blocks[first + b]!, blockSize, at + b * blockSize, 'data device');
      }
    }
  }
}

/** Validate a `dataOffset` option: a non-negative whole number of bytes. */
export function checkDataOffset(dataOffset: number | undefined): number {
  const value = dataOffset ?? 0;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new DroverError(
      'VERITY_DATA_OFFSET_INVALID',
      `data offset ${value} is not a non-negative byte count`,
      {
        hint: 'Pass --data-offset as the byte offset of the data (e.g. the partition start) inside the file.',
        details: { dataOffset: value },
      },
    );
  }
  return value;
}
