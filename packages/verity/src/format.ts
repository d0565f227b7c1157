import { constants } from 'node:fs';
import { type FileHandle, stat } from 'node:fs/promises';
import {
  type Context,
  DroverError,
  startProgress,
  throwIfAborted,
  toDroverError,
  type VerityRecord,
  writeAtomically,
} from '@drover/core';
import { type FecResult, writeFec } from './fec.js';
import { treeGeometry } from './geometry.js';
import { createBlockHasher, defaultThreads } from './hasher.js';
import { checkDataOffset, hashDataStream, openFile, sameFile, sizeOf } from './io.js';
import {
  checkBlockSize,
  checkHashType,
  digestSizeOf,
  resolveSalt,
  resolveUuid,
  SUPERBLOCK_SIZE,
  saltText,
  type VerityParams,
} from './params.js';
import { checkFecRoots } from './rs.js';
import { encodeSuperblock } from './superblock.js';
import { TreeBuilder } from './tree.js';

/** What `formatVerity` needs; names follow veritysetup's options. */
export interface FormatVerityOptions {
  /** The data device or image file to protect. */
  dataPath: string;
  /**
   * Byte offset of the data inside `dataPath` (a partition inside a disk image), default 0. The tree covers the
   * blocks from there; the kernel sees them as a device of its own, so nothing else changes.
   */
  dataOffset?: number;
  /** Where the hash tree goes; may be `dataPath` itself with a `hashOffset` past the data. */
  hashPath: string;
  /** `--format`: 1 (default) or 0 for Chrome OS. */
  hashType?: 0 | 1;
  /** `--hash`, default sha256. */
  algorithm?: string;
  /** `--data-block-size`, default 4096. */
  dataBlockSize?: number;
  /** `--hash-block-size`, default 4096. */
  hashBlockSize?: number;
  /** `--salt`: hex, `-` or '' for none, bytes; default 32 random bytes. */
  salt?: string | Uint8Array;
  /** `--uuid`; default random. */
  uuid?: string;
  /** `--data-blocks`; default the whole data file. */
  dataBlocks?: number;
  /** `--hash-offset` in bytes, default 0. */
  hashOffset?: number;
  /** `--no-superblock` is `superblock: false`. */
  superblock?: boolean;
  /** `--fec-device`: write Reed-Solomon parity here (may be `hashPath` with `fecOffset`). */
  fecPath?: string;
  /** `--fec-roots`, 2..24, default 2. */
  fecRoots?: number;
  /** `--fec-offset` in bytes, default 0. */
  fecOffset?: number;
  /** Worker threads for hashing; default depends on size and cores, 0 hashes on the calling thread. */
  threads?: number;
}

/** What `formatVerity` produced: the parameters veritysetup would print, and the record for an image. */
export interface FormatResult {
  rootHash: string;
  hashType: 0 | 1;
  algorithm: string;
  dataBlockSize: number;
  hashBlockSize: number;
  dataBlocks: number;
  /** Hex, `-` for none. */
  salt: string;
  /** Absent with `superblock: false`. */
  uuid?: string;
  hashOffset: number;
  superblock: boolean;
  /** First hash block (in hash-block units): the dm table's `hash_start`. */
  hashStartBlock: number;
  hashBlocks: number;
  /** Bytes of the hash device the tree occupies, from 0 (veritysetup's "Hash device size"). */
  hashDeviceSize: number;
  dataPath: string;
  hashPath: string;
  fec?: FecResult;
  /** Ready to put into an image record. */
  record: VerityRecord;
}

/** Resolve and validate format options against the data file size. */
export function resolveFormatParams(options: FormatVerityOptions, dataSize: number): VerityParams {
  const hashType = checkHashType(options.hashType ?? 1);
  const algorithm = (options.algorithm ?? 'sha256').toLowerCase();
  digestSizeOf(algorithm);
  const dataBlockSize = checkBlockSize(options.dataBlockSize ?? 4096, 'data');
  const hashBlockSize = checkBlockSize(options.hashBlockSize ?? 4096, 'hash');
  const salt = resolveSalt(options.salt);
  const superblock = options.superblock ?? true;
  const hashOffset = options.hashOffset ?? 0;
  if (!Number.isSafeInteger(hashOffset) || hashOffset < 0 || hashOffset % SUPERBLOCK_SIZE !== 0) {
    throw new DroverError(
      'VERITY_HASH_OFFSET_INVALID',
      `hash offset ${hashOffset} is not a multiple of 512`,
      {
        hint: 'Pass --hash-offset as a non-negative multiple of 512 bytes (of the hash block size without a superblock).',
        details: { hashOffset },
      },
    );
  }
  const available = Math.floor(dataSize / dataBlockSize);
  if (available < 1) {
    throw new DroverError(
      'VERITY_DATA_TOO_SMALL',
      `data device holds ${dataSize} bytes, less than one ${dataBlockSize}-byte block`,
      {
        hint: 'Check the data path, or pass a smaller --data-block-size.',
        details: { dataSize, dataBlockSize },
      },
    );
  }
  let dataBlocks = available;
  if (options.dataBlocks !== undefined) {
    if (!Number.isSafeInteger(options.dataBlocks) || options.dataBlocks < 1) {
      throw new DroverError(
        'VERITY_DATA_BLOCKS_INVALID',
        `--data-blocks ${options.dataBlocks} is not a positive integer`,
        {
          hint: 'Pass --data-blocks as a whole number of data blocks, or leave it out to cover the whole file.',
        },
      );
    }
    if (options.dataBlocks > available) {
      throw new DroverError(
        'VERITY_DATA_TOO_SMALL',
        `data device holds ${available} blocks of ${dataBlockSize} bytes, fewer than --data-blocks ${options.dataBlocks}`,
        {
          hint: 'Lower --data-blocks or check the data path.',
          details: { available, requested: options.dataBlocks },
        },
      );
    }
    dataBlocks = options.dataBlocks;
  }
  const params: VerityParams = {
    hashType,
    algorithm,
    dataBlockSize,
    hashBlockSize,
    dataBlocks,
    salt,
    hashOffset,
    superblock,
  };
  if (superblock) params.uuid = resolveUuid(options.uuid);
  return params;
}

