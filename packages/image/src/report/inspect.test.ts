import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { formatVerity } from '@drover/verity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDisk } from '../gpt/disk.js';
import { abLayout, dpsLayout, MIB } from '../gpt/layout.js';
import { debianTree, writeOutputDir } from '../sbom/test-helpers.js';
import { inspectImageFile } from './inspect.js';

const run = promisify(execFile);
let dir: string;
let rootHash: string;

async function blkid(path: string): Promise<Record<string, string>> {
  const { stdout } = await run('blkid', ['-p', '-o', 'export', path]);
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => l.split('=', 2) as [string, string]),
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-image-inspect-'));
  const src = join(dir, 'src');
  await mkdir(join(src, 'etc'), { recursive: true });
  await writeFile(join(src, 'etc', 'motd'), 'hello\n');
  await writeFile(join(src, 'data.bin'), Buffer.alloc(300_000, 7));
  const env = { ...process.env, SOURCE_DATE_EPOCH: '1700000000' };
  await run('mkfs.erofs', ['-U', '11111111-2222-3333-4444-555555555555', join(dir, 'root.erofs'), src], {
    env,
  });
  await run(
    'mksquashfs',
    [src, join(dir, 'root.squashfs'), '-quiet', '-no-progress', '-comp', 'zstd', '-noappend'],
    { env },
  );
  await run(
    'mke2fs',
    [
      '-q',
      '-t',
      'ext4',
      '-U',
      '01234567-89ab-cdef-0123-456789abcdef',
      '-L',
      'extroot',
      '-d',
      src,
      join(dir, 'root.ext4'),
      '4M',
    ],
    { env },
  );
  const verity = await formatVerity({
    dataPath: join(dir, 'root.erofs'),
    hashPath: join(dir, 'root.verity'),
    salt: '-',
    uuid: '99999999-8888-4777-8666-555555555555',
  });
  rootHash = verity.rootHash;
  await writeDisk({
    output: join(dir, 'disk.img'),
    layout: abLayout({
      rootSize: 4 * MIB,
      hashSize: MIB,
      bootSize: MIB,
      reservedSize: MIB,
      privateSize: MIB,
      dataSize: MIB,
    }),
    contents: { 'DROVER-ROOT-A': join(dir, 'root.erofs'), 'DROVER-HASH-A': join(dir, 'root.verity') },
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('inspectImageFile', () => {
  it('reads filesystems from their superblocks, matching blkid', async () => {
    const erofs = await inspectImageFile({ path: join(dir, 'root.erofs') });
    expect(erofs).toMatchObject({
      kind: 'filesystem',
      ok: true,
      filesystem: { type: 'erofs', uuid: '11111111-2222-3333-4444-555555555555' },
    });
    expect(erofs.filesystem!.size).toBe(erofs.size);

    const sq = await inspectImageFile({ path: join(dir, 'root.squashfs') });
    expect(sq.filesystem).toMatchObject({ type: 'squashfs', compression: 'zstd', blockSize: 131072 });
    expect(sq.filesystem!.size).toBeLessThanOrEqual(sq.size);
    expect(sq.filesystem!.size).toBeGreaterThan(sq.size - 4096);

    const ext = await inspectImageFile({ path: join(dir, 'root.ext4') });
    const id = await blkid(join(dir, 'root.ext4'));
    expect(ext.filesystem).toMatchObject({ type: id.TYPE, uuid: id.UUID, label: id.LABEL, size: 4 * MIB });
    expect(ext.filesystem!.blockSize).toBe(Number(id.BLOCK_SIZE));
  });

  it('reads a verity hash file', async () => {
    const v = await inspectImageFile({ path: join(dir, 'root.verity') });
    expect(v).toMatchObject({
      kind: 'verity',
      verity: { uuid: '99999999-8888-4777-8666-555555555555', algorithm: 'sha256', salt: '-', hashType: 1 },
    });
  });

  it('decodes a GPT disk: labels, types, attributes, gptprio and each partition’s content', async () => {
    const report = await inspectImageFile({ path: join(dir, 'disk.img') });
    expect(report.kind).toBe('disk');
    expect(report.ok).toBe(true);
    const parts = new Map(report.disk!.partitions.map((p) => [p.label, p]));
    expect(report.disk!.partitions).toHaveLength(10);
    expect(parts.get('DROVER-BOOT-A')).toMatchObject({
      typeName: 'bottlerocket-boot',
      gptprio: { priority: 1, tries: 0, successful: true },
      content: 'empty',
    });
    expect(parts.get('DROVER-BOOT-B')!.gptprio).toEqual({ priority: 0, tries: 0, successful: false });
    expect(parts.get('DROVER-ROOT-A')).toMatchObject({
      typeName: 'bottlerocket-root',
      size: 4 * MIB,
      content: 'filesystem',
      filesystem: { type: 'erofs', uuid: '11111111-2222-3333-4444-555555555555' },
    });
    expect(parts.get('DROVER-ROOT-A')!.gptprio).toBeUndefined();
    expect(parts.get('DROVER-HASH-A')).toMatchObject({
      typeName: 'bottlerocket-hash',
      content: 'verity',
      verity: { uuid: '99999999-8888-4777-8666-555555555555' },
    });
    expect(parts.get('DROVER-ROOT-B')!.content).toBe('empty');
    // sgdisk agrees on the partition table we decoded.
    const { stdout } = await run('sgdisk', ['-i', '2', join(dir, 'disk.img')]);
    expect(stdout).toContain(`Partition unique GUID: ${parts.get('DROVER-ROOT-A')!.uuid.toUpperCase()}`);
    expect(stdout).toContain("Partition name: 'DROVER-ROOT-A'");
  });

  it('names DPS partition types and flags', async () => {
    await writeDisk({
      output: join(dir, 'dps.img'),
      layout: dpsLayout({ arch: 'arm64', rootHash, version: '2.0', dataSize: 4 * MIB, veritySize: MIB }),
      contents: { 'root_2.0': join(dir, 'root.erofs'), 'root-verity_2.0': join(dir, 'root.verity') },
    });
    const report = await inspectImageFile({ path: join(dir, 'dps.img') });
    const parts = report.disk!.partitions;
    expect(parts.map((p) => [p.label, p.typeName, p.flags, p.content])).toEqual([
      ['root_2.0', 'dps-root-arm64', ['read-only'], 'filesystem'],
      ['root-verity_2.0', 'dps-root-verity-arm64', ['read-only'], 'verity'],
    ]);
    expect(parts[0]!.uuid.replace(/-/g, '')).toBe(rootHash.slice(0, 32));
    expect(parts[0]!.gptprio).toBeUndefined();
  });

  it('reports a damaged primary table as a problem', async () => {
    const copy = join(dir, 'damaged.img');
    await run('cp', ['--sparse=always', join(dir, 'disk.img'), copy]);
    const f = await open(copy, 'r+');
    await f.write(Buffer.from('XXXXXXXX'), 0, 8, 512);
    await f.close();
    const report = await inspectImageFile({ path: copy });
    expect(report.kind).toBe('disk');
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toMatch(/primary GPT is damaged/);
    expect(report.disk!.tableSource).toBe('backup');
  });

  it('summarizes a record and checks its artifacts: sizes always, digests with verify', async () => {
    const out = join(dir, 'out');
    await mkdir(out);
    for (const f of ['disk.img', 'root.erofs', 'root.verity'])
      await run('cp', ['--sparse=always', join(dir, f), out]);
    await writeOutputDir(out, {
      tree: debianTree(),
      name: 'demo',
      version: '1.0.0',
      artifacts: { disk: 'disk.img', root: 'root.erofs', 'root-verity': 'root.verity' },
      record: {
        verity: {
          hashType: 1,
          algorithm: 'sha256',
          dataBlockSize: 4096,
          hashBlockSize: 4096,
          dataBlocks: 1,
          salt: '-',
          rootHash,
        },
      },
    });
    const report = await inspectImageFile({ path: out });
    expect(report).toMatchObject({ kind: 'record', ok: true, rootHash, problems: [] });
    expect(report.record!.name).toBe('demo');
    expect(report.artifacts!.map((a) => `${a.name}:${a.status}`)).toEqual([
      'disk:unchecked',
      'files:unchecked',
      'root:unchecked',
      'root-verity:unchecked',
      'sbom:unchecked',
    ]);
    expect(report.disk!.partitions).toHaveLength(10);
    expect(report.filesystem).toMatchObject({ type: 'erofs' });
    expect(report.verity).toMatchObject({ algorithm: 'sha256' });

    const verified = await inspectImageFile({ path: join(out, 'image.json'), verify: true });
    expect(verified.artifacts!.every((a) => a.status === 'ok')).toBe(true);

    // Same size, different bytes: only --verify sees it. Then a truncation and a deletion.
    const f = await open(join(out, 'root.erofs'), 'r+');
    await f.write(Buffer.from('!'), 0, 1, 2000);
    await f.close();
    expect((await inspectImageFile({ path: out })).ok).toBe(true);
    const tampered = await inspectImageFile({ path: out, verify: true });
    expect(tampered.ok).toBe(false);
    expect(tampered.artifacts!.find((a) => a.name === 'root')).toMatchObject({
      status: 'digest-mismatch',
      actualDigest: expect.stringMatching(/^sha256:/),
    });
    await truncate(join(out, 'root.verity'), 100);
    await rm(join(out, 'sbom.spdx.json'));
    const broken = await inspectImageFile({ path: out });
    expect(broken.artifacts!.find((a) => a.name === 'root-verity')).toMatchObject({
      status: 'size-mismatch',
      actualSize: 100,
    });
    expect(broken.artifacts?.find((a) => a.name === 'sbom')?.status).toBe('missing');
    expect(broken.problems).toEqual([
      expect.stringContaining('root-verity (root.verity) is 100 bytes'),
      'artifact sbom (sbom.spdx.json) is missing',
    ]);
  });

  it('fails clearly on missing and unknown inputs', async () => {
    await expect(inspectImageFile({ path: join(dir, 'nope.img') })).rejects.toMatchObject({
      code: 'IMAGE_NOT_FOUND',
      kind: 'not-found',
    });
    await writeFile(join(dir, 'random.bin'), Buffer.alloc(8192, 0x5a));
    await expect(inspectImageFile({ path: join(dir, 'random.bin') })).rejects.toMatchObject({
      code: 'IMAGE_UNKNOWN_FORMAT',
    });
    await mkdir(join(dir, 'emptydir'));
    await expect(inspectImageFile({ path: join(dir, 'emptydir') })).rejects.toMatchObject({
      code: 'IMAGE_RECORD_NOT_FOUND',
    });
    await writeFile(join(dir, 'bad.json'), '{"schemaVersion":1,"name":"x"}');
    await expect(inspectImageFile({ path: join(dir, 'bad.json') })).rejects.toMatchObject({
      code: 'IMAGE_RECORD_INVALID',
    });
  });
});
