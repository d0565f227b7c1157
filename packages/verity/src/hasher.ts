import { hash as oneShotHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DroverError } from '@drover/core';
import { emitSha256x4Module, SHA256X4_SCRATCH, type Sha256x4, sha256x4Records } from './sha256x4.js';
import { type WasmMemory, type WasmModule, wasmApi } from './wasm.js';

/** How a block is hashed: `HASH(salt || block)` for type 1, `HASH(block || salt)` for type 0. */
export interface BlockHashSpec {
  algorithm: string;
  hashType: 0 | 1;
  salt: Buffer;
}

/** Digest of one block (data or hash block) under the tree's salt rule. */
export function hashBlock(spec: BlockHashSpec, block: Uint8Array): Buffer {
  if (spec.salt.length === 0) return oneShotHash(spec.algorithm, block, 'buffer');
  const scratch = Buffer.allocUnsafe(block.length + spec.salt.length);
  if (spec.hashType === 1) {
    spec.salt.copy(scratch, 0);
    scratch.set(block, spec.salt.length);
  } else {
    scratch.set(block, 0);
    spec.salt.copy(scratch, block.length);
  }
  return oneShotHash(spec.algorithm, scratch, 'buffer');
}

/**
 * Hash `count` records of `data`, each `stride` bytes long and already holding the salt next to its block (see
 * `HashSlot`), writing each digest at `entrySize` stride into `out`. One native hash call per block, no copies.
 * Self-contained so that a worker can run it from its source text.
 */
export function hashRecords(
  hash: typeof oneShotHash,
  algorithm: string,
  data: Uint8Array,
  stride: number,
  count: number,
  out: Uint8Array,
  entrySize: number,
): void {
  for (let i = 0; i < count; i++) {
    const digest = hash(algorithm, data.subarray(i * stride, (i + 1) * stride), 'buffer');
    out.set(digest, i * entrySize);
  }
}