/** The image-record form of a tree's parameters. */
export function toVerityRecord(params: VerityParams, rootHash: string, fecRoots?: number): VerityRecord {
  const record: VerityRecord = {
    hashType: params.hashType,
    algorithm: params.algorithm,
    dataBlockSize: params.dataBlockSize,
    hashBlockSize: params.hashBlockSize,
    dataBlocks: params.dataBlocks,
    salt: saltText(params.salt),
    rootHash,
  };
  if (params.hashOffset !== 0) record.hashOffset = params.hashOffset;
  if (!params.superblock) record.superblock = false;
  if (fecRoots !== undefined) record.fecRoots = fecRoots;
  return record;
}

/** Build a dm-verity hash tree for a data file, byte-identical to `veritysetup format`. */
export async function formatVerity(options: FormatVerityOptions, ctx: Context = {}): Promise<FormatResult> {
  throwIfAborted(ctx);
  const data = await openFile(options.dataPath, 'r', 'data device');
  try {
    const dataOffset = checkDataOffset(options.dataOffset);
    const dataSize = Math.max(0, (await sizeOf(data)) - dataOffset);
    const params = resolveFormatParams(options, dataSize);
    const geometry = treeGeometry(params);
    const sharedWithData = await sameFile(options.dataPath, options.hashPath);
    const dataEnd = dataOffset + params.dataBlocks * params.dataBlockSize;
    if (
      sharedWithData &&
      params.hashOffset < dataEnd &&
      dataOffset < Math.max(geometry.hashEnd, params.hashOffset + SUPERBLOCK_SIZE)
    ) {
      throw new DroverError(
        'VERITY_HASH_OFFSET_OVERLAP',
        `hash offset ${params.hashOffset} lies inside the data area (bytes ${dataOffset} to ${dataEnd})`,
        {
          hint: `Pass --hash-offset of at least ${dataEnd}, or lower --data-blocks.`,
          details: { hashOffset: params.hashOffset, dataOffset, dataEnd },
        },
      );
    }
    if (dataOffset > 0 && options.fecPath !== undefined) {
      throw new DroverError('VERITY_DATA_OFFSET_FEC', 'FEC cannot be combined with a data offset yet', {
        kind: 'usage',
        hint: 'Drop --data-offset (use the partition device or a copy of it), or drop --fec-device.',
      });
    }
    if (!params.superblock && params.hashOffset % params.hashBlockSize !== 0) {
      throw new DroverError(
        'VERITY_HASH_OFFSET_INVALID',
        `without a superblock the hash offset must be a multiple of the hash block size ${params.hashBlockSize}`,
        {
          hint: 'Align --hash-offset to --hash-block-size, or keep the superblock.',
          details: { hashOffset: params.hashOffset },
        },
      );
    }
    const fecRoots = options.fecPath === undefined ? undefined : checkFecRoots(options.fecRoots ?? 2);
    const fecOffset = options.fecOffset ?? 0;
    const fecWithHash = options.fecPath !== undefined && (await sameFile(options.fecPath, options.hashPath));
    if (options.fecPath !== undefined) {
      if (params.dataBlockSize !== params.hashBlockSize) {
        throw new DroverError('VERITY_FEC_BLOCK_SIZE', 'FEC needs equal data and hash block sizes', {
          hint: 'Pass the same --data-block-size and --hash-block-size, or drop --fec-device.',
        });
      }
      if (fecWithHash && fecOffset < geometry.hashEnd) {
        throw new DroverError(
          'VERITY_FEC_OFFSET_OVERLAP',
          `FEC offset ${fecOffset} lies inside the hash tree, which ends at byte ${geometry.hashEnd}`,
          {
            hint: `Pass --fec-offset of at least ${geometry.hashEnd}.`,
            details: { fecOffset, hashEnd: geometry.hashEnd },
          },
        );
      }
      if ((await sameFile(options.fecPath, options.dataPath)) && !fecWithHash) {
        throw new DroverError('VERITY_FEC_DEVICE_INVALID', 'the FEC device cannot be the data device', {
          hint: 'Put FEC in its own file, or in the hash file with --fec-offset.',
        });
      }
    }

    // Where the tree is written: in place when it shares a file (or a device) with something that must be kept,
    // otherwise into a temporary file renamed into place only when complete.
    const existing = await stat(options.hashPath).catch(() => undefined);
    const inPlace =
      sharedWithData ||
      (existing !== undefined && (!existing.isFile() || params.hashOffset > 0 || fecWithHash));

    const writeTree = async (hashFile: FileHandle, hashFilePath: string): Promise<FormatResult> => {
      const rootHash = await buildTree(data, hashFile, params, geometry, options, ctx);
      const size = await sizeOf(hashFile);
      // veritysetup extends the hash device to the end of the tree. With no tree (a single data block) only the
      // superblock is written, in units of the hash block size but at most 4096 bytes, or nothing at all.
      let end = geometry.hashEnd;
      if (geometry.hashBlocks === 0) {
        const unit = Math.min(params.hashBlockSize, 4096);
        end = params.superblock ? Math.ceil((params.hashOffset + SUPERBLOCK_SIZE) / unit) * unit : 0;
      }
      if (size < end) await hashFile.truncate(end);
      let fec: FecResult | undefined;
      if (options.fecPath !== undefined && fecRoots !== undefined) {
        fec = await writeFec(
          {
            dataPath: options.dataPath,
            hashPath: hashFilePath,
            hashFile,
            params,
            geometry,
            fecPath: options.fecPath,
            fecWithHash,
            roots: fecRoots,
            offset: fecOffset,
            threads: options.threads,
          },
          ctx,
        );
      }
      if (params.superblock) {
        await hashFile.write(
          encodeSuperblock({ ...params, uuid: params.uuid! }),
          0,
          SUPERBLOCK_SIZE,
          params.hashOffset,
        );
      }
      const hex = rootHash.toString('hex');
      const result: FormatResult = {
        rootHash: hex,
        hashType: params.hashType,
        algorithm: params.algorithm,
        dataBlockSize: params.dataBlockSize,
        hashBlockSize: params.hashBlockSize,
        dataBlocks: params.dataBlocks,
        salt: saltText(params.salt),
        hashOffset: params.hashOffset,
        superblock: params.superblock,
        hashStartBlock: geometry.hashStartBlock,
        hashBlocks: geometry.hashBlocks,
        hashDeviceSize: Math.max(end, geometry.hashBlocks > 0 ? geometry.hashEnd : 0),
        dataPath: options.dataPath,
        hashPath: options.hashPath,
        record: toVerityRecord(params, hex, fecRoots),
      };
      if (params.uuid !== undefined) result.uuid = params.uuid;
      if (fec) result.fec = fec;
      return result;
    };

    if (inPlace) {
      const hashFile = await openFile(options.hashPath, 'r+', 'hash device');
      try {
        return await writeTree(hashFile, options.hashPath);
      } finally {
        await hashFile.close();
      }
    }
    return await writeAtomically(options.hashPath, async (temporary) => {
      const hashFile = await openFile(
        temporary,
        constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
        'hash device',
      );
      try {
        return await writeTree(hashFile, temporary);
      } finally {
        await hashFile.close();
      }
    });
  } catch (error) {
    throw toDroverError(error, 'verity format');
  } finally {
    await data.close();
  }
}

