import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '@oclif/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ROOT, spawnCli } from '../../../test/helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-cli-verity-'));
  await writeFile(join(dir, 'data.img'), randomBytes(300 * 4096));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('drover verity format / dump', () => {
  it('formats with veritysetup flag names and matches veritysetup byte for byte', async () => {
    const uuid = '11111111-2222-4333-8444-555555555555';
    const flags = ['--salt=abcdef', `--uuid=${uuid}`, '--hash=sha512', '--hash-block-size=1024'];
    const ours = join(dir, 'ours.hash');
    const { stdout, error } = await runCommand(
      [
        'verity',
        'format',
        join(dir, 'data.img'),
        ours,
        ...flags,
        `--root-hash-file=${join(dir, 'root.txt')}`,
        '--json',
      ],
      { root: CLI_ROOT },
    );
    expect(error).toBeUndefined();
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({
      algorithm: 'sha512',
      salt: 'abcdef',
      uuid,
      dataBlocks: 300,
      hashBlockSize: 1024,
    });
    const theirs = join(dir, 'theirs.hash');
    const oracle = veritysetup(['format', join(dir, 'data.img'), theirs, ...flags]);
    expect(oracle).toContain(result.rootHash);
    expect((await readFile(ours)).equals(await readFile(theirs))).toBe(true);
    expect(await readFile(join(dir, 'root.txt'), 'utf8')).toBe(result.rootHash);

    const dump = await runCommand(['verity', 'dump', ours], { root: CLI_ROOT });
    expect(dump.stdout).toContain(`UUID:            ${uuid}`);
    expect(dump.stdout).toContain('Hash algorithm:  sha512');
  });

  it('reports bad input with its code, hint and exit 65 (spawned)', () => {
    const r = spawnCli([
      'verity',
      'format',
      join(dir, 'data.img'),
      join(dir, 'x.hash'),
      '--data-block-size=1000',
    ]);
    expect(r.status).toBe(65);
    expect(r.stderr).toContain('[VERITY_BLOCK_SIZE_INVALID]');
    expect(r.stderr).toContain('hint:');
  });
});

function veritysetup(args: string[]): string {
  return execFileSync('/usr/sbin/veritysetup', args, { encoding: 'utf8' });
}
