import type { FileHandle } from 'node:fs/promises';
import {
  type Context,
  DroverError,
  isDroverError,
  startProgress,
  throwIfAborted,
  toDroverError,
  type VerityRecord,
} from '@drover/core';
import { paramsFromSuperblock } from './dump.js';
import { toVerityRecord } from './format.js';
import { type TreeGeometry, treeGeometry } from './geometry.js';
import { type BlockHashSpec, createBlockHasher, defaultThreads, hashBlock } from './hasher.js';
import { checkDataOffset, hashDataStream, openFile, readPadded, sizeOf } from './io.js';
import {
  checkBlockSize,
  checkHashType,
  digestSizeOf,
  parseRootHash,
  resolveSalt,
  SUPERBLOCK_SIZE,
  type VerityParams,
} from './params.js';
import { analyzeFec, type FecReport } from './repair.js';
import { decodeSuperblock } from './superblock.js';

/** What `verifyVerity` checks; without a superblock the tree parameters must be given (veritysetup defaults). */
export interface VerifyVerityOptions {
  dataPath: string;
  /** Byte offset of the data inside `dataPath` (a partition inside a disk image), default 0. */
  dataOffset?: number;
  hashPath: string;
  /** The trusted root hash, hex. */
  rootHash: string;
  /** `--hash-offset` of the superblock (or of the tree with `superblock: false`). */
  hashOffset?: number;
  /** `--no-superblock` is `superblock: false`. */
  superblock?: boolean;
  hashType?: 0 | 1;
  algorithm?: string;
  dataBlockSize?: number;
  hashBlockSize?: number;
  dataBlocks?: number;
  salt?: string | Uint8Array;
  /** Stop listing issues after this many (counts stay exact); default 1000. */
  maxIssues?: number;
  /** Worker threads for hashing; default depends on size and cores. */
  threads?: number;
}

/** One thing wrong with a verity image. Offsets are byte offsets in the data or hash file. */
export type VerityIssue =
  | { kind: 'superblock'; field: string; message: string }
  | { kind: 'root-hash'; expected: string; actual: string }
  | { kind: 'data-block'; index: number; offset: number }
  | { kind: 'hash-block'; level: number; index: number; offset: number }
  | { kind: 'padding'; level: number; index: number; offset: number };

/** Totals per issue kind. */
export interface VerityIssueCounts {
  superblock: number;
  rootHash: number;
  dataBlocks: number;
  hashBlocks: number;
  padding: number;
}

/** The full verification report. */
export interface VerifyResult {
  /** True when nothing at all is wrong. */
  ok: boolean;
  rootHash: string;
  record: VerityRecord;
  dataPath: string;
  /** Byte offset of the data in `dataPath` (data-block issue offsets include it); present when not 0. */
  dataOffset?: number;
  hashPath: string;
  counts: VerityIssueCounts;
  /** Issues in the order found, at most `maxIssues`. */
  issues: VerityIssue[];
  /** True when more issues exist than listed. */
  truncated: boolean;
  checked: { dataBlocks: number; hashBlocks: number };
  /** With `fecPath`: which bad blocks the parity can correct. */
  fec?: FecReport;
}

/** Collects issues with exact counts and a capped list. */
export class IssueLog {
  readonly issues: VerityIssue[] = [];
  readonly counts: VerityIssueCounts = {
    superblock: 0,
    rootHash: 0,
    dataBlocks: 0,
    hashBlocks: 0,
    padding: 0,
  };
  truncated = false;
  constructor(private readonly max: number) {}
  add(issue: VerityIssue): void {
    switch (issue.kind) {
      case 'superblock':
        this.counts.superblock++;
        break;
      case 'root-hash':
        this.counts.rootHash++;
        break;
      case 'data-block':
        this.counts.dataBlocks++;
        break;
      case 'hash-block':
        this.counts.hashBlocks++;
        break;
      case 'padding':
        this.counts.padding++;
        break;
    }
    if (this.issues.length < this.max) this.issues.push(issue);
    else this.truncated = true;
  }
  get ok(): boolean {
    const c = this.counts;
    return c.superblock + c.rootHash + c.dataBlocks + c.hashBlocks + c.padding === 0;
  }
}

function explicitParams(options: VerifyVerityOptions, hashOffset: number): VerityParams | undefined {
  if (options.algorithm === undefined && options.dataBlocks === undefined && options.salt === undefined) {
    return undefined;
  }
  return fromOptions(options, hashOffset, true);
}

