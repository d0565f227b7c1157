import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageRecord, ProgressEvent } from '@drover/core';
import { verifyRootHashSignature } from '@drover/verity';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readDisk } from '../gpt/disk.js';
import { GPT_ATTR_GROWFS } from '../gpt/layout.js';
import { build } from './build.js';
import { imageRecordJsonSchema } from './record-schema.js';
import { checkReproducible, compareVariantBuilds, firstDifference } from './reproducible.js';
import type { VariantBuild } from './types.js';

/** A recipe variable reference, spelled out so it is not mistaken for a template placeholder. */
const FLAVOR = ['$', '{flavor}'].join('');
const EXAMPLES = fileURLToPath(new URL('../../../../examples/', import.meta.url));
const validateRecord = new Ajv2020({ allErrors: true, strict: false }).compile(imageRecordJsonSchema);

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'drover-build-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

let counter = 0;
/** A fresh copy of examples/{base/layout,minimal,ab-verity} (the ab disk shrunk so tests stay fast). */
async function exampleTree(): Promise<string> {
  const root = join(work, `tree-${++counter}`);
  await cp(join(EXAMPLES, 'base', 'layout'), join(root, 'base', 'layout'), { recursive: true });
  await cp(join(EXAMPLES, 'minimal'), join(root, 'minimal'), { recursive: true });
  await cp(join(EXAMPLES, 'ab-verity'), join(root, 'ab-verity'), { recursive: true });
  const recipe = join(root, 'ab-verity', 'recipe.yaml');
  const text = (await readFile(recipe, 'utf8'))
    .replace('size: 4GiB', 'size: 96MiB')
    .replace('root: 1GiB', 'root: 8MiB')
    .replace('hash: 32MiB', 'hash: 1MiB')
    .replace('boot: 40MiB', 'boot: 1MiB')
    .replace('reserved: 16MiB', 'reserved: 1MiB')
    .replace('private: 16MiB', 'private: 1MiB');
  await writeFile(recipe, text);
  return root;
}

const cached = (b: VariantBuild): Record<string, boolean> =>
  Object.fromEntries(b.steps.map((s) => [s.name, s.cached]));

function sha256(path: string): string {
  return execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0]!;
}

