import type { FileHandle } from 'node:fs/promises';
import { type Context, DroverError, startProgress, throwIfAborted, toDroverError } from '@drover/core';
import { fecLayout } from './fec.js';
import { hashBlock } from './hasher.js';
import { openFile, readPadded, sameFile, sizeOf } from './io.js';
import { parseRootHash } from './params.js';
import { ErasureDecoder } from './rs.js';
import { type Inspection, inspectVerity, type VerifyResult, type VerifyVerityOptions } from './verify.js';

/** A block of the data or hash device, by index in its own block size, with its byte offset. */
export interface FecBlock {
  area: 'data' | 'hash';
  index: number;
  offset: number;
}

/** What the FEC parity can do about the bad blocks found. */
export interface FecReport {
  roots: number;
  rounds: number;
  /** Bad blocks whose content the parity recovers (and the tree confirms where it can check). */
  correctable: FecBlock[];
  /** Bad blocks in interleaving groups with more bad blocks than roots, or whose recovered content the tree rejects. */
  uncorrectable: FecBlock[];
}

export interface RepairVerityOptions extends VerifyVerityOptions {
  /** `--fec-device`. */
  fecPath: string;
  /** `--fec-roots`, default 2. */
  fecRoots?: number;
  /** `--fec-offset` in bytes, default 0. */
  fecOffset?: number;
  /** Report what would be repaired without writing. */
  dryRun?: boolean;
}

/** The outcome of `repairVerity`. */
export interface RepairResult {
  dryRun: boolean;
  /** Blocks rewritten (or that would be, in a dry run). */
  repaired: FecBlock[];
  /** Bad blocks FEC could not recover. */
  unrepairable: FecBlock[];
  /** The verification before repairing. */
  before: VerifyResult;
  /** The verification after writing the repairs (absent in a dry run). */
  after?: VerifyResult;
  /** True when the image is intact afterwards (in a dry run: when everything bad is correctable). */
  ok: boolean;
}

interface Recovered {
  block: FecBlock;
  /** Where to write it in its file. */
  position: number;
  content: Buffer;
}

