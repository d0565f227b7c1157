import { digestSizeOf, SUPERBLOCK_SIZE, type VerityParams } from './params.js';

/** One level of the tree; level 0 holds the digests of the data blocks. */
export interface TreeLevel {
  /** Absolute index of the level's first block in the hash file, in hash-block units. */
  start: number;
  /** Number of hash blocks in the level. */
  blocks: number;
  /** Number of digests stored in the level (the blocks of the level below). */
  entries: number;
}

/** Where everything lives in the hash file, derived from the parameters alone. */
export interface TreeGeometry {
  digestSize: number;
  /** Bytes per stored digest: padded to a power of two for hash type 1, packed for type 0. */
  entrySize: number;
  /** Digests used per hash block. */
  perBlock: number;
  /** Index 0 = leaves; the last level holds one block, whose digest is the root hash. */
  levels: TreeLevel[];
  /** First hash block, in hash-block units. */
  hashStartBlock: number;
  /** Total hash blocks of the tree. */
  hashBlocks: number;
  /** Byte offset just past the tree (what veritysetup's "Hash device size" reports). */
  hashEnd: number;
}

/** First hash block of the tree, in hash-block units, as veritysetup places it. */
export function hashStartBlock(
  params: Pick<VerityParams, 'hashOffset' | 'hashBlockSize' | 'superblock'>,
): number {
  const { hashOffset, hashBlockSize, superblock } = params;
  if (!superblock) return Math.floor(hashOffset / hashBlockSize);
  return Math.ceil((hashOffset + SUPERBLOCK_SIZE) / hashBlockSize);
}

/** Compute levels and offsets of the tree. */
export function treeGeometry(params: VerityParams): TreeGeometry {
  const digestSize = digestSizeOf(params.algorithm);
  const entrySize = params.hashType === 1 ? 2 ** Math.ceil(Math.log2(digestSize)) : digestSize;
  const perBlock = 2 ** Math.floor(Math.log2(params.hashBlockSize / digestSize));
  const start = hashStartBlock(params);
  const counts: { blocks: number; entries: number }[] = [];
  let entries = params.dataBlocks;
  while (entries > 1) {
    const blocks = Math.ceil(entries / perBlock);
    counts.push({ blocks, entries });
    entries = blocks;
  }
  // Top level first on disk.
  const levels: TreeLevel[] = new Array(counts.length);
  let position = start;
  for (let i = counts.length - 1; i >= 0; i--) {
    const c = counts[i]!;
    levels[i] = { start: position, blocks: c.blocks, entries: c.entries };
    position += c.blocks;
  }
  const hashBlocks = position - start;
  return {
    digestSize,
    entrySize,
    perBlock,
    levels,
    hashStartBlock: start,
    hashBlocks,
    hashEnd: position * params.hashBlockSize,
  };
}
