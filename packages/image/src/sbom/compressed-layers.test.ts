import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flattenImage, openLayout, type TarWriteEntry, writeImage } from '@drover/oci';
import { afterAll, describe, expect, it } from 'vitest';
import { scanPackageDatabases } from './packages.js';

let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const file = (path: string, content: string): TarWriteEntry => ({
  path,
  type: 'file',
  mode: 0o644,
  content,
  mtime: 0,
});

describe('package databases in compressed layers', () => {
  it('reads every database file in one partial pass per layer and batch, not one decompression per file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-image-sbom-gz-'));
    const names = Array.from({ length: 40 }, (_, i) => `pkg${String(i).padStart(2, '0')}`);
    const entries: TarWriteEntry[] = [
      file('etc/os-release', 'ID=debian\nVERSION_ID=12\n'),
      ...names.map((n) => file(`usr/share/${n}/data`, n)),
      ...names.map((n) => file(`var/lib/dpkg/info/${n}.list`, `/.\n/usr/share/${n}/data\n`)),
      file(
        'var/lib/dpkg/status',
        names.map((n) => `Package: ${n}\nStatus: install ok installed\nVersion: 1.0-${n}\n`).join('\n'),
      ),
      file('zz/padding', 'x'.repeat(100_000)),
    ];
    const layout = await openLayout({ dir: join(dir, 'layout'), create: true });
    await writeImage({ layout, tag: 'latest', layers: [{ entries, compression: 'gzip' }], config: {} });
    const { tree } = await flattenImage({ layout: join(dir, 'layout'), reference: 'latest' });
    let opens = 0;
    for (const layer of tree.layers) {
      const open = layer.open.bind(layer);
      layer.open = () => {
        opens++;
        return open();
      };
    }
    const scan = await scanPackageDatabases({ tree });
    expect(scan.packages).toHaveLength(40);
    expect(scan.packages[7]).toMatchObject({
      name: 'pkg07',
      version: '1.0-pkg07',
      files: ['/usr/share/pkg07/data'],
    });
    expect(opens).toBeLessThanOrEqual(2);
  });
});
