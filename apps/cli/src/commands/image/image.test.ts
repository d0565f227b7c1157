import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { abLayout, writeDisk } from '@drover/image';
import { runCommand } from '@oclif/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Test helpers of @drover/image (not part of its public API): fixture trees and hand-written output directories.
import { debianTree, writeOutputDir } from '../../../../../packages/image/src/sbom/test-helpers.js';
import { CLI_ROOT, spawnCli } from '../../../test/helpers.js';

const run = promisify(execFile);
const MIB = 1024 * 1024;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-cli-image-'));
  const src = join(dir, 'src');
  await mkdir(src);
  await writeFile(join(src, 'motd'), 'hello\n');
  await run('mkfs.erofs', ['-U', '11111111-2222-3333-4444-555555555555', join(dir, 'root.erofs'), src], {
    env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' },
  });
  await writeDisk({
    output: join(dir, 'disk.img'),
    layout: abLayout({
      rootSize: 2 * MIB,
      hashSize: MIB,
      bootSize: MIB,
      reservedSize: MIB,
      privateSize: MIB,
      dataSize: MIB,
    }),
    contents: { 'DROVER-ROOT-A': join(dir, 'root.erofs') },
  });
  await mkdir(join(dir, 'v1'));
  await run('cp', ['--sparse=always', join(dir, 'disk.img'), join(dir, 'v1', 'disk.img')]);
  await writeOutputDir(join(dir, 'v1'), {
    tree: debianTree({ 'etc/motd': 'v1\n' }),
    name: 'demo',
    version: '1.0.0',
    artifacts: { disk: 'disk.img' },
    record: { filesystem: { type: 'erofs', size: 8192 } },
  });
  await writeOutputDir(join(dir, 'v2'), {
    tree: debianTree({
      'etc/motd': 'version two\n',
      'etc/new.conf': 'x=1\n',
      'var/lib/dpkg/status':
        'Package: busybox\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.36.1-1\n',
    }),
    name: 'demo',
    version: '1.1.0',
    record: { filesystem: { type: 'erofs', size: 12288 } },
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('drover image inspect', () => {
  it('decodes a disk: partitions, types, gptprio and the root filesystem', async () => {
    const { stdout, error } = await runCommand(['image', 'inspect', join(dir, 'disk.img')], {
      root: CLI_ROOT,
    });
    expect(error).toBeUndefined();
    expect(stdout).toMatch(/DROVER-BOOT-A\s+bottlerocket-boot .*\[prio=1 tries=0 successful\]/);
    expect(stdout).toMatch(
      /DROVER-ROOT-A\s+bottlerocket-root .* erofs .* uuid 11111111-2222-3333-4444-555555555555/,
    );
    const json = await runCommand(['image', 'inspect', join(dir, 'disk.img'), '--json'], { root: CLI_ROOT });
    const report = JSON.parse(json.stdout);
    expect(report.kind).toBe('disk');
    expect(report.disk.partitions).toHaveLength(10);
  });

  it('summarizes a record, and --verify exits 1 naming a tampered artifact', async () => {
    const ok = spawnCli(['image', 'inspect', join(dir, 'v1'), '--verify']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('Image:       demo 1.0.0');
    expect(ok.stdout).toMatch(/disk\s+disk\.img\s+.*ok/);
    const f = await open(join(dir, 'v1', 'disk.img'), 'r+');
    await f.write(Buffer.from('!'), 0, 1, 3 * MIB + 100);
    await f.close();
    const bad = spawnCli(['image', 'inspect', join(dir, 'v1', 'image.json'), '--verify', '--json']);
    expect(bad.status).toBe(1);
    const report = JSON.parse(bad.stdout);
    expect(report.ok).toBe(false);
    expect(report.artifacts.find((a: { name: string }) => a.name === 'disk').status).toBe('digest-mismatch');
  });

  it('fails with a clear error for a missing path', () => {
    const res = spawnCli(['image', 'inspect', join(dir, 'missing.img')]);
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain('[IMAGE_NOT_FOUND]');
  });
});

describe('drover image diff', () => {
  it('prints the reviewer report, as text, Markdown and JSON', async () => {
    const text = await runCommand(['image', 'diff', join(dir, 'v1'), join(dir, 'v2')], { root: CLI_ROOT });
    expect(text.error).toBeUndefined();
    expect(text.stdout).toContain('Image diff: demo 1.0.0 → demo 1.1.0');
    expect(text.stdout).toMatch(/added\s+\/etc\/new\.conf\s+4 B/);
    expect(text.stdout).toMatch(/changed\s+\/etc\/motd\s+3 B → 12 B \(\+9 B\)\s+content, size/);
    expect(text.stdout).toMatch(/busybox\s+deb amd64\s+1:1\.35\.0-4\+b3\s+1:1\.36\.1-1/);

    const md = spawnCli(['image', 'diff', join(dir, 'v1'), join(dir, 'v2'), '--markdown']);
    expect(md.status, md.stderr).toBe(0);
    expect(md.stdout).toContain('### Image diff: demo 1.0.0 → demo 1.1.0');
    expect(md.stdout).toContain('| added | `/etc/new.conf` | 4 B |  |');
    expect(md.stdout).toContain('| libc6 | deb amd64 | 2.36-9+deb12u4 | – |');
    expect(md.stdout).toContain('| filesystem | erofs 8.0 KiB | erofs 12.0 KiB | +4.0 KiB |');

    const json = spawnCli(['image', 'diff', join(dir, 'v1'), join(dir, 'v2'), '--json']);
    const diff = JSON.parse(json.stdout);
    expect(diff.totals).toMatchObject({ filesAdded: 1, packagesRemoved: 2, packagesChanged: 1 });
  });

  it('fails with a clear error when an input is not a build output', async () => {
    await writeFile(join(dir, 'junk.json'), 'not json');
    const res = spawnCli(['image', 'diff', join(dir, 'junk.json'), join(dir, 'v2')]);
    expect(res.status).toBe(65);
    expect(res.stderr).toContain('[IMAGE_RECORD_INVALID]');
  });
});
