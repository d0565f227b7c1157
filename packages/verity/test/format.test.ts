import { copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatVerity } from '../src/index.js';
import { field, randomFile, scratchDir, veritysetup } from './oracle.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir());
});
afterAll(async () => {
  await cleanup();
});

const SALT = 'e48da609055204e89ae53b655ca2216dd983cf3cb829f34f63a297d106d53e2d';
const UUID = '8dd4a4d5-7f5e-4e6b-9a1b-2c3d4e5f6a7b';

describe('published cryptsetup vectors (8 MiB of zeros)', () => {
  const vectors: [0 | 1, string, number, string, string][] = [
    [1, 'sha256', 4096, SALT, 'e522df0f97da4febb882ac40f30b37dc0b444bf6df418929463fa25280f09d5c'],
    [1, 'sha256', 1024, SALT, '54d92778750495d1f80832b486ebd007617d746271511bbf0e295e143da2b3df'],
    [1, 'sha256', 512, SALT, '9de18652fe74edfb9b805aaed72ae2aa48f94333f1ba5c452ac33b1c39325174'],
    [0, 'sha256', 4096, SALT, 'cbbf4ebd004ef65e29b935bb635a39cf754d677f3fa10b0126da725bbdf10f7d'],
    [1, 'sha256', 4096, '-', 'ef29c902d87350f1da4bfa536e16cebc162a909bf89abe448b81ec500d4fb9bf'],
    [1, 'sha1', 1024, SALT, 'd0e9163ca8844aaa2e88fe5265a8c5d9ee494a99'],
    [1, 'sha1', 1024, 'dadada', '73509e8e868be6b8ac939817a98a3d35121413b2'],
  ];
  it.each(vectors)('type %i %s %i salt %s', async (hashType, algorithm, block, salt, root) => {
    const data = join(dir, 'zeros.img');
    await writeFile(data, Buffer.alloc(8 * 1024 * 1024));
    const result = await formatVerity({
      dataPath: data,
      hashPath: join(dir, `vec-${hashType}-${algorithm}-${block}-${salt.slice(0, 6)}.hash`),
      hashType,
      algorithm,
      dataBlockSize: block,
      hashBlockSize: block,
      salt,
    });
    expect(result.rootHash).toBe(root);
  });
});