function fromOptions(options: VerifyVerityOptions, hashOffset: number, superblock: boolean): VerityParams {
  const algorithm = (options.algorithm ?? 'sha256').toLowerCase();
  digestSizeOf(algorithm);
  if (options.dataBlocks === undefined) {
    throw new DroverError(
      'VERITY_DATA_BLOCKS_REQUIRED',
      'without a superblock the number of data blocks must be given',
      {
        kind: 'usage',
        hint: 'Pass --data-blocks (and --hash, --salt, block sizes) as given to format, or keep the superblock.',
      },
    );
  }
  return {
    hashType: checkHashType(options.hashType ?? 1),
    algorithm,
    dataBlockSize: checkBlockSize(options.dataBlockSize ?? 4096, 'data'),
    hashBlockSize: checkBlockSize(options.hashBlockSize ?? 4096, 'hash'),
    dataBlocks: options.dataBlocks,
    salt: resolveSalt(options.salt ?? '-'),
    hashOffset,
    superblock,
  };
}

/** Resolve parameters from the superblock (reporting a damaged one) or from the options. */
async function resolveParams(
  hashFile: FileHandle,
  options: VerifyVerityOptions,
  log: IssueLog,
): Promise<VerityParams> {
  const hashOffset = options.hashOffset ?? 0;
  if (options.superblock === false) return fromOptions(options, hashOffset, false);
  const raw = Buffer.alloc(SUPERBLOCK_SIZE);
  await readPadded(hashFile, raw, SUPERBLOCK_SIZE, hashOffset);
  let params: VerityParams;
  try {
    params = paramsFromSuperblock(decodeSuperblock(raw), hashOffset);
  } catch (error) {
    const fallback = explicitParams(options, hashOffset);
    if (!fallback || !isDroverError(error)) throw error;
    log.add({
      kind: 'superblock',
      field: String(error.details?.field ?? 'signature'),
      message: error.message,
    });
    return fallback;
  }
  // Options that disagree with the superblock are reported; the superblock wins, as with veritysetup.
  const given: [string, unknown, unknown][] = [
    ['algorithm', options.algorithm?.toLowerCase(), params.algorithm],
    ['hashType', options.hashType, params.hashType],
    ['dataBlockSize', options.dataBlockSize, params.dataBlockSize],
    ['hashBlockSize', options.hashBlockSize, params.hashBlockSize],
    ['dataBlocks', options.dataBlocks, params.dataBlocks],
    [
      'salt',
      options.salt === undefined ? undefined : resolveSalt(options.salt).toString('hex'),
      params.salt.toString('hex'),
    ],
  ];
  for (const [field, wanted, actual] of given) {
    if (wanted !== undefined && wanted !== actual) {
      log.add({
        kind: 'superblock',
        field,
        message: `superblock has ${field} ${String(actual)}, options say ${String(wanted)}`,
      });
    }
  }
  if (
    raw.subarray(82, 88).some((b) => b !== 0) ||
    raw.subarray(88 + params.salt.length).some((b) => b !== 0)
  ) {
    log.add({ kind: 'superblock', field: 'padding', message: 'reserved superblock bytes are not zero' });
  }
  return params;
}

/** Extra verify options when the image has FEC. */
export interface VerifyFecOptions {
  /** `--fec-device`: report which bad blocks the FEC parity can correct. */
  fecPath?: string;
  /** `--fec-roots`, default 2. */
  fecRoots?: number;
  /** `--fec-offset` in bytes, default 0. */
  fecOffset?: number;
}

/** What one verification pass learned, for verify and repair. */
export interface Inspection {
  result: VerifyResult;
  params: VerityParams;
  geometry: TreeGeometry;
  /** Data blocks whose digest differs from the stored entry. */
  badData: number[];
  /** Absolute hash-block indices whose digest differs from the parent entry or the root. */
  badHash: number[];
  hashDeviceSize: number;
}

/** Verify data against its hash tree and root hash, reporting every bad block rather than stopping at the first. */
export async function verifyVerity(
  options: VerifyVerityOptions & VerifyFecOptions,
  ctx: Context = {},
): Promise<VerifyResult> {
  if ((options.dataOffset ?? 0) !== 0 && options.fecPath !== undefined) {
    throw new DroverError('VERITY_DATA_OFFSET_FEC', 'FEC cannot be combined with a data offset yet', {
      kind: 'usage',
      hint: 'Drop --data-offset (use the partition device or a copy of it), or drop --fec-device.',
    });
  }
  const inspection = await inspectVerity(options, ctx);
  if (options.fecPath === undefined) return inspection.result;
  const fec = await analyzeFec(inspection, { ...options, fecPath: options.fecPath, dryRun: true }, ctx);
  return { ...inspection.result, fec: fec.report };
}

