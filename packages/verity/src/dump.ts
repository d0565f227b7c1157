import type { FileHandle } from 'node:fs/promises';
import { type Context, throwIfAborted, toDroverError } from '@drover/core';
import { treeGeometry } from './geometry.js';
import { openFile, readPadded } from './io.js';
import { resolveSalt, SUPERBLOCK_SIZE, type VerityParams } from './params.js';
import { decodeSuperblock, type VeritySuperblock } from './superblock.js';

export interface ReadVeritySuperblockOptions {
  /** The hash device or file holding the superblock. */
  hashPath: string;
  /** `--hash-offset`: where the superblock starts, default 0. */
  hashOffset?: number;
}

/** A superblock plus what follows from it, as `veritysetup dump` prints. */
export interface VerityDump extends VeritySuperblock {
  hashOffset: number;
  hashStartBlock: number;
  hashBlocks: number;
  /** Bytes of the hash device the tree occupies, from 0. */
  hashDeviceSize: number;
}

/** Read and parse the superblock at `hashOffset` in an open file. */
export async function readSuperblockFrom(file: FileHandle, hashOffset: number): Promise<VeritySuperblock> {
  const bytes = Buffer.alloc(SUPERBLOCK_SIZE);
  await readPadded(file, bytes, SUPERBLOCK_SIZE, hashOffset);
  return decodeSuperblock(bytes);
}

/** Tree parameters described by a superblock at `hashOffset`. */
export function paramsFromSuperblock(sb: VeritySuperblock, hashOffset: number): VerityParams {
  return {
    hashType: sb.hashType,
    algorithm: sb.algorithm,
    dataBlockSize: sb.dataBlockSize,
    hashBlockSize: sb.hashBlockSize,
    dataBlocks: sb.dataBlocks,
    salt: resolveSalt(sb.salt),
    hashOffset,
    superblock: true,
    uuid: sb.uuid,
  };
}

/** Read a verity superblock and derive the tree layout (`veritysetup dump`). */
export async function readVeritySuperblock(
  options: ReadVeritySuperblockOptions,
  ctx: Context = {},
): Promise<VerityDump> {
  throwIfAborted(ctx);
  const hashOffset = options.hashOffset ?? 0;
  const file = await openFile(options.hashPath, 'r', 'hash device');
  try {
    const sb = await readSuperblockFrom(file, hashOffset);
    const geometry = treeGeometry(paramsFromSuperblock(sb, hashOffset));
    return {
      ...sb,
      hashOffset,
      hashStartBlock: geometry.hashStartBlock,
      hashBlocks: geometry.hashBlocks,
      hashDeviceSize: geometry.hashEnd,
    };
  } catch (error) {
    throw toDroverError(error, 'reading verity superblock');
  } finally {
    await file.close();
  }
}