/** Work out, group by group, which bad blocks the parity recovers; `apply` receives each recovered block. */
export async function analyzeFec(
  inspection: Inspection,
  options: Pick<
    RepairVerityOptions,
    'dataPath' | 'hashPath' | 'fecPath' | 'fecRoots' | 'fecOffset' | 'rootHash'
  > & {
    dryRun: boolean;
  },
  ctx: Context,
  apply?: (recovered: Recovered) => Promise<void>,
): Promise<{ report: FecReport }> {
  const { params, geometry, badData, badHash } = inspection;
  if (params.dataBlockSize !== params.hashBlockSize) {
    throw new DroverError('VERITY_FEC_BLOCK_SIZE', 'FEC needs equal data and hash block sizes', {
      hint: 'This tree cannot have FEC; drop --fec-device.',
    });
  }
  const fecOffset = options.fecOffset ?? 0;
  const fecWithHash = await sameFile(options.fecPath, options.hashPath);
  const layout = fecLayout({
    params,
    geometry,
    dataPath: options.dataPath,
    hashPath: options.hashPath,
    hashEnd: fecWithHash ? fecOffset : inspection.hashDeviceSize,
    roots: options.fecRoots ?? 2,
    fecOffset,
  });
  const bs = layout.blockSize;
  const hashStartBlock = geometry.hashStartBlock;
  const toBlock = (m: number): FecBlock =>
    m < params.dataBlocks
      ? { area: 'data', index: m, offset: m * bs }
      : {
          area: 'hash',
          index: hashStartBlock + m - params.dataBlocks,
          offset: (hashStartBlock + m - params.dataBlocks) * bs,
        };
  // Message block numbers of everything flagged, grouped by interleaving round.
  const groups = new Map<number, number[]>();
  const flag = (m: number): void => {
    const g = m % layout.rounds;
    const list = groups.get(g);
    if (list) list.push(m);
    else groups.set(g, [m]);
  };
  for (const b of badData) flag(b);
  for (const h of badHash) flag(params.dataBlocks + h - hashStartBlock);

  const report: FecReport = {
    roots: layout.roots,
    rounds: layout.rounds,
    correctable: [],
    uncorrectable: [],
  };
  if (groups.size === 0) return { report };
  const data = await openFile(options.dataPath, 'r', 'data device');
  const hash = await openFile(options.hashPath, 'r', 'hash device');
  const fec = await openFile(options.fecPath, 'r', 'FEC device');
  const progress = startProgress(ctx, {
    task: `verity.repair:${options.hashPath}`,
    label: 'decoding FEC',
    unit: 'items',
    total: groups.size,
  });
  try {
    const fecSize = await sizeOf(fec);
    const parityEnd = fecOffset + layout.rounds * layout.roots * bs;
    if (fecSize < parityEnd) {
      throw new DroverError(
        'VERITY_FEC_TOO_SMALL',
        `FEC device holds ${fecSize} bytes but the parity ends at ${parityEnd}`,
        {
          kind: 'integrity',
          hint: 'Check --fec-device, --fec-roots and --fec-offset: they must match what format was given.',
          details: { fecSize, parityEnd },
        },
      );
    }
    const readMessageBlock = async (m: number, into: Buffer): Promise<void> => {
      if (m < params.dataBlocks) await readPadded(data, into, bs, m * bs);
      else if (m < layout.blocks)
        await readPadded(hash, into, bs, layout.hashStart + (m - params.dataBlocks) * bs);
      else into.fill(0);
    };
    const root = parseRootHash(options.rootHash, params.algorithm);
    const check = makeChecker(inspection, hash, root);
    const blocks = Array.from({ length: layout.rsn }, () => Buffer.alloc(bs));
    const parity = Buffer.alloc(bs * layout.roots);
    const symbols = new Uint8Array(255);
    for (const [g, members] of [...groups.entries()].sort((a, b) => a[0] - b[0])) {
      throwIfAborted(ctx);
      members.sort((a, b) => a - b);
      if (members.length > layout.roots) {
        for (const m of members) report.uncorrectable.push(toBlock(m));
        progress.advance(1);
        continue;
      }
      const positions = members.map((m) => Math.floor(m / layout.rounds));
      const decoder = new ErasureDecoder(layout.roots, positions);
      for (let j = 0; j < layout.rsn; j++) await readMessageBlock(g + j * layout.rounds, blocks[j]!);
      await readPadded(fec, parity, parity.length, fecOffset + g * bs * layout.roots);
      const recovered = members.map(() => Buffer.alloc(bs));
      const values = new Uint8Array(members.length);
      for (let x = 0; x < bs; x++) {
        for (let j = 0; j < layout.rsn; j++) {
          const block = blocks[j]!;
          symbols[j] = block[x]!;
        }
        for (let k = 0; k < layout.roots; k++) symbols[layout.rsn + k] = parity[x * layout.roots + k]!;
        decoder.solve(symbols, values);
        for (let l = 0; l < members.length; l++) recovered[l]![x] = values[l]!;
      }
      for (let l = 0; l < members.length; l++) {
        const m = members[l]!;
        const content = recovered[l]!;
        // A flagged block whose content FEC leaves unchanged was only flagged through a bad hash above it.
        const position = positions[l]!;
        if (content.equals(blocks[position]!)) continue;
        const block = toBlock(m);
        if ((await check(block, content)) === false) {
          report.uncorrectable.push(block);
          continue;
        }
        report.correctable.push(block);
        if (!options.dryRun && apply) {
          const position = m < params.dataBlocks ? m * bs : layout.hashStart + (m - params.dataBlocks) * bs;
          await apply({ block, position, content });
        }
      }
      progress.advance(1);
    }
    progress.done(true);
    const order = (a: FecBlock, b: FecBlock): number =>
      a.area === b.area ? a.index - b.index : a.area === 'data' ? -1 : 1;
    report.correctable.sort(order);
    report.uncorrectable.sort(order);
    return { report };
  } catch (error) {
    progress.done(false);
    throw error;
  } finally {
    await Promise.all([data.close(), hash.close(), fec.close()]);
  }
}