/** Hash the data and write every tree level; returns the root hash. */
async function buildTree(
  data: FileHandle,
  hashFile: FileHandle,
  params: VerityParams,
  geometry: ReturnType<typeof treeGeometry>,
  options: Pick<FormatVerityOptions, 'threads' | 'hashPath' | 'dataOffset'>,
  ctx: Context,
): Promise<Buffer> {
  const totalBytes = params.dataBlocks * params.dataBlockSize;
  const threads = options.threads ?? defaultThreads(totalBytes);
  const blocksPerSlot = Math.max(1, Math.floor((2 * 1024 * 1024) / params.dataBlockSize));
  const spec = { algorithm: params.algorithm, hashType: params.hashType, salt: params.salt };
  const hasher = createBlockHasher({
    ...spec,
    blockSize: params.dataBlockSize,
    entrySize: geometry.entrySize,
    blocksPerSlot,
    threads,
  });
  const progress = startProgress(ctx, {
    task: `verity.format:${options.hashPath}`,
    label: 'hashing data',
    unit: 'bytes',
    total: totalBytes,
  });
  const tree = new TreeBuilder(geometry, params.hashBlockSize, spec, async (position, bytes) => {
    await hashFile.write(bytes, 0, bytes.length, position);
  });
  try {
    await hashDataStream(
      {
        file: data,
        hasher,
        blockSize: params.dataBlockSize,
        dataBlocks: params.dataBlocks,
        blocksPerSlot,
        dataOffset: options.dataOffset ?? 0,
        progress,
        ctx,
      },
      (_first, count, digests) => tree.addDataDigests(digests, count),
    );
    const root = await tree.finish();
    progress.done(true);
    return root;
  } catch (error) {
    progress.done(false);
    throw error;
  } finally {
    await hasher.close();
  }
}