/** One verification pass; keeps the bad block lists (up to a million) for FEC. */
export async function inspectVerity(options: VerifyVerityOptions, ctx: Context = {}): Promise<Inspection> {
  throwIfAborted(ctx);
  const log = new IssueLog(options.maxIssues ?? 1000);
  const badData: number[] = [];
  const badHash: number[] = [];
  const limit = 1_000_000;
  const data = await openFile(options.dataPath, 'r', 'data device');
  let hashFile: FileHandle | undefined;
  try {
    hashFile = await openFile(options.hashPath, 'r', 'hash device');
    const params = await resolveParams(hashFile, options, log);
    const root = parseRootHash(options.rootHash, params.algorithm);
    const geometry = treeGeometry(params);
    const dataOffset = checkDataOffset(options.dataOffset);
    const dataSize = Math.max(0, (await sizeOf(data)) - dataOffset);
    if (dataSize < params.dataBlocks * params.dataBlockSize) {
      throw new DroverError(
        'VERITY_DATA_TOO_SMALL',
        `data device holds ${dataSize} bytes${dataOffset > 0 ? ` after offset ${dataOffset}` : ''}; the tree covers ${params.dataBlocks * params.dataBlockSize}`,
        {
          kind: 'integrity',
          hint: 'Check the data path and --data-blocks.',
          details: { dataSize, dataBlocks: params.dataBlocks },
        },
      );
    }
    const hashSize = await sizeOf(hashFile);
    if (hashSize < geometry.hashEnd) {
      throw new DroverError(
        'VERITY_HASH_TOO_SMALL',
        `hash device holds ${hashSize} bytes but the tree needs ${geometry.hashEnd}`,
        {
          kind: 'integrity',
          hint: 'Check the hash path and --hash-offset; the hash file may be truncated.',
          details: { hashSize, needed: geometry.hashEnd },
        },
      );
    }
    const rootIssues = log.counts.rootHash;
    await checkData(data, hashFile, params, geometry, root, log, options, ctx, (b) => {
      if (badData.length < limit) badData.push(b);
    });
    if (geometry.levels.length === 0 && log.counts.rootHash > rootIssues) badData.push(0);
    const beforeTree = log.counts.rootHash;
    await checkTree(hashFile, params, geometry, root, log, ctx, (level, index) => {
      if (badHash.length < limit) badHash.push(geometry.levels[level]!.start + index);
    });
    const top = geometry.levels[geometry.levels.length - 1];
    if (top && log.counts.rootHash > beforeTree) badHash.push(top.start);
    const result: VerifyResult = {
      ok: log.ok,
      rootHash: root.toString('hex'),
      record: toVerityRecord(params, root.toString('hex')),
      dataPath: options.dataPath,
      hashPath: options.hashPath,
      counts: log.counts,
      issues: log.issues,
      truncated: log.truncated,
      checked: { dataBlocks: params.dataBlocks, hashBlocks: geometry.hashBlocks },
    };
    if (dataOffset > 0) result.dataOffset = dataOffset;
    return {
      result,
      params,
      geometry,
      badData,
      badHash: badHash.sort((a, b) => a - b),
      hashDeviceSize: hashSize,
    };
  } catch (error) {
    throw toDroverError(error, 'verity verify');
  } finally {
    await hashFile?.close();
    await data.close();
  }
}

