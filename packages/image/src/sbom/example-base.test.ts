import { fileURLToPath } from 'node:url';
import { flattenImage } from '@drover/oci';
import { describe, expect, it } from 'vitest';
import { fileManifest } from './files.js';
import { scanPackageDatabases } from './packages.js';
import { treeDigests } from './test-helpers.js';

const layout = fileURLToPath(new URL('../../../../examples/base/layout', import.meta.url));

describe('examples/base package database', () => {
  it('lists base-files, busybox and libc6 with files that exist in the flattened base', async () => {
    const { tree } = await flattenImage({ layout, reference: 'latest' });
    const scan = await scanPackageDatabases({ tree });
    expect(scan.warnings).toEqual([]);
    expect(scan.os).toMatchObject({ id: 'drover-base', versionId: '1' });
    expect(scan.packages.map((p) => `${p.name}@${p.version}`)).toEqual([
      'base-files@1.2.0',
      'busybox@1:1.36.1-3+drover1',
      'libc6@2.36-9+drover1',
    ]);
    const files = new Set(
      fileManifest({ tree, digests: await treeDigests(tree) })
        .files.filter((f) => f.type !== 'dir')
        .map((f) => f.path),
    );
    for (const p of scan.packages) {
      expect(p.files!.length).toBeGreaterThan(1);
      for (const f of p.files!) expect(files.has(f), `${p.name}: ${f}`).toBe(true);
    }
    expect(scan.packages[1]!.files).toEqual([
      '/usr/bin/busybox',
      '/usr/bin/hello',
      '/usr/share/doc/busybox/copyright',
    ]);
  });
});
