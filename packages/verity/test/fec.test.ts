import { open, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatVerity, repairVerity, verifyVerity } from '../src/index.js';
import { ErasureDecoder, encodeRow, encoderTables, interleaveParity } from '../src/rs.js';
import { field, randomFile, scratchDir, veritysetup } from './oracle.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir());
});
afterAll(async () => {
  await cleanup();
});

const UUID = '0f1e2d3c-4b5a-4968-8776-655443322110';

async function corrupt(path: string, offset: number, length: number): Promise<void> {
  const f = await open(path, 'r+');
  try {
    const b = Buffer.alloc(length);
    await f.read(b, 0, length, offset);
    for (let i = 0; i < length; i++) b[i] = b[i]! ^ (0x11 + i);
    await f.write(b, 0, length, offset);
  } finally {
    await f.close();
  }
}

describe('Reed-Solomon', () => {
  it('recovers up to `roots` erasures of a codeword', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 24 }),
        fc.uint8Array({ minLength: 253, maxLength: 253 }),
        fc.integer({ min: 0, max: 1000 }),
        (roots, bytes, seed) => {
          const rsn = 255 - roots;
          const message = bytes.subarray(0, rsn);
          const planes = new Uint8Array(roots);
          let shift = 0;
          const tables = encoderTables(roots);
          for (let j = 0; j < rsn; j++)
            shift = encodeRow(message.subarray(j, j + 1), planes, 1, roots, shift, tables);
          const parity = new Uint8Array(roots);
          interleaveParity(planes, 1, roots, shift, parity);
          const codeword = new Uint8Array(255);
          codeword.set(message, 0);
          codeword.set(parity, rsn);
          const count = 1 + (seed % roots);
          const positions = [
            ...new Set(Array.from({ length: count }, (_, i) => (seed * 7 + i * 31) % 255)),
          ].sort((a, b) => a - b);
          const damaged = Uint8Array.from(codeword);
          for (const p of positions) damaged[p] = damaged[p]! ^ 0xa5;
          const values = new Uint8Array(positions.length);
          new ErasureDecoder(roots, positions).solve(damaged, values);
          expect([...values]).toEqual(positions.map((p) => codeword[p]));
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('FEC is byte-identical to veritysetup', () => {
  it(
    'for random sizes, roots, block sizes, separate or shared with the hash file',
    { timeout: 120_000 },
    async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            roots: fc.integer({ min: 2, max: 24 }),
            blockSize: fc.constantFrom(512, 1024, 4096),
            blocks: fc.integer({ min: 2, max: 700 }),
            shared: fc.boolean(),
            gap: fc.integer({ min: 0, max: 3 }),
            threads: fc.constantFrom(0, 2),
          }),
          async (g) => {
            run++;
            const base = join(dir, `f${run}`);
            await randomFile(`${base}.data`, g.blocks * g.blockSize, run);
            const theirsHash = `${base}.theirs.hash`;
            const oursHash = `${base}.ours.hash`;
            const theirsFec = g.shared ? theirsHash : `${base}.theirs.fec`;
            const oursFec = g.shared ? oursHash : `${base}.ours.fec`;
            // A shared file must already reach the FEC offset, or veritysetup cannot read the covered area.
            const fecOffset = g.shared
              ? (Math.ceil((g.blocks * 40) / g.blockSize) + 8 + g.gap) * g.blockSize
              : 0;
            if (g.shared) {
              await truncate(theirsHash, 0).catch(() => writeFile(theirsHash, ''));
              await writeFile(theirsHash, Buffer.alloc(fecOffset));
              await writeFile(oursHash, Buffer.alloc(fecOffset));
            }
            const args = [
              'format',
              `${base}.data`,
              theirsHash,
              `--data-block-size=${g.blockSize}`,
              `--hash-block-size=${g.blockSize}`,
              '--salt=00ff',
              `--uuid=${UUID}`,
              `--fec-device=${theirsFec}`,
              `--fec-roots=${g.roots}`,
              `--fec-offset=${fecOffset}`,
            ];
            const oracle = await veritysetup(args);
            expect(oracle.code, oracle.stderr).toBe(0);
            const result = await formatVerity({
              dataPath: `${base}.data`,
              hashPath: oursHash,
              dataBlockSize: g.blockSize,
              hashBlockSize: g.blockSize,
              salt: '00ff',
              uuid: UUID,
              fecPath: oursFec,
              fecRoots: g.roots,
              fecOffset,
              threads: g.threads,
            });
            expect(result.rootHash).toBe(field(oracle.stdout, 'Root hash'));
            expect(result.fec!.rounds * g.roots).toBe(Number(field(oracle.stdout, 'FEC blocks')));
            expect((await readFile(oursHash)).equals(await readFile(theirsHash))).toBe(true);
            if (!g.shared) expect((await readFile(oursFec)).equals(await readFile(theirsFec))).toBe(true);
          },
        ),
        { numRuns: 20 },
      );
    },
  );
});

