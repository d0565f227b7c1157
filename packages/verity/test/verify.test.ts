import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDroverError } from '@drover/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatVerity, readVeritySuperblock, verifyVerity } from '../src/index.js';
import { field, randomFile, scratchDir, veritysetup } from './oracle.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir());
});
afterAll(async () => {
  await cleanup();
});

async function flipByte(path: string, offset: number): Promise<void> {
  const f = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await f.read(b, 0, 1, offset);
    b[0] = b[0]! ^ 0x5a;
    await f.write(b, 0, 1, offset);
  } finally {
    await f.close();
  }
}

async function expectError(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isDroverError(error, code), String(error)).toBe(true);
}

describe('verifyVerity', () => {
  it('accepts an intact image and agrees with veritysetup', async () => {
    const data = join(dir, 'ok.data');
    await randomFile(data, 300 * 4096, 1);
    const f = await formatVerity({ dataPath: data, hashPath: join(dir, 'ok.hash'), hashBlockSize: 1024 });
    const result = await verifyVerity({
      dataPath: data,
      hashPath: join(dir, 'ok.hash'),
      rootHash: f.rootHash,
    });
    expect(result.ok).toBe(true);
    expect(result.issues).toEqual([]);
    expect(result.checked).toEqual({ dataBlocks: 300, hashBlocks: f.hashBlocks });
    expect((await veritysetup(['verify', data, join(dir, 'ok.hash'), f.rootHash])).code).toBe(0);
  });

  it('reports every bad data block, bad hash block, padding and the root hash distinctly', async () => {
    const data = join(dir, 'bad.data');
    const hash = join(dir, 'bad.hash');
    await randomFile(data, 1000 * 4096, 1);
    const f = await formatVerity({ dataPath: data, hashPath: hash, salt: 'abcd', uuid: undefined });
    const dump = await readVeritySuperblock({ hashPath: hash });
    expect(dump.hashStartBlock).toBe(1);
    // Levels: top (1 block) at block 1, leaves (8 blocks) at 2..9; 1000 entries leave the last leaf block part-used.
    await flipByte(data, 5 * 4096 + 17);
    await flipByte(data, 999 * 4096);
    await flipByte(hash, 3 * 4096 + 40 * 32); // leaf block 1, entry 40 -> data block 168 looks bad too
    await flipByte(hash, 9 * 4096 + 4000); // unused tail of the last leaf block
    const result = await verifyVerity({ dataPath: data, hashPath: hash, rootHash: f.rootHash });
    expect(result.ok).toBe(false);
    expect(result.issues).toEqual([
      { kind: 'data-block', index: 5, offset: 5 * 4096 },
      { kind: 'data-block', index: 168, offset: 168 * 4096 },
      { kind: 'data-block', index: 999, offset: 999 * 4096 },
      { kind: 'hash-block', level: 0, index: 1, offset: 3 * 4096 },
      { kind: 'hash-block', level: 0, index: 7, offset: 9 * 4096 },
      { kind: 'padding', level: 0, index: 7, offset: 9 * 4096 + 4000 },
    ]);
    expect(result.counts).toEqual({ superblock: 0, rootHash: 0, dataBlocks: 3, hashBlocks: 2, padding: 1 });
    const oracle = await veritysetup(['verify', data, hash, f.rootHash]);
    expect(oracle.code).not.toBe(0);
  });

  it('reports a wrong root hash and caps the issue list', async () => {
    const data = join(dir, 'root.data');
    await randomFile(data, 64 * 4096, 1);
    const f = await formatVerity({ dataPath: data, hashPath: join(dir, 'root.hash') });
    const wrong = `${f.rootHash.slice(0, 63)}${f.rootHash.endsWith('0') ? '1' : '0'}`;
    const result = await verifyVerity({ dataPath: data, hashPath: join(dir, 'root.hash'), rootHash: wrong });
    expect(result.issues).toEqual([{ kind: 'root-hash', expected: wrong, actual: f.rootHash }]);
    const oracle = await veritysetup(['verify', data, join(dir, 'root.hash'), wrong]);
    expect(oracle.code).toBe(1);

    const zero = join(dir, 'zeroed.data');
    await writeFile(zero, Buffer.alloc(64 * 4096));
    const many = await verifyVerity({
      dataPath: zero,
      hashPath: join(dir, 'root.hash'),
      rootHash: f.rootHash,
      maxIssues: 10,
    });
    expect(many.counts.dataBlocks).toBe(64);
    expect(many.issues).toHaveLength(10);
    expect(many.truncated).toBe(true);
  });

  it('verifies a single-block image against the root hash alone', async () => {
    const data = join(dir, 'one.data');
    await randomFile(data, 4096, 1);
    const f = await formatVerity({
      dataPath: data,
      hashPath: join(dir, 'one.hash'),
      superblock: false,
      salt: '-',
    });
    const ok = await verifyVerity({
      dataPath: data,
      hashPath: join(dir, 'one.hash'),
      rootHash: f.rootHash,
      superblock: false,
      dataBlocks: 1,
    });
    expect(ok.ok).toBe(true);
    await flipByte(data, 100);
    const bad = await verifyVerity({
      dataPath: data,
      hashPath: join(dir, 'one.hash'),
      rootHash: f.rootHash,
      superblock: false,
      dataBlocks: 1,
    });
    expect(bad.counts.rootHash).toBe(1);
  });

  it('verifies a tree without superblock given the parameters, and reports a damaged superblock', async () => {
    const data = join(dir, 'nosb.data');
    const hash = join(dir, 'nosb.hash');
    await randomFile(data, 200 * 4096, 1);
    const common = {
      algorithm: 'sha1',
      hashType: 0 as const,
      dataBlockSize: 4096,
      hashBlockSize: 4096,
      salt: '0102',
    };
    const f = await formatVerity({ dataPath: data, hashPath: hash, superblock: false, ...common });
    const result = await verifyVerity({
      dataPath: data,
      hashPath: hash,
      rootHash: f.rootHash,
      superblock: false,
      dataBlocks: 200,
      ...common,
    });
    expect(result.ok).toBe(true);

    const withSb = join(dir, 'sb.hash');
    const g = await formatVerity({ dataPath: data, hashPath: withSb, ...common });
    await flipByte(withSb, 0);
    await expectError(
      verifyVerity({ dataPath: data, hashPath: withSb, rootHash: g.rootHash }),
      'VERITY_SUPERBLOCK_MISSING',
    );
    const reported = await verifyVerity({
      dataPath: data,
      hashPath: withSb,
      rootHash: g.rootHash,
      dataBlocks: 200,
      ...common,
    });
    expect(reported.issues).toEqual([
      { kind: 'superblock', field: 'signature', message: expect.stringContaining('no verity superblock') },
    ]);
  });

  it('rejects a root hash of the wrong length and a hash file that is too small', async () => {
    const data = join(dir, 'len.data');
    const hash = join(dir, 'len.hash');
    await randomFile(data, 20 * 4096, 1);
    const f = await formatVerity({ dataPath: data, hashPath: hash });
    await expectError(
      verifyVerity({ dataPath: data, hashPath: hash, rootHash: 'abcd' }),
      'VERITY_ROOT_HASH_INVALID',
    );
    const bytes = await readFile(hash);
    await writeFile(hash, bytes.subarray(0, 4096));
    await expectError(
      verifyVerity({ dataPath: data, hashPath: hash, rootHash: f.rootHash }),
      'VERITY_HASH_TOO_SMALL',
    );
  });

  it('finds exactly the corrupted blocks for random corruptions', { timeout: 60_000 }, async () => {
    const data = join(dir, 'prop.data');
    const hash = join(dir, 'prop.hash');
    const blocks = 700;
    await randomFile(data, blocks * 1024, 1);
    const pristine = await readFile(data);
    const f = await formatVerity({
      dataPath: data,
      hashPath: hash,
      dataBlockSize: 1024,
      hashBlockSize: 1024,
      salt: '-',
    });
    expect(field((await veritysetup(['dump', hash])).stdout, 'Data blocks')).toBe(String(blocks));
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 0, max: blocks * 1024 - 1 }), { minLength: 1, maxLength: 8 }),
        async (offsets) => {
          await writeFile(data, pristine);
          for (const o of offsets) await flipByte(data, o);
          const result = await verifyVerity({
            dataPath: data,
            hashPath: hash,
            rootHash: f.rootHash,
            threads: 0,
          });
          const expected = [...new Set(offsets.map((o) => Math.floor(o / 1024)))].sort((a, b) => a - b);
          expect(result.issues.map((i) => (i.kind === 'data-block' ? i.index : -1))).toEqual(expected);
        },
      ),
      { numRuns: 25 },
    );
  });
});
