import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Descriptor,
  flattenImage,
  type ImageConfig,
  type ImageLayout,
  type ImageManifest,
  MediaType,
  openLayout,
} from '../src/index.js';
import { plain, run, snapshotDisk, snapshotTree, tarBytes, tempDir, umociUnpack } from './helpers.js';
import { LAYERS } from './layers.js';

const sha = (b: Uint8Array): `sha256:${string}` => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Compress with the zstd tool (the reference encoder), optionally as several concatenated frames. */
async function zstd(dir: string, name: string, tar: Buffer, frames = 1, level = 3): Promise<Buffer> {
  const parts: Buffer[] = [];
  const size = Math.ceil(tar.length / frames);
  for (let i = 0; i < frames; i++) {
    const input = join(dir, `${name}.${i}.tar`);
    await writeFile(input, tar.subarray(i * size, (i + 1) * size));
    await run('zstd', ['-q', '-f', `-${level}`, input, '-o', `${input}.zst`]);
    parts.push(await readFile(`${input}.zst`));
  }
  return Buffer.concat(parts);
}

describe('zstd layers in an OCI layout (compressed by the zstd tool)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let layout: ImageLayout;
  let twin: ImageLayout;

  /** Store an image of these layer blobs (and diff ids) in a layout under a tag. */
  async function storeImage(
    into: ImageLayout,
    tag: string,
    layers: Array<{ blob: Buffer; mediaType: string; diffId: `sha256:${string}` }>,
  ): Promise<void> {
    const descriptors: Descriptor[] = [];
    for (const l of layers) {
      const stored = await into.blobs.putBytes(l.blob);
      descriptors.push({ mediaType: l.mediaType, digest: stored.digest, size: stored.size });
    }
    const config: ImageConfig = {
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    };
    const configBlob = await into.blobs.putBytes(Buffer.from(JSON.stringify(config)));
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configBlob.digest, size: configBlob.size },
      layers: descriptors,
    };
    await into.tag(await into.putManifest(manifest, MediaType.OciManifest), tag);
  }

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    layout = await openLayout({ dir: join(dir, 'img'), create: true });
    twin = await openLayout({ dir: join(dir, 'twin'), create: true });
    const zstdLayers = [];
    const plainLayers = [];
    for (const [i, layer] of LAYERS.entries()) {
      const tar = await tarBytes(layer.entries, layer.format);
      // layer 0 in three frames (a valid zstd stream is any sequence of frames); layer 1 stays uncompressed
      const blob = i === 1 ? tar : await zstd(dir, `l${i}`, tar, i === 0 ? 3 : 1, i === 4 ? 19 : 3);
      if (i !== 1) {
        // the zstd tool itself decompresses the blob back to the tar
        await writeFile(join(dir, `check${i}.zst`), blob);
        await run('zstd', ['-q', '-d', '-f', join(dir, `check${i}.zst`), '-o', join(dir, `check${i}.tar`)]);
        expect((await readFile(join(dir, `check${i}.tar`))).equals(tar)).toBe(true);
      }
      const mediaType = i === 1 ? MediaType.OciLayer : MediaType.OciLayerZstd;
      zstdLayers.push({ blob, mediaType, diffId: sha(tar) });
      plainLayers.push({ blob: tar, mediaType: MediaType.OciLayer, diffId: sha(tar) });
    }
    await storeImage(layout, 'zstd', zstdLayers);
    await storeImage(twin, 'plain', plainLayers);
  });
  afterAll(() => cleanup());

  // umoci 0.4.7 refuses +zstd layers ("blob is not correct mediatype"), so it unpacks a twin image made of the
  // same tars stored uncompressed: same diff ids, so the same root filesystem.
  it('flattens to exactly what umoci unpack gives for the same tars (whiteouts, opaque dirs, hardlinks, contents)', async () => {
    const resolved = await layout.resolveImage('zstd');
    expect(resolved.manifest.layers.filter((l) => l.mediaType === MediaType.OciLayerZstd)).toHaveLength(4);
    expect(resolved.config.rootfs?.diff_ids).toEqual(
      (await twin.resolveImage('plain')).config.rootfs?.diff_ids,
    );
    const rootfs = await umociUnpack(twin.dir, 'plain', join(dir, 'bundle'));
    const disk = await snapshotDisk(rootfs);
    const { tree } = await flattenImage({ layout, reference: 'zstd' });
    const ours = await snapshotTree(tree);
    disk.delete('');
    ours.delete('');
    expect(disk.size).toBeGreaterThan(8);
    expect(plain(ours)).toEqual(plain(disk));
    expect(tree.get('bin/suid')!.inode.mode).toBe(0o755);
    expect(tree.get('gnu/hard')!.inode.nlink).toBe(1);
    expect(tree.get('data/dir')).toBeUndefined(); // hidden by layer 2's opaque marker
  });

  it('rejects a zstd layer whose decompressed bytes do not match the diff id', async () => {
    const resolved = await layout.resolveImage('zstd');
    const wrong: ImageConfig = {
      ...resolved.config,
      rootfs: {
        type: 'layers',
        diff_ids: resolved.config.rootfs!.diff_ids.map((d, i) =>
          i === 0 ? (`sha256:${'0'.repeat(64)}` as const) : d,
        ),
      },
    };
    const configBlob = await layout.blobs.putBytes(Buffer.from(JSON.stringify(wrong)));
    const manifest: ImageManifest = {
      ...resolved.manifest,
      config: { mediaType: MediaType.OciConfig, digest: configBlob.digest, size: configBlob.size },
    };
    await layout.tag(await layout.putManifest(manifest, MediaType.OciManifest), 'bad-diff');
    await expect(flattenImage({ layout, reference: 'bad-diff' })).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      kind: 'integrity',
    });
  });

  it('rejects a truncated zstd layer with a decompression error', async () => {
    const tar = await tarBytes([{ path: 'a.txt', type: 'file', content: 'x'.repeat(5000) }]);
    const good = await zstd(dir, 'cut', tar);
    await storeImage(layout, 'cut', [
      { blob: good.subarray(0, good.length - 6), mediaType: MediaType.OciLayerZstd, diffId: sha(tar) },
    ]);
    await expect(flattenImage({ layout, reference: 'cut' })).rejects.toMatchObject({
      code: 'OCI_LAYER_DECOMPRESS',
      kind: 'integrity',
    });
  });
});