describe('FEC-aware verify and repair', () => {
  it('repairs corrupted data and hash blocks in place, with a dry run first', async () => {
    const data = join(dir, 'r.data');
    const hash = join(dir, 'r.hash');
    const fec = join(dir, 'r.fec');
    await randomFile(data, 2000 * 4096, 2);
    const pristine = await readFile(data);
    const f = await formatVerity({ dataPath: data, hashPath: hash, fecPath: fec, fecRoots: 4 });
    const pristineHash = await readFile(hash);
    await corrupt(data, 10 * 4096 + 5, 300);
    await corrupt(data, 1500 * 4096, 4096);
    await corrupt(hash, 3 * 4096 + 64, 8); // a leaf hash block
    const common = { dataPath: data, hashPath: hash, rootHash: f.rootHash, fecPath: fec, fecRoots: 4 };

    const verified = await verifyVerity(common);
    expect(verified.ok).toBe(false);
    expect(verified.fec!.uncorrectable).toEqual([]);
    expect(verified.fec!.correctable).toEqual([
      { area: 'data', index: 10, offset: 10 * 4096 },
      { area: 'data', index: 1500, offset: 1500 * 4096 },
      { area: 'hash', index: 3, offset: 3 * 4096 },
    ]);

    const dry = await repairVerity({ ...common, dryRun: true });
    expect(dry.repaired).toHaveLength(3);
    expect(dry.after).toBeUndefined();
    expect((await readFile(data)).equals(pristine)).toBe(false);

    const repaired = await repairVerity(common);
    expect(repaired.ok).toBe(true);
    expect(repaired.after?.ok).toBe(true);
    expect((await readFile(data)).equals(pristine)).toBe(true);
    expect((await readFile(hash)).equals(pristineHash)).toBe(true);
    expect((await veritysetup(['verify', data, hash, f.rootHash])).code).toBe(0);
  });

  it('reports what it cannot fix when a group has more bad blocks than roots', async () => {
    const data = join(dir, 'u.data');
    const hash = join(dir, 'u.hash');
    const fec = join(dir, 'u.fec');
    await randomFile(data, 600 * 4096, 2);
    const f = await formatVerity({ dataPath: data, hashPath: hash, fecPath: fec, fecRoots: 2 });
    const rounds = f.fec!.rounds;
    // Blocks 1, 1 + rounds, 1 + 2 * rounds share an interleaving group: three erasures, two roots.
    for (const b of [1, 1 + rounds, 1 + 2 * rounds]) await corrupt(data, b * 4096, 16);
    await corrupt(data, 2 * 4096, 16);
    const result = await repairVerity({ dataPath: data, hashPath: hash, rootHash: f.rootHash, fecPath: fec });
    expect(result.ok).toBe(false);
    expect(result.repaired).toEqual([{ area: 'data', index: 2, offset: 2 * 4096 }]);
    expect(result.unrepairable.map((b) => b.index)).toEqual([1, 1 + rounds, 1 + 2 * rounds]);
    expect(result.after?.counts.dataBlocks).toBe(3);
  });
});