describe('build: the minimal example (filesystem + verity, no disk)', () => {
  let root: string;
  let first: VariantBuild;
  const cacheDir = () => join(root, 'cache');

  beforeAll(async () => {
    root = await exampleTree();
    const result = await build({
      recipe: join(root, 'minimal', 'recipe.yaml'),
      outDir: join(root, 'out'),
      cacheDir: cacheDir(),
    });
    first = result.builds[0]!;
  });

  it('writes a complete, schema-valid record with artifacts whose digests match the files', async () => {
    const r = first.record;
    expect(validateRecord(r), JSON.stringify(validateRecord.errors)).toBe(true);
    expect(r).toMatchObject({
      schemaVersion: 1,
      name: 'minimal',
      version: '0.1.0',
      variant: 'default',
      arch: 'amd64',
      filesystem: { type: 'erofs' },
      builder: { name: 'drover' },
      sbom: { path: 'sbom.spdx.json', format: 'spdx-2.3' },
    });
    expect(r.baseImages).toEqual([
      { ref: '../base/layout', digest: expect.stringMatching(/^sha256:/), platform: 'linux/amd64' },
    ]);
    expect(r.artifacts.map((a) => a.name)).toEqual(['root', 'root-verity', 'sbom', 'files']);
    for (const a of r.artifacts) {
      expect(`sha256:${sha256(join(first.outDir, a.path))}`).toBe(a.digest);
      expect((await stat(join(first.outDir, a.path))).size).toBe(a.size);
    }
    expect(JSON.stringify(r)).not.toContain(root);
    const lock = await readFile(join(root, 'minimal', 'drover.lock'));
    expect(r.lockDigest).toBe(`sha256:${createHash('sha256').update(lock).digest('hex')}`);
    expect(r.created).toBe(
      new Date(JSON.parse(lock.toString()).variants.default.sourceDateEpoch * 1000)
        .toISOString()
        .replace('.000Z', 'Z'),
    );
    expect(first.recordPath).toBe(join(root, 'out', 'image.json'));
    expect(JSON.parse(await readFile(first.recordPath, 'utf8'))).toEqual(r);
  });

  it('the hash tree verifies with veritysetup and the kernel argument names the root hash', () => {
    const v = first.record.verity!;
    execFileSync('veritysetup', [
      'verify',
      join(first.outDir, 'root.img'),
      join(first.outDir, 'root.verity'),
      v.rootHash,
    ]);
    const dump = execFileSync('veritysetup', ['dump', join(first.outDir, 'root.verity')], {
      encoding: 'utf8',
    });
    expect(dump).toContain(v.uuid!);
    expect(dump).toContain(v.salt);
    expect(first.record.kernelArguments).toContain(`roothash=${v.rootHash}`);
    execFileSync('fsck.erofs', [join(first.outDir, 'root.img')]);
  });

  it('a rebuild with nothing changed serves every step from the cache, skips flattening and takes < 1 s', async () => {
    const t0 = performance.now();
    const again = (
      await build({
        recipe: join(root, 'minimal', 'recipe.yaml'),
        outDir: join(root, 'out'),
        cacheDir: cacheDir(),
      })
    ).builds[0]!;
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(cached(again)).toMatchObject({
      base: true,
      layers: true,
      normalize: true,
      filesystem: true,
      sbom: true,
      verity: true,
    });
    expect(again.record).toEqual(first.record);
    expect(again.steps.every((s) => typeof s.durationMs === 'number')).toBe(true);
  });

  it('--no-cache reruns every step and gives the same bytes', async () => {
    const again = (
      await build({
        recipe: join(root, 'minimal', 'recipe.yaml'),
        outDir: join(root, 'out-nc'),
        cacheDir: cacheDir(),
        noCache: true,
      })
    ).builds[0]!;
    expect(again.steps.filter((s) => s.cached)).toEqual([]);
    expect(again.record).toEqual(first.record);
    expect(await readdir(join(root, 'out-nc'))).not.toContain(expect.stringMatching(/^\.drover-build/));
  });

  it('--check-reproducible builds a second time without the cache and finds no difference', async () => {
    const report = await checkReproducible({
      recipe: join(root, 'minimal', 'recipe.yaml'),
      outDir: join(root, 'out'),
      cacheDir: cacheDir(),
    });
    expect(report.reproducible).toBe(true);
    expect(report.differences).toEqual([]);
    expect(report.compared).toBe(5);
    await expect(stat(report.secondOutDir)).rejects.toThrow();
  });

  it('compareVariantBuilds names the first differing artifact and byte offset', async () => {
    const copy = join(root, 'out-copy');
    await cp(first.outDir, copy, { recursive: true });
    const img = join(copy, 'root.img');
    const bytes = await readFile(img);
    bytes[1100] = bytes[1100]! ^ 0xff;
    await rm(img, { force: true });
    await writeFile(img, bytes);
    const record = structuredClone(first.record);
    record.artifacts[0]!.digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    await rm(join(copy, 'image.json'), { force: true });
    await writeFile(join(copy, 'image.json'), `${JSON.stringify(record, null, 2)}\n`);
    const other: VariantBuild = { ...first, outDir: copy, record, recordPath: join(copy, 'image.json') };
    const result = await compareVariantBuilds(first, other);
    expect(result.differences[0]).toEqual({
      variant: 'default',
      artifact: 'root',
      path: 'root.img',
      offset: 1100,
    });
    expect(result.differences[1]).toMatchObject({ artifact: 'record', path: 'image.json' });
  });
});

