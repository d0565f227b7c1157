/**
 * Micro-benchmark behind the WebAssembly SIMD SHA-256 in @drover/verity: salted 4 KiB blocks per second on one core,
 * the generated 4-lane kernel against one `crypto.hash` call per block and against `openssl speed` (what
 * veritysetup's libcrypto does per block). Rounds alternate so that load from other processes hits all three alike;
 * throughput is per CPU second (process.cpuUsage / openssl's user time).
 *
 *   pnpm --filter @drover/bench exec tsx src/verity-sha256x4.ts          # SHA256X4_ROUNDS=5 by default
 */
import { execFileSync } from 'node:child_process';
import { hash, randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import {
  emitSha256x4Module,
  SHA256X4_SCRATCH,
  sha256x4Records,
} from '../../../packages/verity/src/sha256x4.js';

type Wasm = { validate(b: Uint8Array): boolean; Module: new (b: Uint8Array) => object } & {
  Instance: new (m: object, i: object) => { exports: Record<string, unknown> };
  Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
};
const wasmApi = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

const rounds = Number(process.env.SHA256X4_ROUNDS ?? 5);
const STRIDE = 32 + 4096; // 32-byte salt, then the block (hash type 1)
const COUNT = 512; // one 2 MiB slot, as the hasher uses
const memory = new wasmApi.Memory({ initial: 64, maximum: 64 });
const instance = new wasmApi.Instance(
  new wasmApi.Module(emitSha256x4Module({ shared: false, maxPages: 65536 })),
  {
    env: { memory },
  },
);
const simd = { chunks: instance.exports.chunks as (...a: number[]) => void, memory };
const base = Math.ceil(SHA256X4_SCRATCH / 4096) * 4096;
const records = randomBytes(STRIDE * COUNT);
new Uint8Array(memory.buffer).set(records, base);
const out = new Uint8Array(COUNT * 32);

const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
/** MiB of block data per CPU second while `step` runs for about a second. */
function measure(step: () => void): number {
  const start = cpu();
  let blocks = 0;
  while (cpu() - start < 1) {
    step();
    blocks += COUNT;
  }
  return (blocks * 4096) / (cpu() - start) / 1048576;
}
function openssl(): number {
  const text = execFileSync('openssl', ['speed', '-seconds', '1', '-bytes', '4128', '-evp', 'sha256'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const kbs = Number(text.trim().split('\n').at(-1).split(/\s+/)[1]!.replace('k', ''));
  return (kbs * 1000 * (4096 / 4128)) / 1048576;
}

const runSimd = (): void => sha256x4Records(simd, base, STRIDE, COUNT, 0, out, 32);
const runCrypto = (): void => {
  for (let i = 0; i < COUNT; i++) hash('sha256', records.subarray(i * STRIDE, (i + 1) * STRIDE), 'buffer');
};
// Warm up: let V8 tier the kernel up to its optimizing compiler.
measure(runSimd);
measure(runCrypto);
const rows: [number, number, number][] = [];
for (let r = 0; r < rounds; r++) rows.push([measure(runSimd), measure(runCrypto), openssl()]);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const [s, c, o] = [0, 1, 2].map((k) => median(rows.map((row) => row[k]!))) as [number, number, number];
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}, ${rounds} rounds, medians, MiB/s per CPU second`,
);
console.log('| hasher | MiB/s | vs openssl |');
console.log('|---|---|---|');
console.log(`| WebAssembly SIMD, 4 blocks at once | ${s.toFixed(0)} | ${(s / o).toFixed(2)}x |`);
console.log(`| crypto.hash per block | ${c.toFixed(0)} | ${(c / o).toFixed(2)}x |`);
console.log(`| openssl speed -evp sha256 (4128 B) | ${o.toFixed(0)} | 1.00x |`);