/** Level 0 against the data: every data block whose digest differs from its stored entry. */
export async function checkData(
  data: FileHandle,
  hashFile: FileHandle,
  params: VerityParams,
  geometry: TreeGeometry,
  root: Buffer,
  log: IssueLog,
  options: { threads?: number; hashPath: string; dataOffset?: number },
  ctx: Context,
  onBad?: (index: number) => void,
): Promise<void> {
  const { dataBlockSize, hashBlockSize, dataBlocks } = params;
  const { perBlock, entrySize, digestSize } = geometry;
  const dataOffset = options.dataOffset ?? 0;
  const totalBytes = dataBlocks * dataBlockSize;
  const blocksPerSlot = Math.max(1, Math.floor((2 * 1024 * 1024) / dataBlockSize));
  const hasher = createBlockHasher({
    algorithm: params.algorithm,
    hashType: params.hashType,
    salt: params.salt,
    blockSize: dataBlockSize,
    entrySize,
    blocksPerSlot,
    threads: options.threads ?? defaultThreads(totalBytes),
  });
  const progress = startProgress(ctx, {
    task: `verity.verify:${options.hashPath}`,
    label: 'verifying data',
    unit: 'bytes',
    total: totalBytes,
  });
  const leaves = geometry.levels[0];
  const stored = Buffer.alloc((Math.ceil(blocksPerSlot / perBlock) + 1) * hashBlockSize);
  try {
    await hashDataStream(
      { file: data, hasher, blockSize: dataBlockSize, dataBlocks, blocksPerSlot, dataOffset, progress, ctx },
      async (first, count, digests) => {
        if (!leaves) {
          const actual = digests.subarray(0, digestSize);
          if (!actual.equals(root)) {
            log.add({ kind: 'root-hash', expected: root.toString('hex'), actual: actual.toString('hex') });
          }
          return;
        }
        const firstHashBlock = Math.floor(first / perBlock);
        const lastHashBlock = Math.floor((first + count - 1) / perBlock);
        const length = (lastHashBlock - firstHashBlock + 1) * hashBlockSize;
        await readPadded(hashFile, stored, length, (leaves.start + firstHashBlock) * hashBlockSize);
        for (let i = 0; i < count; i++) {
          const b = first + i;
          const at = (Math.floor(b / perBlock) - firstHashBlock) * hashBlockSize + (b % perBlock) * entrySize;
          if (digests.compare(stored, at, at + digestSize, i * entrySize, i * entrySize + digestSize) !== 0) {
            log.add({ kind: 'data-block', index: b, offset: dataOffset + b * dataBlockSize });
            onBad?.(b);
          }
        }
      },
    );
    progress.done(true);
  } catch (error) {
    progress.done(false);
    throw error;
  } finally {
    await hasher.close();
  }
}

/** Every stored hash block against its parent's entry (or the root), and its unused bytes against zero. */
export async function checkTree(
  hashFile: FileHandle,
  params: VerityParams,
  geometry: TreeGeometry,
  root: Buffer,
  log: IssueLog,
  ctx: Context,
  onBad?: (level: number, index: number) => void,
): Promise<void> {
  const { hashBlockSize } = params;
  const { perBlock, entrySize, digestSize, levels } = geometry;
  const spec: BlockHashSpec = { algorithm: params.algorithm, hashType: params.hashType, salt: params.salt };
  const windowBlocks = Math.max(1, Math.floor((1024 * 1024) / hashBlockSize));
  const window = Buffer.alloc(windowBlocks * hashBlockSize);
  const parentBlock = Buffer.alloc(hashBlockSize);
  for (let level = 0; level < levels.length; level++) {
    const { start, blocks, entries } = levels[level]!;
    const parent = levels[level + 1];
    let parentIndex = -1;
    for (let w = 0; w < blocks; w += windowBlocks) {
      throwIfAborted(ctx);
      const n = Math.min(windowBlocks, blocks - w);
      await readPadded(hashFile, window, n * hashBlockSize, (start + w) * hashBlockSize);
      for (let k = 0; k < n; k++) {
        const index = w + k;
        const block = window.subarray(k * hashBlockSize, (k + 1) * hashBlockSize);
        const offset = (start + index) * hashBlockSize;
        const digest = hashBlock(spec, block);
        if (!parent) {
          if (!digest.equals(root)) {
            log.add({ kind: 'root-hash', expected: root.toString('hex'), actual: digest.toString('hex') });
          }
        } else {
          const p = Math.floor(index / perBlock);
          if (p !== parentIndex) {
            await readPadded(hashFile, parentBlock, hashBlockSize, (parent.start + p) * hashBlockSize);
            parentIndex = p;
          }
          const at = (index % perBlock) * entrySize;
          if (digest.compare(parentBlock, at, at + digestSize) !== 0) {
            log.add({ kind: 'hash-block', level, index, offset });
            onBad?.(level, index);
          }
        }
        const used = Math.min(perBlock, entries - index * perBlock);
        const nonZero = firstNonZeroPadding(block, used, entrySize, digestSize);
        if (nonZero >= 0) log.add({ kind: 'padding', level, index, offset: offset + nonZero });
      }
    }
  }
}

/** Offset within the block of the first non-zero byte outside the used digests, or -1. */
function firstNonZeroPadding(block: Buffer, used: number, entrySize: number, digestSize: number): number {
  if (entrySize > digestSize) {
    for (let j = 0; j < used; j++) {
      for (let x = j * entrySize + digestSize; x < (j + 1) * entrySize; x++) if (block[x] !== 0) return x;
    }
  }
  for (let x = used * entrySize; x < block.length; x++) if (block[x] !== 0) return x;
  return -1;
}
