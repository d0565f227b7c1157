import * as fs from 'node:fs';
import { constants } from 'node:fs';
import { type FileHandle, stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { type Context, DroverError, startProgress, throwIfAborted, writeAtomically } from '@drover/core';
import type { TreeGeometry } from './geometry.js';
import { defaultThreads } from './hasher.js';
import { openFile, sizeOf } from './io.js';
import type { VerityParams } from './params.js';
import { checkFecRoots, encodeRow, encoderTables, interleaveParity } from './rs.js';

/** Where the FEC parity went and what it covers. */
export interface FecResult {
  path: string;
  roots: number;
  /** `--fec-offset` in bytes. */
  offset: number;
  /** Blocks covered: the data blocks, then the hash device from the first hash block. */
  blocks: number;
  /** Interleaving rounds: ceil(blocks / (255 - roots)). */
  rounds: number;
  /** Bytes of parity written at `offset`. */
  size: number;
}

/** The RS message as dm-verity FEC sees it: data blocks then hash blocks, zero-padded to whole rounds. */
export interface FecLayout {
  dataPath: string;
  dataBytes: number;
  hashPath: string;
  /** Byte offset of the first covered hash block in the hash file. */
  hashStart: number;
  hashBytes: number;
  blockSize: number;
  roots: number;
  rsn: number;
  blocks: number;
  rounds: number;
  fecOffset: number;
}

/** Compute the FEC layout; `hashEnd` is the end of the covered hash area (device size, or the FEC offset when shared). */
export function fecLayout(o: {
  params: VerityParams;
  geometry: TreeGeometry;
  dataPath: string;
  hashPath: string;
  hashEnd: number;
  roots: number;
  fecOffset: number;
}): FecLayout {
  const roots = checkFecRoots(o.roots);
  const blockSize = o.params.dataBlockSize;
  const hashStart = o.geometry.hashStartBlock * o.params.hashBlockSize;
  const hashBlocks = Math.max(0, Math.ceil((o.hashEnd - hashStart) / blockSize));
  const blocks = o.params.dataBlocks + hashBlocks;
  const rsn = 255 - roots;
  return {
    dataPath: o.dataPath,
    dataBytes: o.params.dataBlocks * blockSize,
    hashPath: o.hashPath,
    hashStart,
    hashBytes: hashBlocks * blockSize,
    blockSize,
    roots,
    rsn,
    blocks,
    rounds: Math.ceil(blocks / rsn),
    fecOffset: o.fecOffset,
  };
}

type FsSync = Pick<typeof fs, 'readSync' | 'writeSync'>;

/**
 * Parity for the interleaved codewords [c0, c0 + length): reads the message rows with synchronous I/O, runs the
 * encoder in the caller's scratch buffers and writes the parity to the FEC file. Self-contained (everything comes
 * in as arguments) so a worker can run it from its source text.
 */
export function encodeSegment(
  fsSync: FsSync,
  fds: { data: number; hash: number; out: number },
  layout: FecLayout,
  tables: Uint8Array,
  encode: typeof encodeRow,
  interleave: typeof interleaveParity,
  scratch: { row: Uint8Array; planes: Uint8Array; out: Uint8Array },
  c0: number,
  length: number,
): void {
  const stride = layout.rounds * layout.blockSize;
  const row = scratch.row.subarray(0, length);
  const planes = scratch.planes.subarray(0, length * layout.roots);
  planes.fill(0);
  const dataFd = fds.data;
  const hashFd = fds.hash;
  const covered = layout.dataBytes + layout.hashBytes;
  let shift = 0;
  for (let j = 0; j < layout.rsn; j++) {
    const m = c0 + j * stride;
    row.fill(0);
    let done = 0;
    while (done < length && m + done < covered) {
      const pos = m + done;
      const inData = pos < layout.dataBytes;
      const n = Math.min(length - done, (inData ? layout.dataBytes : covered) - pos);
      const fd = inData ? dataFd : hashFd;
      const at = inData ? pos : layout.hashStart + pos - layout.dataBytes;
      let got = 0;
      while (got < n) {
        const r = fsSync.readSync(fd, row, done + got, n - got, at + got);
        if (r === 0) break;
        got += r;
      }
      done += n;
    }
    shift = encode(row, planes, length, layout.roots, shift, tables);
  }
  const out = scratch.out.subarray(0, length * layout.roots);
  interleave(planes, length, layout.roots, shift, out);
  let written = 0;
  while (written < out.length) {
    written += fsSync.writeSync(
      fds.out,
      out,
      written,
      out.length - written,
      layout.fecOffset + c0 * layout.roots + written,
    );
  }
}

const FEC_WORKER_SOURCE = `
const fs = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const encodeRow = (${encodeRow.toString()});
const interleaveParity = (${interleaveParity.toString()});
const encodeSegment = (${encodeSegment.toString()});
const { layout, tables, outPath, segment } = workerData;
const fds = { data: fs.openSync(layout.dataPath, 'r'), hash: fs.openSync(layout.hashPath, 'r'), out: fs.openSync(outPath, 'r+') };
const scratch = { row: new Uint8Array(segment), planes: new Uint8Array(segment * layout.roots), out: new Uint8Array(segment * layout.roots) };
parentPort.on('message', (m) => {
  encodeSegment(fs, fds, layout, tables, encodeRow, interleaveParity, scratch, m.c0, m.length);
  parentPort.postMessage(m.id);
});
`;

/** Compute all parity for `layout` and write it into `outPath` at the FEC offset, segment by segment. */
async function encodeFec(layout: FecLayout, outPath: string, threads: number, ctx: Context): Promise<void> {
  const total = layout.rounds * layout.blockSize;
  // Bound memory: a segment needs its row, its parity planes and the interleaved output.
  const budget = 12 * 1024 * 1024;
  // Segments are word-aligned; enough of them to keep every thread busy, none larger than the budget.
  const largest = Math.max(4096, Math.floor(budget / (2 * layout.roots + 1) / 4096) * 4096);
  const pieces = Math.max(Math.ceil(total / largest), threads > 0 ? threads * 4 : 1);
  const segment = Math.min(largest, Math.max(4096, Math.ceil(total / pieces / 4) * 4));
  const tables = encoderTables(layout.roots);
  const progress = startProgress(ctx, {
    task: `verity.fec:${layout.hashPath}`,
    label: 'computing FEC',
    unit: 'bytes',
    total: layout.rounds * layout.rsn * layout.blockSize,
  });
  const segments: { c0: number; length: number }[] = [];
  for (let c0 = 0; c0 < total; c0 += segment) segments.push({ c0, length: Math.min(segment, total - c0) });
  try {
    if (threads === 0) {
      const fds = {
        data: fs.openSync(layout.dataPath, 'r'),
        hash: fs.openSync(layout.hashPath, 'r'),
        out: fs.openSync(outPath, 'r+'),
      };
      const scratch = {
        row: new Uint8Array(segment),
        planes: new Uint8Array(segment * layout.roots),
        out: new Uint8Array(segment * layout.roots),
      };
      try {
        for (const s of segments) {
          throwIfAborted(ctx);
          encodeSegment(fs, fds, layout, tables, encodeRow, interleaveParity, scratch, s.c0, s.length);
          progress.advance(s.length * layout.rsn);
          // Let abort signals and progress rendering through between segments.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      } finally {
        for (const fd of Object.values(fds)) fs.closeSync(fd);
      }
    } else {
      await runWorkers(
        { layout, tables, outPath, segment },
        segments,
        Math.min(threads, segments.length),
        ctx,
        (s) => progress.advance(s.length * layout.rsn),
      );
    }
    progress.done(true);
  } catch (error) {
    progress.done(false);
    throw error;
  }
}

async function runWorkers(
  workerData: { layout: FecLayout; tables: Uint8Array; outPath: string; segment: number },
  segments: { c0: number; length: number }[],
  threads: number,
  ctx: Context,
  onDone: (s: { c0: number; length: number }) => void,
): Promise<void> {
  const workers = Array.from(
    { length: threads },
    () => new Worker(FEC_WORKER_SOURCE, { eval: true, workerData }),
  );
  try {
    let next = 0;
    // Each worker takes the next segment as soon as it is free and writes its parity itself.
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            let busy: { c0: number; length: number } | undefined;
            const take = (): void => {
              if (ctx.signal?.aborted || next >= segments.length) {
                resolve();
                return;
              }
              busy = segments[next]!;
              worker.postMessage({ id: next, c0: busy.c0, length: busy.length });
              next++;
            };
            worker.on('message', () => {
              onDone(busy!);
              take();
            });
            worker.on('error', (error) =>
              reject(
                new DroverError('VERITY_WORKER_FAILED', `FEC worker failed: ${error.message}`, {
                  kind: 'internal',
                  cause: error,
                  hint: 'Retry with --threads 0, and report the bug.',
                }),
              ),
            );
            take();
          }),
      ),
    );
    throwIfAborted(ctx);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Write FEC parity for a freshly built tree (called by formatVerity after the tree, before the superblock). */
