import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type Context, toDroverError, type VerityRecord } from '@drover/core';
import { verifyVerity } from '@drover/verity';

/** A byte range of a disk file. */
export interface DiskRange {
  offset: number;
  size: number;
}

/** Options of `verifyPartitions`. */
export interface VerifyPartitionsOptions {
  disk: string;
  /** The data (root filesystem) bytes in the disk. */
  root: DiskRange;
  /** The hash tree bytes; absent when the tree follows the data in `root` (`verity.hashOffset`). */
  hash?: DiskRange | undefined;
  verity: VerityRecord;
  /** A directory for the copies. */
  scratch: string;
}

async function copyRange(disk: string, range: DiskRange, to: string, ctx: Context): Promise<void> {
  if (range.size === 0) {
    await pipeline([], createWriteStream(to));
    return;
  }
  await pipeline(
    createReadStream(disk, {
      start: range.offset,
      end: range.offset + range.size - 1,
      highWaterMark: 1 << 20,
    }),
    createWriteStream(to),
    ctx.signal ? { signal: ctx.signal } : {},
  ).catch((e) => Promise.reject(toDroverError(e, 'copying a partition for verification')));
}

/**
 * Check the dm-verity root hash of data and hash tree that live inside a disk file.
 *
 * `verifyVerity` reads its data from offset 0 of a file, so this adapter streams the two partition ranges into
 * scratch files first (bounded memory; the scratch space is the size of the image's root and tree).
 */
export async function verifyPartitions(
  options: VerifyPartitionsOptions,
  ctx: Context = {},
): Promise<{ ok: boolean; rootHash: string }> {
  const data = join(options.scratch, 'root');
  await copyRange(options.disk, options.root, data, ctx);
  let hashPath = data;
  if (options.hash) {
    hashPath = join(options.scratch, 'hash');
    await copyRange(options.disk, options.hash, hashPath, ctx);
  }
  const v = options.verity;
  const result = await verifyVerity(
    {
      dataPath: data,
      hashPath,
      rootHash: v.rootHash,
      hashType: v.hashType,
      algorithm: v.algorithm,
      dataBlockSize: v.dataBlockSize,
      hashBlockSize: v.hashBlockSize,
      dataBlocks: v.dataBlocks,
      salt: v.salt,
      ...(v.hashOffset === undefined ? {} : { hashOffset: v.hashOffset }),
      ...(v.superblock === undefined ? {} : { superblock: v.superblock }),
      maxIssues: 8,
      threads: 0,
    },
    ctx,
  );
  return { ok: result.ok, rootHash: result.rootHash };
}