// The worker runs this source with `eval: true`, so it works from `src` under vitest and from a bundled CLI alike.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { hash } = require('node:crypto');
const hashRecords = (${hashRecords.toString()});
const sha256x4Records = (${sha256x4Records.toString()});
const { algorithm, stride, entrySize, slots, wasm } = workerData;
let simd;
if (wasm) {
  const instance = new WebAssembly.Instance(wasm.module, { env: { memory: wasm.memory } });
  simd = { chunks: instance.exports.chunks, memory: wasm.memory };
}
const views = slots.map((s) => ({ data: new Uint8Array(s.data), out: new Uint8Array(s.out), offset: s.offset }));
parentPort.on('message', (m) => {
  const { data, out, offset } = views[m.slot];
  if (simd) sha256x4Records(simd, offset, stride, m.count, wasm.scratch, out, entrySize);
  else hashRecords(hash, algorithm, data, stride, m.count, out, entrySize);
  parentPort.postMessage(m.slot);
});
`;

const simdModules = new Map<boolean, WasmModule | null>();

/** The compiled multi-buffer SHA-256 module, or undefined where WebAssembly SIMD (or shared memory) is missing. */
export function sha256x4Module(shared: boolean): WasmModule | undefined {
  let module = simdModules.get(shared);
  if (module === undefined) {
    const bytes = emitSha256x4Module({ shared, maxPages: 65536 });
    try {
      module = wasmApi?.validate(bytes) ? new wasmApi.Module(bytes) : null;
    } catch {
      // No WebAssembly (e.g. --jitless): hash with node:crypto instead.
      module = null;
    }
    simdModules.set(shared, module);
  }
  return module ?? undefined;
}

/**
 * A buffer pair the pipeline fills with blocks and gets digests back in. `data` holds `stride`-byte records:
 * salt then block for hash type 1, block then salt for type 0, so each record is exactly what gets hashed;
 * `blocks` are views of the block part of each record, for a vectored read.
 */
export interface HashSlot {
  readonly index: number;
  readonly data: Buffer;
  readonly out: Buffer;
  readonly blocks: Buffer[];
}

export interface BlockHasherOptions extends BlockHashSpec {
  blockSize: number;
  entrySize: number;
  /** Blocks per slot. */
  blocksPerSlot: number;
  /** Worker threads; 0 hashes on the calling thread. */
  threads: number;
  /** Use the WebAssembly SIMD SHA-256 (sha256 only); default true. */
  simd?: boolean;
}

/** A pool of worker threads hashing slots of blocks; `run` resolves once the slot's digests are in `out`. */
export interface BlockHasher {
  readonly slots: readonly HashSlot[];
  /** Bytes per record in a slot's data: block plus salt. */
  readonly stride: number;
  /** True when blocks are hashed by the WebAssembly SIMD SHA-256. */
  readonly simd: boolean;
  run(slot: HashSlot, count: number): Promise<void>;
  close(): Promise<void>;
}

/** Default worker count: the cores there are, at most 4 (reading and the upper tree levels need a thread too). */
export function defaultThreads(totalBytes: number): number {
  if (totalBytes < 8 * 1024 * 1024) return 0;
  return Math.min(4, Math.max(1, availableParallelism()));
}

/** Start a hasher with `threads` workers and enough slots to keep each busy while the next read runs. */
export function createBlockHasher(options: BlockHasherOptions): BlockHasher {
  const { blockSize, entrySize, blocksPerSlot, threads } = options;
  const slotCount = Math.max(2, threads * 2);
  const shared = threads > 0;
  const saltSize = options.salt.length;
  const stride = blockSize + saltSize;
  const blockAt = options.hashType === 1 ? saltSize : 0;
  const saltAt = options.hashType === 1 ? 0 : blockSize;
  const module =
    options.algorithm === 'sha256' && options.simd !== false ? sha256x4Module(shared) : undefined;
  // With SIMD, every slot's records live in one WebAssembly memory (shared with the workers, so nothing is
  // copied), after one scratch area per hashing thread.
  let memory: WasmMemory | undefined;
  const scratchSize = Math.ceil(SHA256X4_SCRATCH / 64) * 64;
  const slotBytes = Math.ceil((blocksPerSlot * stride) / 64) * 64;
  const dataStart = Math.ceil((Math.max(1, threads) * scratchSize) / 4096) * 4096;
  if (module) {
    const pages = Math.ceil((dataStart + slotCount * slotBytes) / 65536);
    memory = new wasmApi!.Memory({ initial: pages, maximum: pages, shared });
  }
  const slots: HashSlot[] = [];
  const raw: { data: ArrayBufferLike; offset: number; out: SharedArrayBuffer }[] = [];
  for (let i = 0; i < slotCount; i++) {
    let data: Buffer;
    let out: Buffer;
    const offset = dataStart + i * slotBytes;
    if (memory) data = Buffer.from(memory.buffer, offset, blocksPerSlot * stride);
    else if (shared) data = Buffer.from(new SharedArrayBuffer(blocksPerSlot * stride));
    else data = Buffer.alloc(blocksPerSlot * stride);
    if (shared) {
      const o = new SharedArrayBuffer(blocksPerSlot * entrySize);
      raw.push({ data: data.buffer, offset, out: o });
      out = Buffer.from(o);
    } else {
      out = Buffer.alloc(blocksPerSlot * entrySize);
    }
    const blocks: Buffer[] = [];
    for (let b = 0; b < blocksPerSlot; b++) {
      if (saltSize > 0) options.salt.copy(data, b * stride + saltAt);
      blocks.push(data.subarray(b * stride + blockAt, b * stride + blockAt + blockSize));
    }
    slots.push({ index: i, data, out, blocks });
  }
  if (!shared) {
    let simd: Sha256x4 | undefined;
    if (module && memory) {
      const instance = new wasmApi!.Instance(module, { env: { memory } });
      simd = { chunks: instance.exports.chunks as Sha256x4['chunks'], memory };
    }
    return {
      slots,
      stride,
      simd: simd !== undefined,
      async run(slot, count) {
        if (simd)
          sha256x4Records(simd, dataStart + slot.index * slotBytes, stride, count, 0, slot.out, entrySize);
        else hashRecords(oneShotHash, options.algorithm, slot.data, stride, count, slot.out, entrySize);
      },
      async close() {},
    };
  }

  const workers: Worker[] = [];
  const idle: Worker[] = [];
  const waiting: (() => void)[] = [];
  const pending = new Map<number, { resolve: () => void; reject: (e: unknown) => void }>();
  let failure: unknown;
  const fail = (error: unknown): void => {
    failure ??= error;
    for (const p of pending.values()) p.reject(failure);
    pending.clear();
  };
  for (let i = 0; i < threads; i++) {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        algorithm: options.algorithm,
        stride,
        entrySize,
        slots: raw,
        wasm: module ? { module, memory, scratch: i * scratchSize } : undefined,
      },
    });
    worker.on('message', (slotIndex: number) => {
      const p = pending.get(slotIndex);
      pending.delete(slotIndex);
      idle.push(worker);
      waiting.shift()?.();
      p?.resolve();
    });
    worker.on('error', (error) =>
      fail(
        new DroverError('VERITY_WORKER_FAILED', `hashing worker failed: ${error.message}`, {
          kind: 'internal',
          cause: error,
          hint: 'Retry with threads: 0 (--threads 0) to hash on one thread, and report the bug.',
        }),
      ),
    );
    workers.push(worker);
    idle.push(worker);
  }
  return {
    slots,
    stride,
    simd: module !== undefined,
    async run(slot, count) {
      if (failure) throw failure;
      while (idle.length === 0) await new Promise<void>((resolve) => waiting.push(resolve));
      const worker = idle.pop()!;
      return new Promise<void>((resolve, reject) => {
        pending.set(slot.index, { resolve, reject });
        worker.postMessage({ slot: slot.index, count });
      });
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
