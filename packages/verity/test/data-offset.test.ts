import { copyFile, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDroverError } from '@drover/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatVerity, repairVerity, verifyVerity } from '../src/index.js';
import { field, randomFile, scratchDir, veritysetup } from './oracle.js';

let dir: string;
let cleanup: () => Promise<void>;
const SALT = '5a17';
const UUID = '8dd4a4d5-7f5e-4e6b-9a1b-2c3d4e5f6a7b';
// A "disk image": a prefix, the partition holding the data, and a suffix.
const PREFIX = 1024 * 1024 + 3 * 512;
const BLOCKS = 700;
let disk: string;
let part: string;
let rootHash: string;

beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir());
  disk = join(dir, 'disk.img');
  part = join(dir, 'part.img');
  await randomFile(part, BLOCKS * 4096, 1);
  const partition = await readFile(part);
  await writeFile(disk, Buffer.concat([Buffer.alloc(PREFIX, 0xa5), partition, Buffer.alloc(12345, 0x5a)]));
  const oracle = await veritysetup([
    'format',
    part,
    join(dir, 'vs.hash'),
    `--salt=${SALT}`,
    `--uuid=${UUID}`,
  ]);
  expect(oracle.code, oracle.stderr).toBe(0);
  rootHash = field(oracle.stdout, 'Root hash')!;
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

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('dataOffset: data inside a disk image', () => {
  it.each([
    0, 2,
  ])('format hashes the partition in place, byte-identical to veritysetup on a copy (threads %i)', async (threads) => {
    const hashPath = join(dir, `ours-${threads}.hash`);
    const result = await formatVerity({
      dataPath: disk,
      dataOffset: PREFIX,
      hashPath,
      salt: SALT,
      uuid: UUID,
      threads,
    });
    // Without --data-blocks the tree runs to the end of the file, so the suffix is covered too.
    expect(result.dataBlocks).toBe(BLOCKS + Math.floor(12345 / 4096));
    expect(result.rootHash).not.toBe(rootHash);
    const limited = await formatVerity({
      dataPath: disk,
      dataOffset: PREFIX,
      hashPath,
      salt: SALT,
      uuid: UUID,
      dataBlocks: BLOCKS,
      threads,
    });
    expect(limited.rootHash).toBe(rootHash);
    expect((await readFile(hashPath)).equals(await readFile(join(dir, 'vs.hash')))).toBe(true);
  });

  it('verify checks the partition in place and reports bad blocks at their offset in the disk image', async () => {
    const copy = join(dir, 'disk-bad.img');
    await copyFile(disk, copy);
    const hashPath = join(dir, 'vs.hash');
    const ok = await verifyVerity({ dataPath: copy, dataOffset: PREFIX, hashPath, rootHash, threads: 2 });
    expect(ok.ok).toBe(true);
    expect(ok.dataOffset).toBe(PREFIX);
    // Outside the partition nothing is checked.
    await flipByte(copy, 100);
    await flipByte(copy, PREFIX + BLOCKS * 4096 + 7);
    expect((await verifyVerity({ dataPath: copy, dataOffset: PREFIX, hashPath, rootHash })).ok).toBe(true);
    // Without the offset the tree does not match at all.
    const wrong = await verifyVerity({ dataPath: copy, hashPath, rootHash });
    expect(wrong.ok).toBe(false);
    await flipByte(copy, PREFIX + 5 * 4096 + 3);
    await flipByte(copy, PREFIX + 699 * 4096);
    const bad = await verifyVerity({ dataPath: copy, dataOffset: PREFIX, hashPath, rootHash, threads: 0 });
    expect(bad.ok).toBe(false);
    expect(bad.issues).toEqual([
      { kind: 'data-block', index: 5, offset: PREFIX + 5 * 4096 },
      { kind: 'data-block', index: 699, offset: PREFIX + 699 * 4096 },
    ]);
  });

  it('puts the tree after the partition in the same disk image, refusing an overlapping hash offset', async () => {
    const copy = join(dir, 'disk-shared.img');
    await copyFile(disk, copy);
    const overlap = await errorOf(
      formatVerity({
        dataPath: copy,
        dataOffset: PREFIX,
        dataBlocks: BLOCKS,
        hashPath: copy,
        hashOffset: PREFIX + 4096,
      }),
    );
    expect(isDroverError(overlap, 'VERITY_HASH_OFFSET_OVERLAP'), String(overlap)).toBe(true);
    // Past the end of the image, as veritysetup leaves bytes between the superblock and the tree untouched.
    const hashOffset = Math.ceil((PREFIX + BLOCKS * 4096 + 12345) / 4096) * 4096 + 4096;
    const f = await formatVerity({
      dataPath: copy,
      dataOffset: PREFIX,
      dataBlocks: BLOCKS,
      hashPath: copy,
      hashOffset,
      salt: SALT,
      uuid: UUID,
    });
    expect(f.rootHash).toBe(rootHash);
    const disk2 = await readFile(copy);
    const vs = await readFile(join(dir, 'vs.hash'));
    expect(disk2.subarray(hashOffset, hashOffset + vs.length).equals(vs)).toBe(true);
    expect(
      disk2
        .subarray(0, PREFIX + BLOCKS * 4096)
        .equals((await readFile(disk)).subarray(0, PREFIX + BLOCKS * 4096)),
    ).toBe(true);
    const v = await verifyVerity({
      dataPath: copy,
      dataOffset: PREFIX,
      hashPath: copy,
      hashOffset,
      rootHash,
    });
    expect(v.ok).toBe(true);
  });

  it('rejects a bad offset, an offset past the data, and FEC or repair with an offset', async () => {
    const hashPath = join(dir, 'vs.hash');
    const cases: [() => Promise<unknown>, string][] = [
      [
        () => formatVerity({ dataPath: disk, dataOffset: -1, hashPath: join(dir, 'x.hash') }),
        'VERITY_DATA_OFFSET_INVALID',
      ],
      [
        () => verifyVerity({ dataPath: disk, dataOffset: 1.5, hashPath, rootHash }),
        'VERITY_DATA_OFFSET_INVALID',
      ],
      [
        () => formatVerity({ dataPath: disk, dataOffset: 2 ** 40, hashPath: join(dir, 'x.hash') }),
        'VERITY_DATA_TOO_SMALL',
      ],
      [
        () => verifyVerity({ dataPath: disk, dataOffset: PREFIX + 4 * 4096, hashPath, rootHash }),
        'VERITY_DATA_TOO_SMALL',
      ],
      [
        () =>
          formatVerity({
            dataPath: disk,
            dataOffset: PREFIX,
            hashPath: join(dir, 'x.hash'),
            fecPath: join(dir, 'x.fec'),
          }),
        'VERITY_DATA_OFFSET_FEC',
      ],
      [
        () =>
          verifyVerity({
            dataPath: disk,
            dataOffset: PREFIX,
            hashPath,
            rootHash,
            fecPath: join(dir, 'x.fec'),
          }),
        'VERITY_DATA_OFFSET_FEC',
      ],
      [
        () =>
          repairVerity({
            dataPath: disk,
            dataOffset: PREFIX,
            hashPath,
            rootHash,
            fecPath: join(dir, 'x.fec'),
          }),
        'VERITY_DATA_OFFSET_FEC',
      ],
    ];
    for (const [promise, code] of cases) {
      const error = await errorOf(promise());
      expect(isDroverError(error, code), `${code}: ${String(error)}`).toBe(true);
    }
  });
});
