import { open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { isDroverError, type ProgressEvent } from '@drover/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, scratch } from '../../test/helpers.js';
import { patternBytes } from '../../test/trees.js';
import {
  abLabels,
  abLayout,
  BOTTLEROCKET_TYPES,
  type DiskLayout,
  DPS_TYPES,
  decodeGptPrio,
  diskLayoutOf,
  dpsLayout,
  encodeGptPrio,
  planDisk,
  readDisk,
  readGptPrio,
  startDiskDigest,
  writeDisk,
  writeGptPrio,
} from '../index.js';
import { decodeGptGuid, encodeGptGuid } from './guid.js';
import { tableOfPlan } from './layout.js';
import {
  decodeEntries,
  decodeHeader,
  ENTRY_COUNT,
  ENTRY_SIZE,
  encodeGpt,
  type GptTable,
  SECTOR,
} from './table.js';

const MIB = 1024 * 1024;
let dir: string;
beforeAll(async () => {
  dir = await scratch('gpt');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const hexGuid = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .map((b) => Buffer.from(b).toString('hex'))
  .map((h) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`);

/** What sgdisk says about one partition. */
async function sgdiskInfo(image: string, n: number): Promise<Record<string, string>> {
  const { stdout } = await run('sgdisk', ['-i', String(n), image]);
  const get = (re: RegExp): string => re.exec(stdout)?.[1] ?? '';
  return {
    type: get(/Partition GUID code: (\S+)/).toLowerCase(),
    uuid: get(/Partition unique GUID: (\S+)/).toLowerCase(),
    first: get(/First sector: (\d+)/),
    last: get(/Last sector: (\d+)/),
    attributes: get(/Attribute flags: ([0-9A-Fa-f]+)/).toLowerCase(),
    name: get(/Partition name: '(.*)'/),
  };
}

async function expectSgdiskMatches(image: string, layoutPlan: ReturnType<typeof planDisk>): Promise<void> {
  const { stdout } = await run('sgdisk', ['-v', image]);
  expect(stdout).toContain('No problems found');
  const { stdout: printed } = await run('sgdisk', ['-p', image]);
  expect(printed).toContain(`Disk identifier (GUID): ${layoutPlan.diskGuid.toUpperCase()}`);
  expect(printed).toContain(`${layoutPlan.size / SECTOR} sectors`);
  const rows = printed.split('\n').filter((l) => /^\s+\d+\s+\d+\s+\d+/.test(l));
  expect(rows).toHaveLength(layoutPlan.partitions.length);
  for (const p of layoutPlan.partitions) {
    expect(await sgdiskInfo(image, p.number)).toEqual({
      type: p.typeGuid,
      uuid: p.uuid,
      first: String(p.offset / SECTOR),
      last: String((p.offset + p.size) / SECTOR - 1),
      attributes: BigInt(p.attributes).toString(16).padStart(16, '0'),
      name: p.label,
    });
  }
}

async function expectCode(promise: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  const error = await (typeof promise === 'function' ? Promise.resolve().then(promise) : promise).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isDroverError(error, code), String(error)).toBe(true);
  expect((error as { hint?: string }).hint).toBeTruthy();
}

describe('GUIDs', () => {
  it('are stored mixed-endian and round-trip', () => {
    expect(encodeGptGuid('c12a7328-f81f-11d2-ba4b-00a0c93ec93b').toString('hex')).toBe(
      '28732ac11ff8d211ba4b00a0c93ec93b',
    );
    fc.assert(
      fc.property(hexGuid, (g) => {
        expect(decodeGptGuid(encodeGptGuid(g))).toBe(g);
      }),
    );
  });
});

describe('GPT encoding', () => {
  const tableArb: fc.Arbitrary<GptTable> = fc
    .record({
      sectors: fc.integer({ min: 100, max: 2 ** 40 }),
      diskGuid: hexGuid,
      entries: fc.uniqueArray(
        fc.record({
          number: fc.integer({ min: 1, max: ENTRY_COUNT }),
          typeGuid: hexGuid.filter((g) => g !== '00000000-0000-0000-0000-000000000000'),
          uuid: hexGuid,
          firstLba: fc.integer({ min: 34, max: 2 ** 40 }),
          len: fc.integer({ min: 0, max: 2 ** 30 }),
          attributes: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
          name: fc.string({ maxLength: 36 }).filter((s) => !s.includes('\0')),
        }),
        { maxLength: 20, selector: (e) => e.number },
      ),
    })
    .map(({ sectors, diskGuid, entries }) => ({
      diskGuid,
      sectors,
      firstUsableLba: 34,
      lastUsableLba: sectors - 34,
      entries: entries
        .map(({ len, ...e }) => ({ ...e, lastLba: e.firstLba + len }))
        .sort((a, b) => a.number - b.number),
    }));

  it('decodes what it encodes, with header and entry CRC32s that zlib agrees with', () => {
    fc.assert(
      fc.property(tableArb, (table) => {
        const { mbr, primary, backup, backupOffset } = encodeGpt(table);
        expect(mbr.readUInt16BE(510)).toBe(0x55aa);
        expect(mbr[446 + 4]).toBe(0xee);
        expect(mbr.readUInt32LE(446 + 12)).toBe(Math.min(table.sectors - 1, 0xffffffff));
        for (const [header, entries, myLba] of [
          [primary.subarray(0, SECTOR), primary.subarray(SECTOR), 1],
          [backup.subarray(-SECTOR), backup.subarray(0, -SECTOR), table.sectors - 1],
        ] as const) {
          const h = decodeHeader(Buffer.from(header));
          if (typeof h === 'string') throw new Error(h);
          expect(h.myLba).toBe(myLba);
          expect(h.diskGuid).toBe(table.diskGuid);
          expect(h.entriesCrc).toBe(zlibCrc32(entries));
          const zeroed = Buffer.from(header.subarray(0, 92));
          const stored = zeroed.readUInt32LE(16);
          zeroed.writeUInt32LE(0, 16);
          expect(stored).toBe(zlibCrc32(zeroed));
          expect(decodeEntries(Buffer.from(entries), ENTRY_COUNT, ENTRY_SIZE)).toEqual(table.entries);
        }
        expect(backupOffset).toBe((table.sectors - 33) * SECTOR);
        // A flipped bit anywhere in the header is detected.
        const damaged = Buffer.from(primary.subarray(0, SECTOR));
        damaged[40] = damaged[40]! ^ 1;
        expect(decodeHeader(damaged)).toBe('header CRC32 mismatch');
      }),
      { numRuns: 200 },
    );
  });
});

describe('gptprio bits', () => {
  it('round-trip and keep the other attribute bits', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 15 }),
        fc.boolean(),
        (attrs, priority, tries, successful) => {
          const next = encodeGptPrio(attrs, { priority, tries, successful });
          expect(decodeGptPrio(next)).toEqual({ priority, tries, successful });
          const mask = (0xffn << 48n) | (1n << 56n);
          expect(next & ~mask).toBe(attrs & ~mask);
        },
      ),
    );
    expect(encodeGptPrio(0n, { priority: 1, tries: 0, successful: true })).toBe((1n << 48n) | (1n << 56n));
    expect(encodeGptPrio(0n, { priority: 15, tries: 15, successful: false })).toBe(0xffn << 48n);
  });
});

describe('writeDisk', () => {
  it('writes an A/B disk that sgdisk verifies and reads back as planned, with content at the offsets', async () => {
    const image = join(dir, 'ab.img');
    const root = patternBytes(1, 3 * MIB + 4096);
    const rootFile = join(dir, 'root.img');
    await writeFile(rootFile, root);
    const hash = Buffer.concat([Buffer.alloc(2 * MIB), patternBytes(2, 4096)]); // leading zeros stay holes
    const layout = abLayout({
      rootSize: 4 * MIB,
      hashSize: 3 * MIB,
      diskGuid: '11111111-2222-4333-8444-555555555555',
    });
    const labels = abLabels();
    const result = await writeDisk({
      output: image,
      layout,
      contents: {
        [labels.root.a]: rootFile,
        [labels.hash.a]: async () => [hash.subarray(0, 100), hash.subarray(100)],
      },
    });
    const plan = planDisk(layout);
    expect(result.partitions.map(({ digest: _d, contentSize: _c, ...p }) => p)).toEqual(plan.partitions);
    expect(result.partitions.map((p) => p.label)).toEqual([
      'DROVER-BOOT-A',
      'DROVER-ROOT-A',
      'DROVER-HASH-A',
      'DROVER-RESERVED-A',
      'DROVER-BOOT-B',
      'DROVER-ROOT-B',
      'DROVER-HASH-B',
      'DROVER-RESERVED-B',
      'DROVER-PRIVATE',
      'DROVER-DATA',
    ]);
    expect(result.partitions.map((p) => p.typeGuid)).toEqual([
      ...[
        BOTTLEROCKET_TYPES.boot,
        BOTTLEROCKET_TYPES.root,
        BOTTLEROCKET_TYPES.hash,
        BOTTLEROCKET_TYPES.reserved,
      ],
      ...[
        BOTTLEROCKET_TYPES.boot,
        BOTTLEROCKET_TYPES.root,
        BOTTLEROCKET_TYPES.hash,
        BOTTLEROCKET_TYPES.reserved,
      ],
      BOTTLEROCKET_TYPES.private,
      BOTTLEROCKET_TYPES.data,
    ]);
    for (const p of result.partitions) expect(p.offset % MIB).toBe(0);
    expect(decodeGptPrio(result.partitions[0]!.attributes)).toEqual({
      priority: 1,
      tries: 0,
      successful: true,
    });
    expect(decodeGptPrio(result.partitions[4]!.attributes)).toEqual({
      priority: 0,
      tries: 0,
      successful: false,
    });
    const rootPart = result.partitions[1]!;
    expect(rootPart.digest).toBe(
      `sha256:${(await import('node:crypto')).createHash('sha256').update(root).digest('hex')}`,
    );
    expect(rootPart.contentSize).toBe(root.length);
    await expectSgdiskMatches(image, plan);
    // Content sits at the partition offsets.
    const handle = await open(image, 'r');
    try {
      const got = Buffer.alloc(root.length);
      await handle.read(got, 0, got.length, rootPart.offset);
      expect(got.equals(root)).toBe(true);
      const gotHash = Buffer.alloc(hash.length);
      await handle.read(gotHash, 0, gotHash.length, result.partitions[2]!.offset);
      expect(gotHash.equals(hash)).toBe(true);
    } finally {
      await handle.close();
    }
    // Sparse: ~250 MiB apparent size, only the written data allocated.
    const st = await stat(image);
    expect(st.size).toBe(plan.size);
    expect(st.blocks * 512).toBeLessThan(4 * MIB + 512 * 1024);
    // And the reader sees the same partitions.
    const info = await readDisk({ path: image });
    expect(info).toMatchObject({ size: plan.size, diskGuid: plan.diskGuid, source: 'primary', problems: [] });
    expect(info.partitions).toEqual(plan.partitions);
    // Read back as a layout, it plans to the very same disk.
    expect(planDisk(diskLayoutOf(info))).toEqual(plan);
  });

  it('writes DPS layouts with hash-derived UUIDs, versioned labels and read-only flags', async () => {
    const rootHash = `${'0123456789abcdef'.repeat(2)}${'fedcba9876543210'.repeat(2)}`;
    for (const arch of ['x86-64', 'aarch64'] as const) {
      const image = join(dir, `dps-${arch}.img`);
      const layout = dpsLayout({
        arch,
        rootHash,
        version: '2.1.0',
        dataSize: 8 * MIB,
        veritySize: MIB,
        signatureSize: 16 * 1024,
        espSize: 2 * MIB,
      });
      const r = await writeDisk({ output: image, layout });
      const types = DPS_TYPES[arch === 'x86-64' ? 'x86-64' : 'arm64'];
      expect(r.partitions.map((p) => [p.label, p.typeGuid, p.attributes])).toEqual([
        ['esp', 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', '0'],
        ['root_2.1.0', types.root, String(1n << 60n)],
        ['root-verity_2.1.0', types['root-verity'], String(1n << 60n)],
        ['root-verity-sig_2.1.0', types['root-verity-sig'], String(1n << 60n)],
      ]);
      expect(r.partitions[1]!.uuid).toBe('01234567-89ab-cdef-0123-456789abcdef');
      expect(r.partitions[2]!.uuid).toBe('fedcba98-7654-3210-fedc-ba9876543210');
      await expectSgdiskMatches(image, planDisk(layout));
    }
    const usr = dpsLayout({
      arch: 'amd64',
      rootHash,
      version: '3',
      kind: 'usr',
      name: 'os',
      dataSize: MIB,
      veritySize: MIB,
    });
    expect(usr.partitions.map((p) => [p.label, p.typeGuid])).toEqual([
      ['os_3', DPS_TYPES['x86-64'].usr],
      ['os-verity_3', DPS_TYPES['x86-64']['usr-verity']],
    ]);
  });

  it('matches sgdisk on random layouts', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            sectors: fc.integer({ min: 1, max: 5000 }),
            gap: fc.integer({ min: 0, max: 3 }),
            attributes: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
            label: fc.string({
              unit: fc.constantFrom(...'abcXYZ-_ 09é'.split('')),
              minLength: 1,
              maxLength: 36,
            }),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        fc.boolean(),
        async (parts, aligned) => {
          const layout: DiskLayout = {
            alignment: aligned ? MIB : SECTOR,
            partitions: parts.map((p, i) => ({
              label: `${i}${p.label}`.slice(0, 36),
              typeGuid: BOTTLEROCKET_TYPES.data,
              size: p.sectors * SECTOR,
              attributes: p.attributes,
            })),
          };
          const image = join(dir, `rand-${n++}.img`);
          try {
            await writeDisk({ output: image, layout });
            await expectSgdiskMatches(image, planDisk(layout));
            const info = await readDisk({ path: image });
            expect(info.partitions).toEqual(planDisk(layout).partitions);
            expect(planDisk(diskLayoutOf(info))).toEqual(planDisk(layout));
          } finally {
            await rm(image, { force: true });
          }
        },
      ),
      { numRuns: 15 },
    );
  }, 120_000);

  it('explains layouts that cannot work', async () => {
    const p = { label: 'a', typeGuid: BOTTLEROCKET_TYPES.data, size: MIB };
    await expectCode(
      () => planDisk({ partitions: [p, { ...p, label: 'b', offset: MIB + 4096 }] }),
      'GPT_PARTITIONS_OVERLAP',
    );
    await expectCode(() => planDisk({ partitions: [p], size: 2 * MIB }), 'GPT_PARTITIONS_DO_NOT_FIT');
    await expectCode(() => planDisk({ partitions: [{ ...p, typeGuid: 'not-a-guid' }] }), 'GPT_INVALID_GUID');
    await expectCode(() => planDisk({ partitions: [{ ...p, uuid: '1234' }] }), 'GPT_INVALID_GUID');
    await expectCode(() => planDisk({ partitions: [{ ...p, size: 1000 }] }), 'GPT_BAD_SIZE');
    await expectCode(() => planDisk({ partitions: [{ ...p, offset: 100 }] }), 'GPT_BAD_OFFSET');
    await expectCode(() => planDisk({ partitions: [p, p] }), 'GPT_DUPLICATE_LABEL');
    await expectCode(() => planDisk({ partitions: [{ ...p, label: 'x'.repeat(37) }] }), 'GPT_LABEL_TOO_LONG');
    await expectCode(() => planDisk({ partitions: [{ ...p, attributes: 1n << 64n }] }), 'GPT_BAD_ATTRIBUTES');
    await expectCode(
      () =>
        dpsLayout({ arch: 'riscv', rootHash: 'ab'.repeat(32), version: '1', dataSize: MIB, veritySize: MIB }),
      'GPT_UNKNOWN_ARCH',
    );
    await expectCode(
      () =>
        dpsLayout({ arch: 'arm6', rootHash: 'ab'.repeat(32), version: '1', dataSize: MIB, veritySize: MIB }),
      'GPT_UNKNOWN_ARCH',
    );
    await expectCode(
      () => dpsLayout({ arch: 'arm64', rootHash: 'xyz', version: '1', dataSize: MIB, veritySize: MIB }),
      'GPT_BAD_ROOT_HASH',
    );
    await expectCode(
      () =>
        dpsLayout({
          arch: 'arm64',
          rootHash: 'ab'.repeat(32),
          version: 'a_b',
          dataSize: MIB,
          veritySize: MIB,
        }),
      'GPT_BAD_VERSION',
    );
    await expectCode(() => encodeGptPrio(0n, { priority: 16, tries: 0, successful: false }), 'GPT_BAD_PRIO');
    const out = join(dir, 'toolarge.img');
    await expectCode(
      writeDisk({ output: out, layout: { partitions: [p] }, contents: { a: Buffer.alloc(MIB + 1) } }),
      'GPT_CONTENT_TOO_LARGE',
    );
    await expectCode(
      writeDisk({
        output: out,
        layout: { partitions: [p] },
        contents: { a: async () => [Buffer.alloc(MIB), Buffer.alloc(1)] },
      }),
      'GPT_CONTENT_TOO_LARGE',
    );
    await expectCode(
      writeDisk({ output: out, layout: { partitions: [p] }, contents: { b: Buffer.alloc(1) } }),
      'GPT_UNKNOWN_PARTITION',
    );
    await expect(stat(out)).rejects.toThrow();
  });

  it('reports progress and stops when the signal fires, leaving no output', async () => {
    const layout: DiskLayout = {
      partitions: [{ label: 'a', typeGuid: BOTTLEROCKET_TYPES.data, size: 4 * MIB }],
    };
    const events: ProgressEvent[] = [];
    const out = join(dir, 'progress.img');
    await writeDisk(
      { output: out, layout, contents: { a: Buffer.alloc(MIB, 1) } },
      { onProgress: (e) => events.push(e) },
    );
    expect(events[0]).toMatchObject({ type: 'start', unit: 'bytes', total: MIB });
    expect(events.at(-1)).toMatchObject({ type: 'done', ok: true, completed: MIB });
    const controller = new AbortController();
    const aborted = join(dir, 'aborted.img');
    const source = async function* () {
      yield Buffer.alloc(4096, 1);
      controller.abort();
      yield Buffer.alloc(4096, 1);
    };
    await expectCode(
      writeDisk({ output: aborted, layout, contents: { a: source } }, { signal: controller.signal }),
      'ABORTED',
    );
    await expect(stat(aborted)).rejects.toThrow();
  });

  it('computes the whole-disk SHA-256 while writing, equal to sha256sum of the file; known digests are kept', async () => {
    const image = join(dir, 'digest.img');
    const rootFile = join(dir, 'digest-root.img');
    const root = Buffer.concat([patternBytes(7, 3 * MIB + 1234), Buffer.alloc(MIB), patternBytes(8, 999)]);
    await writeFile(rootFile, root);
    const hash = patternBytes(9, 70_000);
    const labels = abLabels();
    // partitions listed out of offset order, so the digest must follow offsets, not the list
    const layout = abLayout({ rootSize: 6 * MIB, hashSize: MIB, dataSize: 2 * MIB });
    layout.partitions.reverse();
    const result = await writeDisk({
      output: image,
      layout,
      digest: true,
      contents: {
        [labels.root.a]: rootFile,
        [labels.hash.a]: async () => [hash.subarray(0, 5), hash.subarray(5)],
        [labels.root.b]: new Uint8Array(hash),
      },
      knownDigests: { [labels.root.b]: { digest: 'sha256:known', size: 70_000 } as never },
    });
    const { stdout } = await run('sha256sum', [image]);
    expect(result.digest).toBe(`sha256:${stdout.split(' ')[0]}`);
    const byLabel = new Map(result.partitions.map((p) => [p.label, p]));
    const sha = async (data: Uint8Array) =>
      `sha256:${(await import('node:crypto')).createHash('sha256').update(data).digest('hex')}`;
    expect(byLabel.get(labels.root.a)?.digest).toBe(await sha(root));
    expect(byLabel.get(labels.hash.a)?.digest).toBe(await sha(hash));
    expect(byLabel.get(labels.root.b)?.digest).toBe('sha256:known');
    // without `digest` there is none
    const plain = await writeDisk({ output: join(dir, 'digest2.img'), layout });
    expect(plain.digest).toBeUndefined();
  });

  it('continues a disk digest started before the hash tree existed, and starts over when the contents differ', async () => {
    const labels = abLabels();
    const layout = abLayout({ rootSize: 6 * MIB, hashSize: MIB, dataSize: 2 * MIB });
    const rootFile = join(dir, 'early-root.img');
    const hashFile = join(dir, 'early-hash.img');
    await writeFile(rootFile, patternBytes(11, 5 * MIB + 77));
    await writeFile(hashFile, patternBytes(12, 300_000));
    const sum = async (path: string) => `sha256:${(await run('sha256sum', [path])).stdout.split(' ')[0]}`;
    const contents = { [labels.root.a]: rootFile, [labels.hash.a]: hashFile };

    const early = await startDiskDigest({
      layout,
      contents: { [labels.root.a]: rootFile },
      until: [labels.hash.a],
    });
    expect(early.fed(labels.root.a, rootFile)).toBe(true);
    // it stopped exactly where the hash partition starts
    expect(early.hashedTo).toBe(planDisk(layout).partitions.find((p) => p.label === labels.hash.a)!.offset);
    const continued = await writeDisk({ output: join(dir, 'early.img'), layout, contents, digest: early });
    expect(continued.digest).toBe(await sum(join(dir, 'early.img')));

    // started from another root file: not continued (it would hash the wrong bytes), but the result is right
    const other = join(dir, 'early-other.img');
    await writeFile(other, patternBytes(13, 4 * MIB));
    const stale = await startDiskDigest({
      layout,
      contents: { [labels.root.a]: other },
      until: [labels.hash.a],
    });
    expect(await stale.fits(planDisk(layout), contents)).toBe(false);
    const redone = await writeDisk({ output: join(dir, 'early2.img'), layout, contents, digest: stale });
    expect(redone.digest).toBe(continued.digest);

    // the same path rewritten after the digest started: not continued
    const early2 = await startDiskDigest({
      layout,
      contents: { [labels.root.a]: rootFile },
      until: [labels.hash.a],
    });
    await writeFile(rootFile, patternBytes(14, 5 * MIB + 77));
    expect(await early2.fits(planDisk(layout), contents)).toBe(false);
    const rewritten = await writeDisk({ output: join(dir, 'early4.img'), layout, contents, digest: early2 });
    expect(rewritten.digest).toBe(await sum(join(dir, 'early4.img')));
    expect(rewritten.digest).not.toBe(continued.digest);
    await writeFile(rootFile, patternBytes(11, 5 * MIB + 77));

    // a different layout is not continued either
    const bigger = abLayout({ rootSize: 7 * MIB, hashSize: MIB, dataSize: 2 * MIB });
    const wrongPlan = await startDiskDigest({ layout: bigger, contents: { [labels.root.a]: rootFile } });
    const third = await writeDisk({ output: join(dir, 'early3.img'), layout, contents, digest: wrongPlan });
    expect(third.digest).toBe(continued.digest);
  });

  it('is deterministic and derives GUIDs from the layout', async () => {
    const small = { bootSize: MIB, reservedSize: MIB, privateSize: MIB, dataSize: MIB };
    const layout = abLayout({ rootSize: MIB, hashSize: MIB, ...small });
    const a = planDisk(layout);
    expect(planDisk(layout)).toEqual(a);
    expect(new Set(a.partitions.map((p) => p.uuid)).size).toBe(a.partitions.length);
    expect(planDisk(abLayout({ rootSize: 2 * MIB, hashSize: MIB, ...small })).diskGuid).not.toBe(a.diskGuid);
    await writeDisk({ output: join(dir, 'd1.img'), layout });
    await writeDisk({ output: join(dir, 'd2.img'), layout });
    expect((await readFile(join(dir, 'd1.img'))).equals(await readFile(join(dir, 'd2.img')))).toBe(true);
  });
});

describe('gptprio on a disk file', () => {
  it('flips banks in place in both tables; sgdisk agrees', async () => {
    const image = join(dir, 'flip.img');
    const layout = abLayout({ rootSize: MIB, hashSize: MIB });
    await writeDisk({ output: image, layout });
    const labels = abLabels();
    // An updater wrote bank B: give it the highest priority with one try.
    expect(
      await writeGptPrio({ path: image, partition: labels.boot.b, priority: 2, tries: 1, successful: false }),
    ).toEqual({
      number: 5,
      label: labels.boot.b,
      priority: 2,
      tries: 1,
      successful: false,
    });
    // Then it booted and was marked successful.
    await writeGptPrio({ path: image, partition: 5, tries: 0, successful: true });
    expect(await readGptPrio({ path: image, partition: labels.boot.b })).toMatchObject({
      priority: 2,
      tries: 0,
      successful: true,
    });
    expect(await readGptPrio({ path: image, partition: 1 })).toMatchObject({
      priority: 1,
      tries: 0,
      successful: true,
    });
    const { stdout } = await run('sgdisk', ['-v', image]);
    expect(stdout).toContain('No problems found');
    expect((await sgdiskInfo(image, 5)).attributes).toBe('0102000000000000');
    const info = await readDisk({ path: image });
    expect(info.problems).toEqual([]);
    // Everything else is unchanged.
    const before = tableOfPlan(planDisk(layout));
    expect(info.partitions.map((p) => p.uuid)).toEqual(before.entries.map((e) => e.uuid));
    await expectCode(readGptPrio({ path: image, partition: 'NOPE' }), 'GPT_UNKNOWN_PARTITION');
  });

  it('reads and updates disks partitioned by sgdisk', async () => {
    const image = join(dir, 'foreign.img');
    const handle = await open(image, 'w');
    await handle.truncate(64 * MIB);
    await handle.close();
    await run('sgdisk', [
      '-U',
      'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee',
      '-n',
      '1:2048:+8M',
      '-t',
      `1:${BOTTLEROCKET_TYPES.boot}`,
      '-c',
      '1:BOOT-A',
      '-u',
      '1:11111111-2222-4333-8444-555555555555',
      '-A',
      '1:set:48',
      '-A',
      '1:set:56',
      '-n',
      '3:0:+4M',
      '-t',
      '3:8300',
      '-c',
      '3:third',
      image,
    ]);
    const info = await readDisk({ path: image });
    expect(info.problems).toEqual([]);
    expect(info.diskGuid).toBe('aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee');
    await expectCode(() => diskLayoutOf(info), 'GPT_SPARSE_ENTRIES');
    expect(info.partitions.map((p) => [p.number, p.label, p.typeGuid, p.offset, p.size])).toEqual([
      [1, 'BOOT-A', BOTTLEROCKET_TYPES.boot, MIB, 8 * MIB],
      [3, 'third', '0fc63daf-8483-4772-8e79-3d69d8477de4', 9 * MIB, 4 * MIB],
    ]);
    for (const p of info.partitions) {
      const sg = await sgdiskInfo(image, p.number);
      expect([p.uuid, BigInt(p.attributes).toString(16).padStart(16, '0')]).toEqual([sg.uuid, sg.attributes]);
    }
    // sgdisk's bit numbers are ours: 48 = priority 1, 56 = successful.
    expect(await readGptPrio({ path: image, partition: 'BOOT-A' })).toMatchObject({
      priority: 1,
      tries: 0,
      successful: true,
    });
    await writeGptPrio({ path: image, partition: 1, priority: 0, tries: 3, successful: false });
    const { stdout } = await run('sgdisk', ['-v', image]);
    expect(stdout).toContain('No problems found');
    expect((await sgdiskInfo(image, 1)).attributes).toBe('0030000000000000');
  });

  it('reads from the backup when the primary is damaged, and repairs it on the next update', async () => {
    const image = join(dir, 'damaged.img');
    const layout = abLayout({ rootSize: MIB, hashSize: MIB });
    await writeDisk({ output: image, layout });
    const handle = await open(image, 'r+');
    await handle.write(Buffer.from('garbage!'), 0, 8, SECTOR + 40);
    await handle.close();
    const info = await readDisk({ path: image });
    expect(info.source).toBe('backup');
    expect(info.primaryValid).toBe(false);
    expect(info.problems[0]).toMatch(/primary GPT is damaged/);
    expect(info.partitions).toEqual(planDisk(layout).partitions);
    await writeGptPrio({ path: image, partition: 1, priority: 3 });
    const fixed = await readDisk({ path: image });
    expect(fixed).toMatchObject({ source: 'primary', primaryValid: true, backupValid: true, problems: [] });
    const { stdout } = await run('sgdisk', ['-v', image]);
    expect(stdout).toContain('No problems found');
    // Both copies damaged: a clear error.
    const h2 = await open(image, 'r+');
    await h2.write(Buffer.from('garbage!'), 0, 8, SECTOR + 40);
    await h2.write(Buffer.from('garbage!'), 0, 8, fixed.size - SECTOR + 40);
    await h2.close();
    await expectCode(readDisk({ path: image }), 'GPT_NOT_FOUND');
    await expectCode(readDisk({ path: join(dir, 'missing.img') }), 'FILE_NOT_FOUND');
  });
});
