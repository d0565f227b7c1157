import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBaseImage } from '../../../examples/base/build.js';
import { flattenImage, openLayout } from '../src/index.js';
import { plain, snapshotDisk, snapshotTree, tempDir, umociUnpack } from './helpers.js';

const committed = fileURLToPath(new URL('../../../examples/base/layout', import.meta.url));

describe('examples/base', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterAll(() => cleanup());

  it('regenerates byte-identically (deterministic digests)', async () => {
    const descriptor = await buildBaseImage(join(dir, 'rebuilt'));
    const layout = await openLayout({ dir: committed });
    expect((await layout.resolve('latest')).digest).toBe(descriptor.digest);
    expect(await readFile(join(dir, 'rebuilt', 'index.json'), 'utf8')).toBe(
      await readFile(join(committed, 'index.json'), 'utf8'),
    );
  });

  it('flattens to what umoci unpacks', async () => {
    const { tree } = await flattenImage({ layout: committed, reference: 'latest' });
    expect(tree.get('usr/share/doc/README')).toBeUndefined();
    expect(tree.get('tmp')!.inode.mode).toBe(0o1777);
    const parts: Buffer[] = [];
    for await (const c of tree.openContent(tree.get('usr/bin/hello')!.inode)) parts.push(c as Buffer);
    expect(Buffer.concat(parts).toString()).toContain('hello from the drover base image');
    const disk = await snapshotDisk(await umociUnpack(committed, 'latest', join(dir, 'bundle')));
    const ours = await snapshotTree(tree);
    disk.delete('');
    ours.delete('');
    expect(plain(ours)).toEqual(plain(disk));
  });
});
