import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  flattenImage,
  type ImageIndex,
  type ImageLayout,
  MediaType,
  openLayout,
  parseLayoutReference,
  writeImage,
} from '../src/index.js';
import { run, tempDir } from './helpers.js';

describe('OCI image layout', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let layout: ImageLayout;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    layout = await openLayout({ dir: join(dir, 'ours'), create: true });
    const amd = await writeImage({
      layout,
      tag: 'v1',
      layers: [{ entries: [{ path: 'hello.txt', type: 'file', content: 'hello amd64' }] }],
    });
    const arm = await writeImage({
      layout,
      platform: { os: 'linux', architecture: 'arm64' },
      layers: [{ entries: [{ path: 'hello.txt', type: 'file', content: 'hello arm64' }] }],
    });
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [amd, arm] };
    await layout.tag(await layout.putManifest(index), 'multi');
  });
  afterAll(() => cleanup());

  it('is readable by skopeo, and what skopeo writes is readable by us (tags, untagged, --all)', async () => {
    await run('skopeo', ['copy', '-q', `oci:${layout.dir}:v1`, `oci:${join(dir, 'sk')}:copied`]);
    await run('skopeo', ['copy', '-q', `oci:${layout.dir}:v1`, `oci:${join(dir, 'sk-untagged')}`]);
    await run('skopeo', ['copy', '-q', '--all', `oci:${layout.dir}:multi`, `oci:${join(dir, 'sk-all')}:all`]);
    const copied = await flattenImage({ layout: join(dir, 'sk'), reference: 'copied' });
    expect((await readAll(copied.tree.openContent(copied.tree.get('hello.txt')!.inode))).toString()).toBe(
      'hello amd64',
    );
    const untagged = await openLayout({ dir: join(dir, 'sk-untagged') });
    expect((await untagged.resolveImage()).manifest.layers).toHaveLength(1);
    const all = await openLayout({ dir: join(dir, 'sk-all') });
    const arm = await all.resolveImage('all', { os: 'linux', architecture: 'aarch64' });
    expect(arm.config.architecture).toBe('arm64');
    expect(arm.index?.index.manifests).toHaveLength(2);
    await expect(all.resolveImage('all', { os: 'linux', architecture: 's390x' })).rejects.toMatchObject({
      code: 'OCI_PLATFORM_NOT_FOUND',
    });
  });

  it('reads what umoci writes', async () => {
    const umoci = join(dir, 'umoci');
    await run('umoci', ['init', '--layout', umoci]);
    await run('umoci', ['new', '--image', `${umoci}:base`]);
    const image = await (await openLayout({ dir: umoci })).resolveImage('base');
    expect(image.manifest.layers).toHaveLength(0);
    expect(image.config.rootfs?.type).toBe('layers');
  });

  it('names the tags it has when a reference is missing or ambiguous', async () => {
    await expect(layout.resolve('nope')).rejects.toMatchObject({
      code: 'OCI_REF_NOT_FOUND',
      details: { tags: ['v1', 'multi'] },
    });
    await expect(layout.resolve()).rejects.toMatchObject({ code: 'OCI_LAYOUT_AMBIGUOUS' });
    await expect(openLayout({ dir: join(dir, 'missing') })).rejects.toMatchObject({
      code: 'OCI_LAYOUT_NOT_FOUND',
    });
  });

  it('verifies every blob it streams and keeps nothing unverified', async () => {
    const image = await layout.resolveImage('v1');
    const layer = image.manifest.layers[0]!;
    const path = layout.blobs.path(layer.digest);
    const good = await readFile(path);
    const bad = Buffer.from(good);
    bad[bad.length - 5]! ^= 0xff;
    await writeFile(path, bad);
    await expect(readAll(layout.blobs.open(layer.digest))).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(flattenImage({ layout, reference: 'v1' })).rejects.toMatchObject({ kind: 'integrity' });
    await writeFile(path, good);
    await expect(
      layout.blobs.put(Readable.from([Buffer.from('other')]), { expected: layer.digest }),
    ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect((await layout.blobs.list()).every((d) => d.startsWith('sha256:'))).toBe(true);
    expect((await readFile(path)).equals(good)).toBe(true);
  });

  it('parses layout references', () => {
    expect(parseLayoutReference('oci:/a/b:tag')).toEqual({ dir: '/a/b', reference: 'tag' });
    expect(parseLayoutReference(`dir@sha256:${'a'.repeat(64)}`)).toEqual({
      dir: 'dir',
      reference: `sha256:${'a'.repeat(64)}`,
    });
    expect(parseLayoutReference('./rel/dir')).toEqual({ dir: './rel/dir' });
  });
});

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
