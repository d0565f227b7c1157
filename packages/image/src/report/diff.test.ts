import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PartitionRecord } from '@drover/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debianTree, fixtureTree, writeOutputDir } from '../sbom/test-helpers.js';
import { diffImages, formatBytes, renderImageDiff } from './diff.js';

let dir: string;
const part = (number: number, label: string, size: number, digest?: string): PartitionRecord => ({
  number,
  label,
  typeGuid: '5526016a-1a97-4ea4-b39a-b7c8c6ca4502',
  uuid: `00000000-0000-4000-8000-00000000000${number}`,
  offset: number * 1048576,
  size,
  attributes: '0',
  ...(digest ? { digest: digest as `sha256:${string}` } : {}),
});

const OLD_STATUS_EXTRA =
  'Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0\n';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-image-diff-'));
  const oldTree = debianTree({
    'etc/motd': 'Welcome to 1.0\n',
    'etc/old.conf': 'remove me',
    'etc/mode': { content: 'x', mode: 0o644 },
    'etc/owned': { content: 'y', uid: 0, gid: 0 },
    'etc/link': { target: 'motd' },
    'var/lib/dpkg/status.d/tzdata': OLD_STATUS_EXTRA,
  });
  const newTree = debianTree({
    'etc/motd': 'Welcome to version 1.1\n',
    'etc/mode': { content: 'x', mode: 0o600 },
    'etc/owned': { content: 'y', uid: 1000, gid: 1000 },
    'etc/link': { target: 'hostname' },
    'etc/hostname': 'node\n',
    'var/lib/dpkg/status': [
      'Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4+deb12u6\n',
      'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n',
      'Package: busybox\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.36.1-1\n',
      'Package: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.88.1-10\n',
    ].join('\n'),
  });
  await writeOutputDir(join(dir, 'old'), {
    tree: oldTree,
    name: 'demo',
    version: '1.0.0',
    record: {
      verity: {
        hashType: 1,
        algorithm: 'sha256',
        dataBlockSize: 4096,
        hashBlockSize: 4096,
        dataBlocks: 100,
        salt: '-',
        rootHash: 'a'.repeat(64),
      },
      filesystem: { type: 'erofs', size: 409600 },
      partitions: [
        part(1, 'DROVER-ROOT-A', 8 << 20, `sha256:${'1'.repeat(64)}`),
        part(2, 'DROVER-HASH-A', 1 << 20),
      ],
    },
  });
  await writeOutputDir(join(dir, 'new'), {
    tree: newTree,
    name: 'demo',
    version: '1.1.0',
    record: {
      verity: {
        hashType: 1,
        algorithm: 'sha256',
        dataBlockSize: 4096,
        hashBlockSize: 4096,
        dataBlocks: 110,
        salt: '-',
        rootHash: 'b'.repeat(64),
      },
      filesystem: { type: 'erofs', size: 450560 },
      partitions: [
        part(1, 'DROVER-ROOT-A', 16 << 20, `sha256:${'2'.repeat(64)}`),
        part(2, 'DROVER-HASH-A', 1 << 20),
        part(3, 'DROVER-DATA', 4 << 20),
      ],
    },
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('diffImages', () => {
  it('reports files, packages, partitions, sizes and root hashes', async () => {
    const diff = await diffImages({ old: join(dir, 'old'), new: join(dir, 'new', 'image.json') });
    expect(diff.old).toMatchObject({ name: 'demo', version: '1.0.0', rootHash: 'a'.repeat(64), packages: 4 });
    expect(diff.new).toMatchObject({ version: '1.1.0', rootHash: 'b'.repeat(64), packages: 4 });
    expect(diff.rootHashChanged).toBe(true);

    const files = diff.files!;
    expect(files.added.map((f) => f.path)).toEqual(['/etc/hostname']);
    expect(files.added[0]).toMatchObject({ type: 'file', newSize: 5, sizeDelta: 5 });
    expect(files.removed.map((f) => f.path)).toEqual([
      '/etc/old.conf',
      '/var/lib/dpkg/status.d',
      '/var/lib/dpkg/status.d/tzdata',
    ]);
    const changed = new Map(files.changed.map((f) => [f.path, f]));
    expect(changed.get('/etc/motd')).toMatchObject({
      changes: ['content', 'size'],
      oldSize: 15,
      newSize: 23,
      sizeDelta: 8,
    });
    expect(changed.get('/etc/mode')).toMatchObject({
      changes: ['mode'],
      details: { mode: ['0644', '0600'] },
    });
    expect(changed.get('/etc/owned')).toMatchObject({
      changes: ['owner'],
      details: { owner: ['0:0', '1000:1000'] },
    });
    expect(changed.get('/etc/link')).toMatchObject({
      changes: ['target'],
      details: { target: ['motd', 'hostname'] },
    });
    expect(changed.has('/usr/bin/busybox')).toBe(false);

    expect(diff.packages).toEqual({
      added: [{ name: 'curl', kind: 'deb amd64', newVersion: '7.88.1-10' }],
      removed: [{ name: 'tzdata', kind: 'deb all', oldVersion: '2024a-0' }],
      changed: [
        {
          name: 'base-files',
          kind: 'deb amd64',
          oldVersion: '12.4+deb12u5',
          newVersion: '12.4+deb12u6',
          direction: 'upgrade',
        },
        {
          name: 'busybox',
          kind: 'deb amd64',
          oldVersion: '1:1.35.0-4+b3',
          newVersion: '1:1.36.1-1',
          direction: 'upgrade',
        },
      ],
      unchanged: 1,
    });
    expect(diff.partitions).toEqual([
      expect.objectContaining({ number: 1, sizeDelta: 8 << 20, changes: ['size', 'content'] }),
      expect.objectContaining({ number: 2, sizeDelta: 0, changes: [] }),
      expect.objectContaining({ number: 3, label: 'DROVER-DATA', changes: ['added'] }),
    ]);
    expect(diff.totals).toMatchObject({
      filesAdded: 1,
      filesRemoved: 3,
      filesChanged: diff.files!.changed.length,
      packagesAdded: 1,
      packagesRemoved: 1,
      packagesChanged: 2,
      filesystemSizeDelta: 40960,
    });
    expect(diff.artifacts.map((a) => `${a.name}:${a.status}`)).toEqual(['files:changed', 'sbom:changed']);
  });

  it('renders a text report and a Markdown PR comment', async () => {
    const diff = await diffImages({ old: join(dir, 'old'), new: join(dir, 'new') });
    const md = renderImageDiff(diff, { format: 'markdown' });
    expect(md).toContain('### Image diff: demo 1.0.0 → demo 1.1.0');
    expect(md).toContain('| busybox | deb amd64 | 1:1.35.0-4+b3 | 1:1.36.1-1 |');
    expect(md).toContain('| changed | `/etc/motd` | 15 B → 23 B (+8 B) | content, size |');
    expect(md).toContain('| changed | `/etc/mode` | 1 B | mode 0644 → 0600 |');
    expect(md).toContain(`Root hash: \`${'a'.repeat(64)}\` → \`${'b'.repeat(64)}\``);
    expect(md).toMatch(/\| 1 \| DROVER-ROOT-A \| 8\.0 MiB \| 16\.0 MiB \| size, content \(\+8\.0 MiB\) \|/);
    const reverse = renderImageDiff(await diffImages({ old: join(dir, 'new'), new: join(dir, 'old') }), {
      format: 'markdown',
    });
    expect(reverse).toContain('| busybox | deb amd64 | 1:1.36.1-1 | 1:1.35.0-4+b3 (downgrade) |');
    const text = renderImageDiff(diff, { maxFiles: 2 });
    expect(text).toContain('Image diff: demo 1.0.0 → demo 1.1.0');
    expect(text).toMatch(/… and \d+ more/);
    expect(text).not.toContain('|');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(-512)).toBe('-512 B');
  });

  it('diffing an image with itself reports no changes', async () => {
    const diff = await diffImages({ old: join(dir, 'old'), new: join(dir, 'old') });
    expect(diff.totals).toMatchObject({
      filesAdded: 0,
      filesRemoved: 0,
      filesChanged: 0,
      packagesChanged: 0,
    });
    expect(diff.rootHashChanged).toBe(false);
    expect(diff.partitions.every((p) => p.changes.length === 0)).toBe(true);
  });

  it('fails clearly on missing, tampered or corrupt inputs', async () => {
    await expect(diffImages({ old: join(dir, 'nope'), new: join(dir, 'new') })).rejects.toMatchObject({
      code: 'IMAGE_NOT_FOUND',
      kind: 'not-found',
    });
    const bad = join(dir, 'bad');
    await writeOutputDir(bad, { tree: debianTree(), name: 'demo', version: '0' });
    await writeFile(join(bad, 'files.json'), '{"schemaVersion":1,"files":[]}\n');
    await expect(diffImages({ old: bad, new: join(dir, 'new') })).rejects.toMatchObject({
      code: 'IMAGE_ARTIFACT_DIGEST',
      kind: 'integrity',
    });
    await rm(join(bad, 'files.json'));
    await expect(diffImages({ old: bad, new: join(dir, 'new') })).rejects.toMatchObject({
      code: 'IMAGE_ARTIFACT_MISSING',
    });
    await writeFile(join(bad, 'image.json'), '{ not json');
    await expect(diffImages({ old: bad, new: join(dir, 'new') })).rejects.toMatchObject({
      code: 'IMAGE_RECORD_INVALID',
    });
    await writeFile(join(bad, 'image.json'), '{"schemaVersion":2,"name":"x","version":"1","artifacts":[]}');
    await expect(diffImages({ old: bad, new: join(dir, 'new') })).rejects.toMatchObject({
      code: 'IMAGE_RECORD_VERSION',
    });
  });

  it('notes what it cannot compare when a record has no files.json or SBOM', async () => {
    const bare = join(dir, 'bare');
    await writeOutputDir(bare, { tree: debianTree(), name: 'demo', version: '0' });
    const record = JSON.parse(await readFile(join(bare, 'image.json'), 'utf8'));
    record.artifacts = [];
    await writeFile(join(bare, 'image.json'), JSON.stringify(record));
    const diff = await diffImages({ old: bare, new: join(dir, 'new') });
    expect(diff.files).toBeUndefined();
    expect(diff.packages).toBeUndefined();
    expect(diff.notes).toEqual([
      'file changes not compared: old image has no files.json',
      'package changes not compared: old image has no SBOM',
    ]);
    expect(renderImageDiff(diff)).toContain('note: file changes not compared');
  });
});

describe('diffImages (property)', () => {
  it('partitions the union of paths into added, removed, changed and unchanged', async () => {
    const entry = fc.record({
      content: fc.constantFrom('a', 'b', 'cc', ''),
      mode: fc.constantFrom(0o644, 0o600),
      uid: fc.constantFrom(0, 1),
    });
    const tree = fc.dictionary(fc.constantFrom('f1', 'f2', 'd/f3', 'd/f4', 'e/f5'), entry, { maxKeys: 5 });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(tree, tree, async (a, b) => {
        const base = join(dir, `prop-${run++}`);
        const toTree = (t: typeof a) =>
          fixtureTree(Object.fromEntries(Object.entries(t).map(([p, e]) => [p, { ...e, gid: e.uid }])));
        await writeOutputDir(join(base, 'a'), { tree: toTree(a), name: 'p', version: '1' });
        await writeOutputDir(join(base, 'b'), { tree: toTree(b), name: 'p', version: '2' });
        const diff = await diffImages({ old: join(base, 'a'), new: join(base, 'b') });
        const files = diff.files!;
        const fileKeys = (t: typeof a) => Object.keys(t).map((k) => `/${k}`);
        for (const k of fileKeys(b)) {
          const inOld = k.slice(1) in a;
          if (!inOld) expect(files.added.map((f) => f.path)).toContain(k);
        }
        for (const k of fileKeys(a)) {
          if (!(k.slice(1) in b)) expect(files.removed.map((f) => f.path)).toContain(k);
        }
        for (const [k, e] of Object.entries(b)) {
          const o = a[k];
          if (!o) continue;
          const same = o.content === e.content && o.mode === e.mode && o.uid === e.uid;
          expect(files.changed.some((f) => f.path === `/${k}`)).toBe(!same);
        }
        const union = new Set([...fixtureTree(a).walk(), ...fixtureTree(b).walk()].map((w) => w.path));
        expect(files.added.length + files.removed.length + files.changed.length + files.unchanged).toBe(
          union.size,
        );
        expect(diff.totals.fileBytesDelta).toBe(
          Object.values(b).reduce((n, e) => n + e.content.length, 0) -
            Object.values(a).reduce((n, e) => n + e.content.length, 0),
        );
        await rm(base, { recursive: true, force: true });
      }),
      { numRuns: 25 },
    );
  });
});
