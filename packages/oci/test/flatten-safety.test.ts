import { Readable } from 'node:stream';
import { isDroverError } from '@drover/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flattenLayers, type TarWriteEntry } from '../src/index.js';
import { memoryLayer, tarBytes } from './helpers.js';

const f = (path: string, content = 'x'): TarWriteEntry => ({ path, type: 'file', mode: 0o644, content });
const d = (path: string): TarWriteEntry => ({ path, type: 'dir', mode: 0o755 });
const wh = (path: string): TarWriteEntry => ({ path, type: 'file', mode: 0, content: '' });

async function flatten(...layers: TarWriteEntry[][]) {
  return flattenLayers({
    layers: await Promise.all(layers.map(async (l) => memoryLayer(await tarBytes(l)))),
  });
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isDroverError(error)) return error.code;
    throw error;
  }
  return 'no error';
}

describe('flattening rejects unsafe layers, each with its own code', () => {
  it('.. components', async () => {
    expect(await code(flatten([f('a/../../etc/passwd')]))).toBe('OCI_PATH_TRAVERSAL');
    expect(await code(flatten([f('../x')]))).toBe('OCI_PATH_TRAVERSAL');
  });
  it('absolute paths are taken relative to the root, not the host', async () => {
    const tree = await flatten([f('/etc/abs', 'abs')]);
    expect(tree.get('etc/abs')?.inode.type).toBe('file');
  });
  it('writes through a symlink that climbs out of the root', async () => {
    const link: TarWriteEntry = { path: 'esc', type: 'symlink', linkname: '../../..' };
    expect(await code(flatten([link, f('esc/etc/passwd')]))).toBe('OCI_SYMLINK_ESCAPE');
    expect(await code(flatten([link], [f('esc/x')]))).toBe('OCI_SYMLINK_ESCAPE');
  });
  it('follows symlinks that stay inside the root (merged /usr)', async () => {
    const tree = await flatten(
      [d('usr/'), d('usr/bin/'), { path: 'bin', type: 'symlink', linkname: 'usr/bin' }],
      [f('bin/sh', 'sh')],
    );
    expect(tree.get('usr/bin/sh')?.inode.type).toBe('file');
    expect(tree.get('bin')?.inode.type).toBe('symlink');
  });
  it('symlink loops', async () => {
    const a: TarWriteEntry = { path: 'a', type: 'symlink', linkname: 'b' };
    const b: TarWriteEntry = { path: 'b', type: 'symlink', linkname: 'a' };
    expect(await code(flatten([a, b, f('a/x')]))).toBe('OCI_SYMLINK_LOOP');
  });
  it('hardlinks out of the root, to missing, whited-out or directory targets', async () => {
    expect(await code(flatten([{ path: 'h', type: 'hardlink', linkname: '../etc/shadow' }]))).toBe(
      'OCI_HARDLINK_ESCAPE',
    );
    expect(await code(flatten([{ path: 'h', type: 'hardlink', linkname: 'nope' }]))).toBe(
      'OCI_HARDLINK_MISSING',
    );
    expect(await code(flatten([f('t')], [wh('.wh.t'), { path: 'h', type: 'hardlink', linkname: 't' }]))).toBe(
      'OCI_HARDLINK_WHITED_OUT',
    );
    expect(await code(flatten([d('dir/'), { path: 'h', type: 'hardlink', linkname: 'dir' }]))).toBe(
      'OCI_HARDLINK_TO_DIRECTORY',
    );
  });
  it('a file replacing a directory this layer just filled, or the root', async () => {
    expect(await code(flatten([d('x/'), f('x/a'), f('x')]))).toBe('OCI_UNSAFE_REPLACE');
    expect(await code(flatten([f('.')]))).toBe('OCI_UNSAFE_REPLACE');
    // replacing a lower layer's directory is the normal unlink-and-recreate
    const tree = await flatten([d('x/'), f('x/a')], [f('x', 'file')]);
    expect(tree.get('x')?.inode.type).toBe('file');
  });
  it('members below a regular file', async () => {
    expect(await code(flatten([f('x'), f('x/y')]))).toBe('OCI_PATH_NOT_DIRECTORY');
  });
  it('a bare .wh. whiteout', async () => {
    expect(await code(flatten([wh('etc/.wh.')]))).toBe('OCI_WHITEOUT_INVALID');
  });
  it('limits on entries, total size, path and name length', async () => {
    const layer = memoryLayer(await tarBytes([f('a', 'aaaa'), f('b', 'bbbb'), f('c')]));
    await expect(flattenLayers({ layers: [layer], limits: { maxEntries: 2 } })).rejects.toMatchObject({
      code: 'OCI_LIMIT_ENTRIES',
    });
    await expect(flattenLayers({ layers: [layer], limits: { maxTotalSize: 6 } })).rejects.toMatchObject({
      code: 'OCI_LIMIT_SIZE',
    });
    const deep = memoryLayer(await tarBytes([f(`${'a/'.repeat(40)}x`)]));
    await expect(flattenLayers({ layers: [deep], limits: { maxPathLength: 50 } })).rejects.toMatchObject({
      code: 'OCI_LIMIT_PATH_LENGTH',
    });
    const wide = memoryLayer(await tarBytes([f('n'.repeat(300))]));
    await expect(flattenLayers({ layers: [wide] })).rejects.toMatchObject({ code: 'OCI_LIMIT_PATH_LENGTH' });
  });
  it('huge PAX records', async () => {
    const layer = memoryLayer(await tarBytes([f('x'.repeat(200))]));
    await expect(flattenLayers({ layers: [layer], limits: { maxMetadataSize: 64 } })).rejects.toMatchObject({
      code: 'OCI_TAR_METADATA_TOO_LARGE',
    });
  });
  it('a corrupt layer blob and a wrong diff id', async () => {
    const bytes = await tarBytes([f('a', 'hello')]);
    const layer = memoryLayer(bytes);
    await expect(
      flattenLayers({ layers: [{ ...layer, diffId: `sha256:${'0'.repeat(64)}` }] }),
    ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    const broken = Buffer.from(bytes);
    broken[100] = 0x39; // corrupt the header checksum area of the first member
    await expect(
      flattenLayers({ layers: [{ ...layer, open: () => Readable.from([broken]) }] }),
    ).rejects.toMatchObject({ code: 'OCI_TAR_INVALID' });
  });
});

describe('whiteout semantics (property)', () => {
  // Model: a flat directory of files; each layer adds files and whites some lower ones out.
  const name = fc.constantFrom('a', 'b', 'c', 'd', 'e');
  const layerArb = fc.record({
    adds: fc.uniqueArray(name, { maxLength: 4 }),
    removes: fc.uniqueArray(name, { maxLength: 3 }),
    opaque: fc.boolean(),
    whiteoutsFirst: fc.boolean(),
  });
  it('matches a model of lower-layer-only whiteouts and opaque dirs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(layerArb, { minLength: 1, maxLength: 4 }), async (layers) => {
        const model = new Map<string, string>();
        const tars: TarWriteEntry[][] = [];
        layers.forEach((layer, i) => {
          const adds = layer.adds.map((n) => f(`dir/${n}`, `${n}@${i}`));
          const outs = [
            ...layer.removes.map((n) => wh(`dir/.wh.${n}`)),
            ...(layer.opaque ? [wh('dir/.wh..wh..opq')] : []),
          ];
          tars.push([d('dir/'), ...(layer.whiteoutsFirst ? [...outs, ...adds] : [...adds, ...outs])]);
          if (layer.opaque) model.clear();
          for (const n of layer.removes) model.delete(n);
          for (const n of layer.adds) model.set(n, `${n}@${i}`);
        });
        const tree = await flatten(...tars);
        const got = new Map<string, string>();
        await tree.forEachContent(async (inode, data) => {
          const parts: Buffer[] = [];
          for await (const c of data) parts.push(c);
          got.set(String(inode.id), Buffer.concat(parts).toString());
        });
        const names = tree.children(tree.get('dir')!).map((n) => [n.name, got.get(String(n.inode.id))]);
        expect(names).toEqual([...model].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
      }),
      { numRuns: 150 },
    );
  });
});
