import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DroverError, isDroverError, type ProgressEvent } from '@drover/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatVerity, readVeritySuperblock, verifyVerity } from '../src/index.js';
import { field, randomFile, scratchDir, veritysetup } from './oracle.js';

let dir: string;
let cleanup: () => Promise<void>;
let data: string;
beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir());
  data = join(dir, 'data.img');
  await randomFile(data, 64 * 4096, 1);
});
afterAll(async () => {
  await cleanup();
});

async function failure(promise: Promise<unknown>): Promise<DroverError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isDroverError(error), String(error)).toBe(true);
  const e = error as DroverError;
  expect(e.hint, e.code).toBeTruthy();
  return e;
}

describe('bad input gets its own error code and a hint', () => {
  it.each([
    ['VERITY_BLOCK_SIZE_INVALID', { dataBlockSize: 3000 }],
    ['VERITY_BLOCK_SIZE_INVALID', { hashBlockSize: 256 }],
    ['VERITY_HASH_UNSUPPORTED', { algorithm: 'sha257' }],
    ['VERITY_HASH_UNSUPPORTED', { algorithm: 'shake256' }],
    ['VERITY_SALT_TOO_LONG', { salt: 'ab'.repeat(257) }],
    ['VERITY_SALT_INVALID', { salt: 'xyz' }],
    ['VERITY_UUID_INVALID', { uuid: 'not-a-uuid' }],
    ['VERITY_HASH_TYPE_INVALID', { hashType: 2 as 0 }],
    ['VERITY_DATA_TOO_SMALL', { dataBlocks: 65 }],
    ['VERITY_DATA_BLOCKS_INVALID', { dataBlocks: 0 }],
    ['VERITY_HASH_OFFSET_INVALID', { hashOffset: 100 }],
    ['VERITY_FEC_ROOTS_INVALID', { fecPath: 'x.fec', fecRoots: 25 }],
    ['VERITY_FEC_BLOCK_SIZE', { fecPath: 'x.fec', hashBlockSize: 1024 }],
  ])('%s for %j', async (code, extra) => {
    const hashPath = join(dir, `bad-${code}.hash`);
    const error = await failure(formatVerity({ dataPath: data, hashPath, ...extra }));
    expect(error.code).toBe(code);
    await expect(stat(hashPath)).rejects.toThrow();
  });

  it('rejects data smaller than one block', async () => {
    await writeFile(join(dir, 'tiny.img'), Buffer.alloc(100));
    const error = await failure(
      formatVerity({ dataPath: join(dir, 'tiny.img'), hashPath: join(dir, 'tiny.hash') }),
    );
    expect(error.code).toBe('VERITY_DATA_TOO_SMALL');
  });

  it('rejects a hash offset inside the data of the same file', async () => {
    const error = await failure(formatVerity({ dataPath: data, hashPath: data, hashOffset: 4096 }));
    expect(error.code).toBe('VERITY_HASH_OFFSET_OVERLAP');
    expect(error.hint).toContain('262144');
  });

  it('names a missing data file', async () => {
    const error = await failure(
      formatVerity({ dataPath: join(dir, 'missing.img'), hashPath: join(dir, 'm.hash') }),
    );
    expect(error.code).toBe('FILE_NOT_FOUND');
  });

  it('rejects foreign and corrupt superblocks', async () => {
    const foreign = await failure(readVeritySuperblock({ hashPath: data }));
    expect(foreign.code).toBe('VERITY_SUPERBLOCK_MISSING');
    const hash = join(dir, 'sb.hash');
    await formatVerity({ dataPath: data, hashPath: hash });
    const bytes = await readFile(hash);
    const cases: [number, number, string][] = [
      [8, 2, 'VERITY_SUPERBLOCK_UNSUPPORTED'],
      [12, 7, 'VERITY_SUPERBLOCK_INVALID'],
      [64, 3, 'VERITY_SUPERBLOCK_INVALID'],
      [81, 1, 'VERITY_SUPERBLOCK_INVALID'],
    ];
    for (const [offset, value, code] of cases) {
      const copy = Buffer.from(bytes);
      copy[offset] = value;
      await writeFile(join(dir, 'sb-bad.hash'), copy);
      expect((await failure(readVeritySuperblock({ hashPath: join(dir, 'sb-bad.hash') }))).code).toBe(code);
    }
    const unknown = Buffer.from(bytes);
    unknown.write('sha257\0', 32, 'latin1');
    await writeFile(join(dir, 'sb-alg.hash'), unknown);
    expect((await failure(readVeritySuperblock({ hashPath: join(dir, 'sb-alg.hash') }))).code).toBe(
      'VERITY_HASH_UNSUPPORTED',
    );
  });

  it('leaves no partial hash file under the final name when aborted', async () => {
    const big = join(dir, 'big.img');
    await randomFile(big, 24 * 1024 * 1024, 1);
    const controller = new AbortController();
    const events: ProgressEvent[] = [];
    const hashPath = join(dir, 'aborted.hash');
    const error = await failure(
      formatVerity(
        { dataPath: big, hashPath, threads: 1 },
        {
          signal: controller.signal,
          onProgress: (e) => {
            events.push(e);
            if (e.type === 'advance') controller.abort();
          },
        },
      ),
    );
    expect(error.code).toBe('ABORTED');
    expect(error.kind).toBe('aborted');
    expect(events.at(-1)).toMatchObject({ type: 'done', ok: false });
    const left = await readdir(dir);
    expect(left.filter((f) => f.includes('aborted'))).toEqual([]);
  });
});

describe('readVeritySuperblock', () => {
  it('reads whatever veritysetup writes, as veritysetup dump shows it', { timeout: 60_000 }, async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          hashType: fc.constantFrom(0, 1),
          algorithm: fc.constantFrom('sha1', 'sha256', 'sha512', 'sha224', 'sha384'),
          dataBlockSize: fc.constantFrom(512, 1024, 4096),
          hashBlockSize: fc.constantFrom(512, 4096, 8192),
          saltSize: fc.integer({ min: 0, max: 256 }),
          hashOffset: fc.integer({ min: 0, max: 16 }).map((n) => n * 512),
        }),
        async (g) => {
          run++;
          const hash = join(dir, `dump${run}.hash`);
          const salt = g.saltSize === 0 ? '-' : Buffer.alloc(g.saltSize, run).toString('hex');
          const args = [
            'format',
            data,
            hash,
            `--format=${g.hashType}`,
            `--hash=${g.algorithm}`,
            `--salt=${salt}`,
          ];
          args.push(
            `--data-block-size=${g.dataBlockSize}`,
            `--hash-block-size=${g.hashBlockSize}`,
            `--hash-offset=${g.hashOffset}`,
          );
          const made = await veritysetup(args);
          expect(made.code, made.stderr).toBe(0);
          const dump = await readVeritySuperblock({ hashPath: hash, hashOffset: g.hashOffset });
          expect(dump).toMatchObject({
            hashType: g.hashType,
            algorithm: g.algorithm,
            dataBlockSize: g.dataBlockSize,
            hashBlockSize: g.hashBlockSize,
            salt,
            uuid: field(made.stdout, 'UUID'),
            dataBlocks: Number(field(made.stdout, 'Data blocks')),
            hashBlocks: Number(field(made.stdout, 'Hash blocks')),
          });
          const verified = await verifyVerity({
            dataPath: data,
            hashPath: hash,
            hashOffset: g.hashOffset,
            rootHash: field(made.stdout, 'Root hash')!,
            threads: 0,
          });
          expect(verified.ok).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });
});