export async function writeFec(
  o: {
    dataPath: string;
    hashPath: string;
    hashFile: FileHandle;
    params: VerityParams;
    geometry: TreeGeometry;
    fecPath: string;
    fecWithHash: boolean;
    roots: number;
    offset: number;
    threads: number | undefined;
  },
  ctx: Context,
): Promise<FecResult> {
  const hashEnd = o.fecWithHash ? o.offset : await sizeOf(o.hashFile);
  const layout = fecLayout({
    params: o.params,
    geometry: o.geometry,
    dataPath: o.dataPath,
    hashPath: o.hashPath,
    hashEnd,
    roots: o.roots,
    fecOffset: o.offset,
  });
  const size = layout.rounds * layout.roots * layout.blockSize;
  const threads = o.threads ?? defaultThreads(layout.blocks * layout.blockSize);
  if (o.fecWithHash) {
    await encodeFec(layout, o.hashPath, threads, ctx);
  } else {
    const existing = await stat(o.fecPath).catch(() => undefined);
    if (existing !== undefined && (!existing.isFile() || o.offset > 0)) {
      await encodeFec(layout, o.fecPath, threads, ctx);
    } else {
      await writeAtomically(o.fecPath, async (temporary) => {
        const target = await openFile(
          temporary,
          constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
          'FEC device',
        );
        await target.close();
        await encodeFec(layout, temporary, threads, ctx);
      });
    }
  }
  return {
    path: o.fecPath,
    roots: layout.roots,
    offset: o.offset,
    blocks: layout.blocks,
    rounds: layout.rounds,
    size,
  };
}
