import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fileManifest } from './files.js';
import { findPackages, packageUrl, parseDeb822, resolveTreePath, scanPackageDatabases } from './packages.js';
import { generateSbom, IMAGE_SPDX_ID, sbomPackages, spdxFileId } from './spdx.js';
import { debianTree, fixtureTree, treeDigests } from './test-helpers.js';

const schema = JSON.parse(
  await readFile(new URL('./fixtures/spdx-2.3.schema.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);

/** Checks of the SPDX 2.3 specification the JSON schema cannot express. */
function specProblems(doc: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const ids = new Set<string>(['SPDXRef-DOCUMENT']);
  const elements = [
    ...((doc.packages as Record<string, unknown>[]) ?? []),
    ...((doc.files as Record<string, unknown>[]) ?? []),
  ];
  for (const e of elements) {
    const id = e.SPDXID as string;
    if (!/^SPDXRef-[A-Za-z0-9.-]+$/.test(id)) problems.push(`bad id ${id}`);
    if (ids.has(id)) problems.push(`duplicate id ${id}`);
    ids.add(id);
  }
  if (typeof doc.documentNamespace !== 'string' || !/^https?:\/\/[^#]+$/.test(doc.documentNamespace)) {
    problems.push('documentNamespace must be a URI without #');
  }
  for (const f of (doc.files as Record<string, unknown>[]) ?? []) {
    const algos = (f.checksums as { algorithm: string }[]).map((c) => c.algorithm);
    if (!algos.includes('SHA1')) problems.push(`file ${f.fileName} has no SHA1`);
  }
  for (const p of (doc.packages as Record<string, unknown>[]) ?? []) {
    if (p.filesAnalyzed !== false && !p.packageVerificationCode) {
      problems.push(`package ${p.name}: filesAnalyzed needs packageVerificationCode`);
    }
    for (const f of (p.hasFiles as string[]) ?? []) if (!ids.has(f)) problems.push(`hasFiles ${f} unknown`);
  }
  for (const r of (doc.relationships as Record<string, string>[]) ?? []) {
    if (!ids.has(r.spdxElementId!)) problems.push(`relationship from unknown ${r.spdxElementId}`);
    if (!ids.has(r.relatedSpdxElement!)) problems.push(`relationship to unknown ${r.relatedSpdxElement}`);
  }
  if (
    !(doc.relationships as Record<string, string>[]).some(
      (r) => r.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES',
    )
  ) {
    problems.push('no DESCRIBES relationship');
  }
  return problems;
}

describe('fileManifest', () => {
  it('lists every entry in path order with digests, hardlinks, symlinks and devices', async () => {
    const tree = debianTree({
      'dev/null': { type: 'char', mode: 0o666 },
      'etc/empty': '',
      'a/b': 'x',
      'a-c': { link: 'a/b' },
    });
    const manifest = fileManifest({ tree, digests: await treeDigests(tree) });
    const paths = manifest.files.map((f) => f.path);
    expect(paths[0]).toBe('/');
    expect(paths).toEqual([...paths].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    expect(paths.indexOf('/a-c')).toBeLessThan(paths.indexOf('/a/b'));
    expect(manifest.files.find((f) => f.path === '/a/b')!.linkTo).toBe('/a-c');
    expect(paths).toHaveLength(tree.summary().entries);
    const byPath = new Map(manifest.files.map((f) => [f.path, f]));
    expect(byPath.get('/bin')).toMatchObject({ type: 'symlink', target: 'usr/bin', size: 0 });
    expect(byPath.get('/usr/bin/busybox')).toMatchObject({
      type: 'file',
      mode: 0o755,
      size: 11,
      sha1: createHash('sha1').update('ELF busybox').digest('hex'),
      sha256: `sha256:${createHash('sha256').update('ELF busybox').digest('hex')}`,
    });
    expect(byPath.get('/usr/bin/sh')).toMatchObject({ linkTo: '/usr/bin/busybox' });
    expect(byPath.get('/usr/bin/busybox')!.linkTo).toBeUndefined();
    expect(byPath.get('/dev/null')).toMatchObject({ type: 'char', device: '1:3' });
    expect(byPath.get('/etc/empty')).toMatchObject({
      size: 0,
      sha256: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    });
  });

  it('fails clearly when a digest is missing', () => {
    const tree = fixtureTree({ a: 'data' });
    expect(() => fileManifest({ tree, digests: new Map() })).toThrow(
      expect.objectContaining({ code: 'SBOM_DIGEST_MISSING' }),
    );
  });
});

describe('findPackages', () => {
  it('reads dpkg status with purls, sources and file lists through merged-/usr symlinks', async () => {
    const packages = await findPackages({ tree: debianTree() });
    expect(packages.map((p) => p.name)).toEqual(['base-files', 'busybox', 'libc6']);
    const [base, busybox, libc] = packages;
    expect(base).toMatchObject({
      type: 'deb',
      version: '12.4+deb12u5',
      arch: 'amd64',
      purl: 'pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12',
      files: ['/etc/os-release', '/usr/lib/os-release'],
    });
    expect(busybox).toMatchObject({
      version: '1:1.35.0-4+b3',
      purl: 'pkg:deb/debian/busybox@1%3A1.35.0-4%2Bb3?arch=amd64&distro=debian-12',
      files: ['/usr/bin/busybox', '/usr/bin/sh'],
    });
    expect(busybox!.source).toBeUndefined();
    expect(libc).toMatchObject({
      source: 'glibc',
      files: ['/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/share/doc/libc6/copyright'],
    });
  });

  it('reads distroless status.d with md5sums lists', async () => {
    const tree = fixtureTree({
      'etc/os-release': 'ID=debian\nVERSION_ID=12\n',
      'var/lib/dpkg/status.d/tzdata': 'Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n',
      'var/lib/dpkg/status.d/tzdata.md5sums': 'd41d8cd98f00b204e9800998ecf8427e  usr/share/zoneinfo/UTC\n',
      'usr/share/zoneinfo/UTC': 'TZif',
    });
    const scan = await scanPackageDatabases({ tree });
    expect(scan.databases).toEqual([{ type: 'deb', path: '/var/lib/dpkg/status.d', packages: 1 }]);
    expect(scan.packages[0]).toMatchObject({
      name: 'tzdata',
      arch: 'all',
      files: ['/usr/share/zoneinfo/UTC'],
      purl: 'pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12',
    });
  });

  it('reads apk installed with licenses and file lists', async () => {
    const tree = fixtureTree({
      'etc/os-release': 'ID=alpine\nVERSION_ID=3.20.3\n',
      'lib/apk/db/installed': [
        'C:Q1abc=',
        'P:musl',
        'V:1.2.5-r0',
        'A:x86_64',
        'L:MIT',
        'o:musl',
        'F:lib',
        'R:ld-musl-x86_64.so.1',
        '',
        'P:busybox',
        'V:1.36.1-r29',
        'A:x86_64',
        'L:GPL-2.0-only',
        'F:bin',
        'R:busybox',
        '',
      ].join('\n'),
      'lib/ld-musl-x86_64.so.1': 'ELF',
      'bin/busybox': 'ELF',
    });
    const scan = await scanPackageDatabases({ tree });
    expect(scan.packages).toEqual([
      {
        name: 'busybox',
        version: '1.36.1-r29',
        type: 'apk',
        arch: 'x86_64',
        license: 'GPL-2.0-only',
        purl: 'pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3',
        files: ['/bin/busybox'],
      },
      {
        name: 'musl',
        version: '1.2.5-r0',
        type: 'apk',
        arch: 'x86_64',
        license: 'MIT',
        purl: 'pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3',
        files: ['/lib/ld-musl-x86_64.so.1'],
      },
    ]);
  });

  it('detects an rpm database it cannot read and says so', async () => {
    const tree = fixtureTree({ 'var/lib/rpm/rpmdb.sqlite': 'SQLite format 3' });
    const scan = await scanPackageDatabases({ tree });
    expect(scan.packages).toEqual([]);
    expect(scan.databases).toEqual([{ type: 'rpm', path: '/var/lib/rpm/rpmdb.sqlite', packages: 0 }]);
    expect(scan.warnings[0]).toMatch(/rpm database .* not read/);
    const warned: string[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (m: string) => warned.push(m) };
    expect(await findPackages({ tree }, { logger })).toEqual([]);
    expect(warned).toHaveLength(1);
  });

  it('finds nothing in a tree without databases', async () => {
    expect(await scanPackageDatabases({ tree: fixtureTree({ 'etc/hostname': 'x' }) })).toEqual({
      packages: [],
      databases: [],
      warnings: [],
    });
  });

  it('parses deb822 continuation lines and resolves symlink loops safely', () => {
    expect(parseDeb822('A: 1\nB: x\n y\n\n\nA: 2\n')).toEqual([{ A: '1', B: 'x\ny' }, { A: '2' }]);
    const tree = fixtureTree({
      a: { target: 'b' },
      b: { target: 'a' },
      'c/d': 'x',
      e: { target: '/c/../c' },
    });
    expect(resolveTreePath(tree, 'a/x')).toBeUndefined();
    expect(resolveTreePath(tree, 'e/d')?.path).toBe('c/d');
    expect(packageUrl('deb', 'Debian', 'libstdc++6', '12.2.0-14', { arch: 'amd64' })).toBe(
      'pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64',
    );
  });
});

describe('generateSbom', () => {
  const options = async (tree = debianTree()) => ({
    name: 'demo',
    version: '1.0.0',
    files: fileManifest({ tree, digests: await treeDigests(tree) }),
    packages: await findPackages({ tree }),
    created: '2023-11-14T22:13:20.000Z',
    creator: 'drover-0.0.0',
    namespaceSeed: 'sha256:abc',
  });

  it('is valid SPDX 2.3 (official JSON schema plus the spec rules) and links package files', async () => {
    const doc = generateSbom(await options());
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    expect(specProblems(doc)).toEqual([]);
    expect((doc.creationInfo as { created: string }).created).toBe('2023-11-14T22:13:20Z');
    const files = doc.files as { fileName: string; checksums: unknown[] }[];
    expect(files.map((f) => f.fileName)).toContain('./usr/bin/sh');
    expect(files.find((f) => f.fileName === './usr/bin/busybox')!.checksums).toHaveLength(2);
    const rels = doc.relationships as { spdxElementId: string; relatedSpdxElement: string }[];
    const libc = (doc.packages as { SPDXID: string; name: string }[]).find((p) => p.name === 'libc6')!;
    expect(rels).toContainEqual({
      spdxElementId: libc.SPDXID,
      relationshipType: 'CONTAINS',
      relatedSpdxElement: spdxFileId('/usr/lib/x86_64-linux-gnu/libc.so.6'),
    });
    expect(rels).toContainEqual({
      spdxElementId: IMAGE_SPDX_ID,
      relationshipType: 'CONTAINS',
      relatedSpdxElement: libc.SPDXID,
    });
    expect(sbomPackages(doc).map((p) => `${p.name}@${p.version}`)).toEqual([
      'base-files@12.4+deb12u5',
      'busybox@1:1.35.0-4+b3',
      'libc6@2.36-9+deb12u4',
    ]);
  });

  it('is deterministic and the namespace follows the seed', async () => {
    const a = JSON.stringify(generateSbom(await options()));
    const b = JSON.stringify(generateSbom(await options()));
    expect(a).toBe(b);
    const c = generateSbom({ ...(await options()), namespaceSeed: 'sha256:def' });
    expect(c.documentNamespace).not.toBe(JSON.parse(a).documentNamespace);
  });

  it('puts warnings into the creation comment and rejects a bad date', async () => {
    const doc = generateSbom({ ...(await options()), warnings: ['rpm database not read'] });
    expect((doc.creationInfo as { comment: string }).comment).toBe('rpm database not read');
    expect(validate(doc)).toBe(true);
    const bad = { ...(await options()), created: 'yesterday' };
    expect(() => generateSbom(bad)).toThrow(expect.objectContaining({ code: 'SBOM_BAD_DATE' }));
  });

  it('stays valid for random trees and package names (property)', async () => {
    const name = fc.stringMatching(/^[a-z0-9][a-z0-9+.-]{0,20}$/);
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.tuple(name, fc.stringMatching(/^[0-9][0-9a-z.+~:-]{0,12}$/)), {
          selector: (t) => t[0],
          maxLength: 6,
        }),
        fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9 _.+-]{0,10}$/), { maxLength: 8 }),
        async (pkgs, files) => {
          const entries: Record<string, string> = {};
          for (const f of files) entries[`data/${f}`] = f;
          entries['etc/os-release'] = 'ID=debian\n';
          entries['var/lib/dpkg/status'] = pkgs
            .map(([n, v]) => `Package: ${n}\nStatus: install ok installed\nVersion: ${v}\n`)
            .join('\n');
          const tree = fixtureTree(entries);
          const doc = generateSbom(await options(tree));
          expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
          expect(specProblems(doc)).toEqual([]);
          expect(sbomPackages(doc)).toHaveLength(pkgs.length);
        },
      ),
      { numRuns: 40 },
    );
  });
});