describe('build: the ab-verity example (A/B disk)', () => {
  let root: string;
  let first: VariantBuild;
  const opts = () => ({
    recipe: join(root, 'ab-verity', 'recipe.yaml'),
    outDir: join(root, 'out'),
    cacheDir: join(root, 'cache'),
  });

  beforeAll(async () => {
    root = await exampleTree();
    first = (await build(opts())).builds[0]!;
  });

  it('writes a sparse GPT disk that sgdisk accepts, with bank A filled and the data partition marked for first boot', async () => {
    const disk = join(first.outDir, 'disk.img');
    const info = await stat(disk);
    expect(info.size).toBe(96 * 1024 * 1024);
    expect(info.blocks * 512).toBeLessThan(4 * 1024 * 1024);
    const verify = execFileSync('sgdisk', ['-v', disk], { encoding: 'utf8' });
    expect(verify).toMatch(/No problems found/);
    const read = await readDisk({ path: disk });
    expect(read.partitions.map((p) => p.label)).toEqual(first.record.partitions!.map((p) => p.label));
    const byLabel = new Map(first.record.partitions!.map((p) => [p.label, p]));
    const rootA = byLabel.get('DROVER-ROOT-A')!;
    expect(rootA.digest).toBe(first.record.filesystem!.digest);
    expect(byLabel.get('DROVER-HASH-A')!.digest).toBe(
      first.record.artifacts.find((a) => a.name === 'root-verity')!.digest,
    );
    expect(byLabel.get('DROVER-ROOT-B')!.digest).toBeUndefined();
    const data = byLabel.get('DROVER-DATA')!;
    expect(BigInt(data.attributes!) & GPT_ATTR_GROWFS).toBe(GPT_ATTR_GROWFS);
    expect(data.offset + data.size).toBeLessThanOrEqual(info.size - 33 * 512);
    // The root partition holds the filesystem, and the hash partition a tree that verifies it (with FEC).
    const v = first.record.verity!;
    expect(v.fecRoots).toBe(2);
    expect(v.fecOffset).toBeGreaterThan(0);
    execFileSync('veritysetup', [
      'verify',
      join(first.outDir, 'root.img'),
      join(first.outDir, 'root.verity'),
      v.rootHash,
      '--fec-device',
      join(first.outDir, 'root.verity'),
      `--fec-offset=${v.fecOffset}`,
      '--fec-roots=2',
    ]);
    expect(first.record.artifacts.map((a) => a.name)).toEqual([
      'disk',
      'root',
      'root-verity',
      'rootfs-tar',
      'sbom',
      'files',
    ]);
    expect(first.record.kernelArguments).toEqual([
      'console=ttyS0,115200n8',
      'quiet',
      `roothash=${v.rootHash}`,
    ]);
  });

  it('a rebuild links the cached disk into place (no copy) in < 1 s', async () => {
    const t0 = performance.now();
    const again = (await build(opts())).builds[0]!;
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(Object.values(cached(again)).filter((c) => !c)).toHaveLength(3); // lock, outputs, record
    const disk = await lstat(join(again.outDir, 'disk.img'));
    expect(disk.nlink).toBeGreaterThan(1);
    expect(again.record).toEqual(first.record);
  });

  it('a changed layer source (same size, same mtime) reruns the steps after it, and only those', async () => {
    const file = join(root, 'ab-verity', 'files', 'etc', 'issue');
    const text = await readFile(file);
    await utimes(file, 1_600_000_000, 1_600_000_000);
    const before = await stat(file);
    const changed = Buffer.from(text);
    changed[0] = changed[0] === 0x41 ? 0x42 : 0x41;
    await writeFile(file, changed);
    await utimes(file, 1_600_000_000, 1_600_000_000);
    const after = await stat(file);
    expect([after.size, after.mtimeMs]).toEqual([before.size, before.mtimeMs]);
    const changedBuild = (await build(opts())).builds[0]!;
    expect(cached(changedBuild)).toMatchObject({
      base: false,
      layers: false,
      filesystem: false,
      verity: false,
      disk: false,
    });
    expect(changedBuild.record.filesystem!.digest).not.toBe(first.record.filesystem!.digest);
    await writeFile(file, text);
    const back = (await build(opts())).builds[0]!;
    expect(cached(back)).toMatchObject({ filesystem: true, verity: true, disk: true });
    expect(back.record).toEqual(first.record);
  });

  it('two copies in different directories, built at different times with separate caches, are bit-identical', async () => {
    const other = await exampleTree();
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2041-03-04T05:06:07Z'));
      const b = (
        await build({
          recipe: join(other, 'ab-verity', 'recipe.yaml'),
          outDir: join(other, 'elsewhere'),
          cacheDir: join(other, 'cache'),
        })
      ).builds[0]!;
      expect(await readFile(b.recordPath)).toEqual(await readFile(first.recordPath));
      expect(
        await firstDifference(join(b.outDir, 'disk.img'), join(first.outDir, 'disk.img')),
      ).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });

  it('an interrupted build leaves no partial outputs and a valid cache', async () => {
    const tree = await exampleTree();
    const out = join(tree, 'out');
    const cacheDir = join(tree, 'cache');
    const controller = new AbortController();
    const onProgress = (e: ProgressEvent) => {
      if (e.type === 'start' && e.task.endsWith(':disk')) controller.abort();
    };
    await expect(
      build(
        { recipe: join(tree, 'ab-verity', 'recipe.yaml'), outDir: out, cacheDir },
        { signal: controller.signal, onProgress },
      ),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    expect(await readdir(out)).toEqual([]);
    expect(await readdir(join(cacheDir, 'tmp'))).toEqual([]);
    expect(await readdir(join(cacheDir, 'steps'))).not.toContain('disk');
    const done = (await build({ recipe: join(tree, 'ab-verity', 'recipe.yaml'), outDir: out, cacheDir }))
      .builds[0]!;
    expect(cached(done)).toMatchObject({ filesystem: true, verity: true, disk: false });
    expect(done.record).toEqual(first.record);
  });
});

describe('build: signing, dps, variants, oci', () => {
  let root: string;
  beforeAll(async () => {
    root = await exampleTree();
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '30',
        '-subj',
        '/CN=verity',
        '-keyout',
        join(root, 'verity.pem'),
        '-out',
        join(root, 'verity.crt'),
      ],
      { stdio: 'ignore' },
    );
    await mkdir(join(root, 'dps'));
    await writeFile(
      join(root, 'dps', 'recipe.yaml'),
      [
        'apiVersion: drover.dev/v1',
        'kind: Recipe',
        `metadata: { name: "dps-${FLAVOR}", version: 2.1.0 }`,
        'base: { layout: ../base/layout, platform: linux/amd64 }',
        'layers:',
        `  - file: { path: /etc/flavor, content: "${FLAVOR}\\n" }`,
        'filesystem: { sourceDateEpoch: 1700000000 }',
        'verity: { signingKey: ../verity.pem }',
        'disk: { layout: dps, size: 16MiB, partitions: { root: 4MiB, hash: 1MiB, signature: 64KiB } }',
        'outputs: [disk, oci, { type: rootfs-tar, compression: gzip }]',
        'variants: { matrix: { flavor: [a, b] } }',
        '',
      ].join('\n'),
    );
  });

  it('builds each variant into its own directory: dps partitions named by version with UUIDs from the root hash, a signature that verifies', async () => {
    const result = await build({
      recipe: join(root, 'dps', 'recipe.yaml'),
      outDir: join(root, 'out'),
      cacheDir: join(root, 'cache'),
    });
    expect(result.builds.map((b) => b.outDir)).toEqual([join(root, 'out', 'a'), join(root, 'out', 'b')]);
    const [a, b] = result.builds as [VariantBuild, VariantBuild];
    expect(a.record.verity!.rootHash).not.toBe(b.record.verity!.rootHash);
    const hash = a.record.verity!.rootHash;
    const parts = a.record.partitions!;
    expect(parts.map((p) => p.label)).toEqual(['root_2.1.0', 'root-verity_2.1.0', 'root-verity-sig_2.1.0']);
    expect(parts[0]!.uuid.replaceAll('-', '')).toBe(hash.slice(0, 32));
    expect(parts[1]!.uuid.replaceAll('-', '')).toBe(hash.slice(-32));
    execFileSync('sgdisk', ['-v', join(a.outDir, 'disk.img')]);
    const sig = a.record.artifacts.find((x) => x.name === 'root-hash-signature')!;
    const check = await verifyRootHashSignature({
      rootHash: hash,
      signature: await readFile(join(a.outDir, sig.path)),
      certificate: await readFile(join(root, 'verity.crt')),
    });
    expect(check.valid).toBe(true);
    // The OCI archive is a layout skopeo reads; the rootfs tar lists the layer's file.
    const oci = a.record.artifacts.find((x) => x.name === 'oci')!;
    const inspected = JSON.parse(
      execFileSync('skopeo', ['inspect', `oci-archive:${join(a.outDir, oci.path)}:2.1.0`], {
        encoding: 'utf8',
      }),
    );
    expect(inspected.Architecture).toBe('amd64');
    const tar = a.record.artifacts.find((x) => x.name === 'rootfs-tar')!;
    expect(tar.path).toBe('rootfs.tar.gz');
    expect(execFileSync('tar', ['-tzf', join(a.outDir, tar.path)], { encoding: 'utf8' })).toMatch(
      /etc\/flavor/,
    );
    for (const x of result.builds)
      expect(validateRecord(x.record), JSON.stringify(validateRecord.errors)).toBe(true);
  });

  it('a missing signing key fails with a hint to create one', async () => {
    await expect(
      build({
        recipe: join(root, 'minimal', 'recipe.yaml'),
        outDir: join(root, 'o2'),
        cacheDir: join(root, 'cache'),
        verityKey: join(root, 'nope.pem'),
      }),
    ).rejects.toMatchObject({
      code: 'VERITY_KEY_NOT_FOUND',
      hint: expect.stringMatching(/openssl req -x509.*drover keys generate/s),
    });
    expect(await readdir(join(root, 'o2'))).toEqual([]);
  });

  it('--verity-key signs the minimal image too', async () => {
    const r = (
      await build({
        recipe: join(root, 'minimal', 'recipe.yaml'),
        outDir: join(root, 'o3'),
        cacheDir: join(root, 'cache'),
        verityKey: join(root, 'verity.pem'),
        verityCert: join(root, 'verity.crt'),
      })
    ).builds[0]!;
    const names = r.record.artifacts.map((a) => a.name);
    expect(names).toContain('root-hash-signature');
    await writeFile(join(root, 'roothash.txt'), r.record.verity!.rootHash);
    execFileSync(
      'openssl',
      [
        'smime',
        '-verify',
        '-binary',
        '-inform',
        'der',
        '-in',
        join(r.outDir, 'root.roothash.p7s'),
        '-content',
        join(root, 'roothash.txt'),
        '-CAfile',
        join(root, 'verity.crt'),
        '-purpose',
        'any',
        '-out',
        '/dev/null',
      ],
      { stdio: 'ignore' },
    );
    const record: ImageRecord = JSON.parse(await readFile(r.recordPath, 'utf8'));
    expect(record.artifacts).toEqual(r.record.artifacts);
  });
});

describe('firstDifference', () => {
  it('reports the first differing byte, or the shorter length', async () => {
    const dir = join(work, 'diff');
    await mkdir(dir, { recursive: true });
    const a = Buffer.alloc(3_000_000, 7);
    const b = Buffer.from(a);
    b[2_500_001] = 8;
    await writeFile(join(dir, 'a'), a);
    await writeFile(join(dir, 'b'), b);
    await writeFile(join(dir, 'c'), a.subarray(0, 1000));
    expect(await firstDifference(join(dir, 'a'), join(dir, 'a'))).toBeUndefined();
    expect(await firstDifference(join(dir, 'a'), join(dir, 'b'))).toBe(2_500_001);
    expect(await firstDifference(join(dir, 'a'), join(dir, 'c'))).toBe(1000);
  });
});