describe('format is byte-identical to veritysetup', () => {
  const blockSize = fc.constantFrom(512, 1024, 2048, 4096, 8192, 16384, 65536);
  const geometry = fc.record({
    hashType: fc.constantFrom<0 | 1>(0, 1),
    algorithm: fc.constantFrom('sha256', 'sha1', 'sha512', 'sha256', 'sha384'),
    dataBlockSize: blockSize,
    hashBlockSize: blockSize,
    blocks: fc.integer({ min: 1, max: 600 }),
    tail: fc.integer({ min: 0, max: 511 }),
    salt: fc.oneof(
      fc.constant('-'),
      fc.uint8Array({ minLength: 1, maxLength: 256 }).map((b) => Buffer.from(b).toString('hex')),
    ),
    fewerBlocks: fc.integer({ min: 0, max: 5 }),
    hashOffsetUnits: fc.integer({ min: 0, max: 9 }),
    superblock: fc.boolean(),
    shared: fc.integer({ min: 0, max: 4 }),
  });

  it('for randomized geometries', { timeout: 180_000 }, async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(geometry, async (g) => {
        run++;
        // Keep each data file at most ~2 MiB.
        const blocks = Math.max(1, Math.min(g.blocks, Math.floor((2 * 1024 * 1024) / g.dataBlockSize)));
        const dataSize = blocks * g.dataBlockSize + g.tail;
        const dataBlocks = g.fewerBlocks > 0 && blocks > g.fewerBlocks ? blocks - g.fewerBlocks : undefined;
        // veritysetup cannot write a superblock into a shared file with no tree to extend it (one data block).
        const shared = g.shared === 0 && (dataBlocks ?? blocks) > 1;
        const unit = g.superblock ? 512 : g.hashBlockSize;
        let hashOffset = g.hashOffsetUnits * unit;
        if (shared) hashOffset = Math.ceil(dataSize / unit) * unit + hashOffset;
        const base = join(dir, `p${run}`);
        await randomFile(`${base}.data`, dataSize, run);
        const ours = shared ? `${base}.ours` : `${base}.ours.hash`;
        const theirs = shared ? `${base}.theirs` : `${base}.theirs.hash`;
        let oursData = `${base}.data`;
        let theirsData = `${base}.data`;
        if (shared) {
          await copyFile(`${base}.data`, ours);
          await copyFile(`${base}.data`, theirs);
          oursData = ours;
          theirsData = theirs;
        }
        const args = [
          'format',
          theirsData,
          theirs,
          `--format=${g.hashType}`,
          `--hash=${g.algorithm}`,
          `--data-block-size=${g.dataBlockSize}`,
          `--hash-block-size=${g.hashBlockSize}`,
          `--salt=${g.salt}`,
          `--hash-offset=${hashOffset}`,
        ];
        if (g.superblock) args.push(`--uuid=${UUID}`);
        else args.push('--no-superblock');
        if (dataBlocks !== undefined) args.push(`--data-blocks=${dataBlocks}`);
        const oracle = await veritysetup(args);
        // veritysetup cannot write a superblock at a non-zero offset when there is no tree (one data block).
        fc.pre(oracle.code === 0 || (dataBlocks ?? blocks) > 1);
        expect(oracle.code, oracle.stderr).toBe(0);
        const result = await formatVerity({
          dataPath: oursData,
          hashPath: ours,
          hashType: g.hashType,
          algorithm: g.algorithm,
          dataBlockSize: g.dataBlockSize,
          hashBlockSize: g.hashBlockSize,
          salt: g.salt,
          uuid: g.superblock ? UUID : undefined,
          dataBlocks,
          hashOffset,
          superblock: g.superblock,
          threads: run % 4 === 0 ? 2 : 0,
        });
        expect(result.rootHash).toBe(field(oracle.stdout, 'Root hash'));
        expect(result.hashBlocks).toBe(Number(field(oracle.stdout, 'Hash blocks')));
        const [a, b] = await Promise.all([readFile(ours), readFile(theirs)]);
        expect(a.length).toBe(b.length);
        expect(a.equals(b)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('multi-threaded hashing matches on a larger file with several levels', async () => {
    const data = join(dir, 'big.data');
    await randomFile(data, 12 * 1024 * 1024 + 4096 * 3, 1);
    const args = [
      '--hash=sha256',
      '--data-block-size=4096',
      '--hash-block-size=512',
      `--salt=${SALT}`,
      `--uuid=${UUID}`,
    ];
    const oracle = await veritysetup(['format', data, join(dir, 'big.theirs'), ...args]);
    const result = await formatVerity({
      dataPath: data,
      hashPath: join(dir, 'big.ours'),
      hashBlockSize: 512,
      salt: SALT,
      uuid: UUID,
      threads: 2,
    });
    expect(result.rootHash).toBe(field(oracle.stdout, 'Root hash'));
    expect((await readFile(join(dir, 'big.ours'))).equals(await readFile(join(dir, 'big.theirs')))).toBe(
      true,
    );
  });

  it('picks a random 32-byte salt and uuid by default, like veritysetup', async () => {
    const data = join(dir, 'defaults.data');
    await randomFile(data, 40960, 1);
    const a = await formatVerity({ dataPath: data, hashPath: join(dir, 'd1.hash') });
    const b = await formatVerity({ dataPath: data, hashPath: join(dir, 'd2.hash') });
    expect(a.salt).toMatch(/^[0-9a-f]{64}$/);
    expect(a.salt).not.toBe(b.salt);
    expect(a.uuid).not.toBe(b.uuid);
    const dump = await veritysetup(['dump', join(dir, 'd1.hash')]);
    expect(field(dump.stdout, 'Salt')).toBe(a.salt);
    expect(field(dump.stdout, 'UUID')).toBe(a.uuid);
    expect(a.record).toEqual({
      hashType: 1,
      algorithm: 'sha256',
      dataBlockSize: 4096,
      hashBlockSize: 4096,
      dataBlocks: 10,
      salt: a.salt,
      rootHash: a.rootHash,
    });
    const verify = await veritysetup(['verify', data, join(dir, 'd1.hash'), a.rootHash]);
    expect(verify.code).toBe(0);
    expect((await stat(join(dir, 'd1.hash'))).size).toBe(a.hashDeviceSize);
  });
});