/**
 * Check recovered content against the tree where the tree is trustworthy: a data block against its leaf entry,
 * a hash block against its parent entry (or the root), unless that parent block is itself bad. Returns
 * undefined when it cannot check.
 */
function makeChecker(
  inspection: Inspection,
  hash: FileHandle,
  root: Buffer,
): (block: FecBlock, content: Buffer) => Promise<boolean | undefined> {
  const { params, geometry, badHash } = inspection;
  const bad = new Set(badHash);
  const spec = { algorithm: params.algorithm, hashType: params.hashType, salt: params.salt };
  const entry = Buffer.alloc(geometry.digestSize);
  const levelOf = (absolute: number): number =>
    geometry.levels.findIndex((l) => absolute >= l.start && absolute < l.start + l.blocks);
  return async (block, content) => {
    let parentAbsolute: number;
    let slot: number;
    if (block.area === 'data') {
      const leaves = geometry.levels[0];
      if (!leaves) return hashBlock(spec, content).equals(root);
      parentAbsolute = leaves.start + Math.floor(block.index / geometry.perBlock);
      slot = block.index % geometry.perBlock;
    } else {
      const level = levelOf(block.index);
      if (level < 0) return undefined;
      const parent = geometry.levels[level + 1];
      if (!parent) return hashBlock(spec, content).equals(root);
      const index = block.index - geometry.levels[level]!.start;
      parentAbsolute = parent.start + Math.floor(index / geometry.perBlock);
      slot = index % geometry.perBlock;
    }
    if (bad.has(parentAbsolute)) return undefined;
    await readPadded(
      hash,
      entry,
      entry.length,
      parentAbsolute * params.hashBlockSize + slot * geometry.entrySize,
    );
    return hashBlock(spec, content).equals(entry);
  };
}

/** Rewrite the blocks FEC can recover in place (or only report them with `dryRun`), then verify again. */
export async function repairVerity(options: RepairVerityOptions, ctx: Context = {}): Promise<RepairResult> {
  if ((options.dataOffset ?? 0) !== 0) {
    throw new DroverError('VERITY_DATA_OFFSET_FEC', 'repair cannot be combined with a data offset yet', {
      kind: 'usage',
      hint: 'Repair the partition device (or a copy of the partition) instead of the whole disk image.',
    });
  }
  const dryRun = options.dryRun ?? false;
  const before = await inspectVerity(options, ctx);
  const writers = new Map<'data' | 'hash', FileHandle>();
  try {
    const { report } = await analyzeFec(before, { ...options, dryRun }, ctx, async (recovered) => {
      let file = writers.get(recovered.block.area);
      if (!file) {
        const path = recovered.block.area === 'data' ? options.dataPath : options.hashPath;
        file = await openFile(path, 'r+', `${recovered.block.area} device`);
        writers.set(recovered.block.area, file);
      }
      await file.write(recovered.content, 0, recovered.content.length, recovered.position);
    });
    for (const file of writers.values()) await file.sync();
    const result: RepairResult = {
      dryRun,
      repaired: report.correctable,
      unrepairable: report.uncorrectable,
      before: { ...before.result, fec: report },
      ok: before.result.ok || report.uncorrectable.length === 0,
    };
    if (!dryRun && report.correctable.length > 0) {
      result.after = (await inspectVerity(options, ctx)).result;
      result.ok = result.after.ok;
    } else if (!dryRun) {
      result.ok = before.result.ok;
    }
    return result;
  } catch (error) {
    throw toDroverError(error, 'verity repair');
  } finally {
    await Promise.all([...writers.values()].map((f) => f.close()));
  }
}
