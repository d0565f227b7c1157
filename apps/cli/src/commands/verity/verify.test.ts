import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '@oclif/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ROOT, spawnCli } from '../../../test/helpers.js';

let dir: string;
let rootHash: string;
let data: string;
let hash: string;
let fec: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-cli-verity-'));
  data = join(dir, 'data.img');
  hash = join(dir, 'data.hash');
  fec = join(dir, 'data.fec');
  await writeFile(data, randomBytes(500 * 4096));
  const { stdout } = await runCommand(
    ['verity', 'format', data, hash, `--fec-device=${fec}`, '--fec-roots=4', '--json'],
    {
      root: CLI_ROOT,
    },
  );
  rootHash = JSON.parse(stdout).rootHash;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function corrupt(path: string, offset: number): Promise<void> {
  const f = await open(path, 'r+');
  await f.write(Buffer.from('corrupt!'), 0, 8, offset);
  await f.close();
}

describe('drover verity verify / repair', () => {
  it('verifies an intact image (exit 0) and lists every bad block (exit 1)', async () => {
    const ok = spawnCli(['verity', 'verify', data, hash, rootHash]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('ok 500 data blocks');
    const pristine = await readFile(data);
    await corrupt(data, 7 * 4096);
    await corrupt(data, 400 * 4096 + 100);
    const bad = spawnCli([
      'verity',
      'verify',
      data,
      hash,
      rootHash,
      '--json',
      `--fec-device=${fec}`,
      '--fec-roots=4',
    ]);
    expect(bad.status).toBe(1);
    const report = JSON.parse(bad.stdout);
    expect(report.ok).toBe(false);
    expect(report.issues).toEqual([
      { kind: 'data-block', index: 7, offset: 7 * 4096 },
      { kind: 'data-block', index: 400, offset: 400 * 4096 },
    ]);
    expect(report.fec.correctable).toHaveLength(2);

    const dry = await runCommand(
      ['verity', 'repair', data, hash, rootHash, `--fec-device=${fec}`, '--fec-roots=4', '--dry-run'],
      {
        root: CLI_ROOT,
      },
    );
    expect(dry.stdout).toContain('would repair data block 7 at byte 28672');
    const fixed = spawnCli([
      'verity',
      'repair',
      data,
      hash,
      rootHash,
      `--fec-device=${fec}`,
      '--fec-roots=4',
      '--json',
    ]);
    expect(fixed.status).toBe(0);
    expect(JSON.parse(fixed.stdout).after.ok).toBe(true);
    expect((await readFile(data)).equals(pristine)).toBe(true);
  });

  it('takes the root hash from --root-hash-file and rejects a malformed one', async () => {
    await writeFile(join(dir, 'root.txt'), `${rootHash}\n`);
    const ok = spawnCli(['verity', 'verify', data, hash, `--root-hash-file=${join(dir, 'root.txt')}`]);
    expect(ok.status, ok.stderr).toBe(0);
    const bad = spawnCli(['verity', 'verify', data, hash, 'abcd']);
    expect(bad.status).toBe(65);
    expect(bad.stderr).toContain('[VERITY_ROOT_HASH_INVALID]');
  });

  it('formats and verifies data inside a disk image with --data-offset', async () => {
    const offset = 3 * 512;
    const disk = join(dir, 'disk.img');
    const partition = randomBytes(64 * 4096);
    await writeFile(disk, Buffer.concat([Buffer.alloc(offset, 0xee), partition]));
    await writeFile(join(dir, 'part.img'), partition);
    const args = ['--salt=abcd', '--uuid=8dd4a4d5-7f5e-4e6b-9a1b-2c3d4e5f6a7b', '--json'];
    const ours = await runCommand(
      // Two worker threads: the bundled CLI's workers run the SIMD hasher too.
      ['verity', 'format', disk, join(dir, 'disk.hash'), `--data-offset=${offset}`, '--threads=2', ...args],
      { root: CLI_ROOT },
    );
    const plain = await runCommand(
      ['verity', 'format', join(dir, 'part.img'), join(dir, 'part.hash'), ...args],
      {
        root: CLI_ROOT,
      },
    );
    const root = JSON.parse(ours.stdout).rootHash;
    expect(root).toBe(JSON.parse(plain.stdout).rootHash);
    expect((await readFile(join(dir, 'disk.hash'))).equals(await readFile(join(dir, 'part.hash')))).toBe(
      true,
    );
    const ok = spawnCli(['verity', 'verify', disk, join(dir, 'disk.hash'), root, `--data-offset=${offset}`]);
    expect(ok.status, ok.stderr).toBe(0);
    await corrupt(disk, offset + 9 * 4096);
    const bad = spawnCli([
      'verity',
      'verify',
      disk,
      join(dir, 'disk.hash'),
      root,
      `--data-offset=${offset}`,
      '--json',
    ]);
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout).issues).toEqual([
      { kind: 'data-block', index: 9, offset: offset + 9 * 4096 },
    ]);
    const negative = spawnCli(['verity', 'verify', disk, join(dir, 'disk.hash'), root, '--data-offset=-5']);
    expect(negative.status).toBe(2);
  });
});
