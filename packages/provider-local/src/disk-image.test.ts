import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestFile, type ImageRecord } from '@drover/core';
import { abLayout, writeDisk } from '@drover/image';
import { formatVerity } from '@drover/verity';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestImage } from './fixture.js';
import { LocalFleet, verityTreeBytes } from './fleet.js';
import { LocalStore } from './store.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-diskimg-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('images published as a whole disk', () => {
  it('verityTreeBytes matches the hash device size formatVerity reports', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 600 }),
        fc.constantFrom('sha256', 'sha512'),
        fc.boolean(),
        async (blocks, algorithm, superblock) => {
          const img = await createTestImage({
            dir: join(dir, 'tree'),
            version: 't',
            rootSize: blocks * 4096,
          });
          const r = await formatVerity(
            {
              dataPath: img.artifacts[0]!.file,
              hashPath: join(dir, 'tree', 'h'),
              algorithm,
              superblock,
              salt: '-',
              threads: 0,
            },
            {},
          );
          expect(verityTreeBytes(r.record)).toBe(r.hashDeviceSize);
        },
      ),
      {
        numRuns: 20,
        examples: [
          [1, 'sha256', false],
          [1, 'sha512', true],
          [129, 'sha256', true],
        ],
      },
    );
  });

  it('writes the root and hash partitions of a disk artifact into the inactive bank', async () => {
    const store = await LocalStore.open({ dir: join(dir, 'store') });
    const base = await createTestImage({ dir: join(dir, 'v1'), version: '1.0.0' });
    const v1 = await store.publish(base.record, base.artifacts);
    const img = await createTestImage({ dir: join(dir, 'v2'), version: '2.0.0', rootSize: 40 * 4096 });
    const diskPath = join(dir, 'v2', 'disk.img');
    await writeDisk({
      output: diskPath,
      layout: abLayout({
        rootSize: 1024 * 1024,
        hashSize: 1024 * 1024,
        bootSize: 1024 * 1024,
        reservedSize: 1024 * 1024,
        privateSize: 1024 * 1024,
        dataSize: 1024 * 1024,
      }),
      contents: { 'DROVER-ROOT-A': img.artifacts[0]!.file, 'DROVER-HASH-A': img.artifacts[1]!.file },
    });
    const { digest, size } = await digestFile(diskPath, { progress: false });
    const disk = { name: 'disk', path: 'disk.img', digest, size, mediaType: 'application/vnd.drover.disk' };
    const record: ImageRecord = { ...img.record, artifacts: [disk] };
    const v2 = await store.publish(record, [{ ...disk, file: diskPath }]);

    const fleet = await LocalFleet.init({
      dir: join(dir, 'fleet'),
      store: store.dir,
      nodes: 1,
      image: v1,
      rootSize: 512 * 1024,
      hashSize: 64 * 1024,
    });
    const [m] = await fleet.members();
    const after = await fleet.update(m!, v2);
    expect(after).toMatchObject({ image: { digest: v2.digest }, labels: { bank: 'b' } });

    // The same disk with a record claiming another root hash never becomes bootable.
    const lying: ImageRecord = {
      ...record,
      version: '2.0.1',
      verity: { ...record.verity!, rootHash: 'cd'.repeat(32) },
    };
    const bad = await store.publish(lying, []);
    expect((await fleet.health(after)).healthy).toBe(true);
    await expect(fleet.update(after, bad)).rejects.toMatchObject({ code: 'FLEET_VERITY_MISMATCH' });
    expect((await fleet.member(m!.id))?.image?.digest).toBe(v2.digest);

    const noRoot: ImageRecord = { ...record, version: '2.0.2', artifacts: [] };
    await expect(fleet.update(after, await store.publish(noRoot, []))).rejects.toMatchObject({
      code: 'FLEET_IMAGE_NO_ROOT',
    });
  });
});
