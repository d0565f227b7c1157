import { hash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBlockHasher, hashBlock, sha256x4Module } from '../src/hasher.js';
import { emitSha256x4Module, SHA256X4_SCRATCH, sha256x4Records } from '../src/sha256x4.js';
import { wasmApi } from '../src/wasm.js';

function instantiate(pages: number) {
  const module = sha256x4Module(false);
  if (!module || !wasmApi) throw new Error('WebAssembly SIMD is required on Node >= 20.19');
  const memory = new wasmApi.Memory({ initial: pages, maximum: pages, shared: false });
  const instance = new wasmApi.Instance(module, { env: { memory } });
  return { chunks: instance.exports.chunks as (...a: number[]) => void, memory };
}

describe('multi-buffer SHA-256 (WebAssembly SIMD)', () => {
  it('emits a module the runtime accepts, shared and not', () => {
    expect(wasmApi?.validate(emitSha256x4Module({ shared: false, maxPages: 65536 }))).toBe(true);
    expect(wasmApi?.validate(emitSha256x4Module({ shared: true, maxPages: 65536 }))).toBe(true);
  });

  it('equals node:crypto for random record lengths, counts and contents', () => {
    const wasm = instantiate(40);
    const mem = new Uint8Array(wasm.memory.buffer);
    const base = Math.ceil(SHA256X4_SCRATCH / 64) * 64;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 66_000 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (stride, count, seed) => {
          const data = Buffer.alloc(stride * count);
          for (let i = 0; i < data.length; i++) data[i] = (Math.imul(i + 1, 2654435761) ^ seed) >>> 13;
          mem.set(data, base);
          const out = new Uint8Array(count * 40).fill(0xee);
          sha256x4Records(wasm, base, stride, count, 0, out, 40);
          for (let i = 0; i < count; i++) {
            const expected = hash('sha256', data.subarray(i * stride, (i + 1) * stride), 'buffer');
            expect(Buffer.from(out.subarray(i * 40, i * 40 + 32)).toString('hex')).toBe(
              expected.toString('hex'),
            );
            // Bytes between digests are left alone.
            expect([...out.subarray(i * 40 + 32, i * 40 + 40)].every((b) => b === 0xee)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  const spec = fc.record({
    hashType: fc.constantFrom<0 | 1>(0, 1),
    blockSize: fc.constantFrom(512, 1024, 4096, 8192, 65536),
    salt: fc.uint8Array({ minLength: 0, maxLength: 256 }).map((b) => Buffer.from(b)),
    count: fc.integer({ min: 1, max: 11 }),
    threads: fc.constantFrom(0, 1, 2),
  });

  it('block hasher: SIMD digests equal node:crypto under both salt rules, on and off worker threads', async () => {
    await fc.assert(
      fc.asyncProperty(spec, async ({ hashType, blockSize, salt, count, threads }) => {
        const hasher = createBlockHasher({
          algorithm: 'sha256',
          hashType,
          salt,
          blockSize,
          entrySize: 32,
          blocksPerSlot: 8,
          threads,
        });
        try {
          expect(hasher.simd).toBe(true);
          const slot = hasher.slots[1]!;
          const blocks = Array.from({ length: Math.min(count, 8) }, (_, i) =>
            Buffer.alloc(blockSize, (i * 37 + salt.length) & 0xff).fill(i, 0, i + 1),
          );
          blocks.forEach((b, i) => {
            b.copy(slot.blocks[i]!);
          });
          await hasher.run(slot, blocks.length);
          blocks.forEach((b, i) => {
            const expected = hashBlock({ algorithm: 'sha256', hashType, salt }, b);
            expect(slot.out.subarray(i * 32, i * 32 + 32).equals(expected)).toBe(true);
          });
        } finally {
          await hasher.close();
        }
      }),
      { numRuns: 30 },
    );
  });

  it('falls back to node:crypto for other algorithms and when SIMD is turned off', async () => {
    for (const [algorithm, simd] of [
      ['sha1', true],
      ['sha512', true],
      ['sha256', false],
    ] as const) {
      const hasher = createBlockHasher({
        algorithm,
        hashType: 1,
        salt: Buffer.from('abc'),
        blockSize: 512,
        entrySize: 64,
        blocksPerSlot: 4,
        threads: 0,
        simd,
      });
      expect(hasher.simd).toBe(false);
      const slot = hasher.slots[0]!;
      slot.blocks[0]?.fill(7);
      await hasher.run(slot, 1);
      const expected = hash(algorithm, Buffer.concat([Buffer.from('abc'), Buffer.alloc(512, 7)]), 'buffer');
      expect(slot.out.subarray(0, expected.length).equals(expected)).toBe(true);
      await hasher.close();
    }
  });
});
