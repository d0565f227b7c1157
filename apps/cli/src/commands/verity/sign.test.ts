import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '@oclif/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ROOT } from '../../../test/helpers.js';

let dir: string;
let rootHash: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-cli-verity-'));
  await writeFile(join(dir, 'data.img'), Buffer.alloc(2048 * 4096, 1));
  const { stdout } = await runCommand(
    ['verity', 'format', join(dir, 'data.img'), join(dir, 'data.hash'), '--salt=-', '--json'],
    {
      root: CLI_ROOT,
    },
  );
  rootHash = JSON.parse(stdout).rootHash;
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'k.pem'),
      '-out',
      join(dir, 'c.pem'),
    ].concat(['-days', '1', '-subj', '/CN=verity']),
    { stdio: 'ignore' },
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('drover verity sign / table', () => {
  it('signs the root hash so that openssl smime -verify accepts it, and writes the DPS partition', async () => {
    const out = join(dir, 'root.p7s');
    const dps = join(dir, 'root.sig');
    const { stdout, error } = await runCommand(
      [
        'verity',
        'sign',
        rootHash,
        `--key=${join(dir, 'k.pem')}`,
        `--cert=${join(dir, 'c.pem')}`,
        `--out=${out}`,
        `--dps=${dps}`,
        '--json',
      ],
      { root: CLI_ROOT },
    );
    expect(error).toBeUndefined();
    expect(JSON.parse(stdout)).toMatchObject({ rootHash, signaturePath: out, dpsPath: dps });
    await writeFile(join(dir, 'root.txt'), rootHash);
    execFileSync(
      'openssl',
      [
        'smime',
        '-verify',
        '-binary',
        '-inform',
        'der',
        '-in',
        out,
        '-content',
        join(dir, 'root.txt'),
        '-CAfile',
        join(dir, 'c.pem'),
        '-purpose',
        'any',
        '-out',
        '/dev/null',
      ],
      { stdio: 'ignore' },
    );
    const partition = await readFile(dps);
    expect(partition.length).toBe(4096);
    expect(JSON.parse(partition.subarray(0, partition.indexOf(0)).toString()).rootHash).toBe(rootHash);
  });

  it('renders the dm table and boot arguments from the superblock', async () => {
    const { stdout } = await runCommand(
      [
        'verity',
        'table',
        join(dir, 'data.hash'),
        rootHash,
        '--data-device=/dev/vda1',
        '--hash-device=/dev/vda2',
        '--on-corruption=restart',
        '--json',
      ],
      { root: CLI_ROOT },
    );
    const result = JSON.parse(stdout);
    expect(result.table).toBe(
      `0 16384 verity 1 /dev/vda1 /dev/vda2 4096 4096 2048 1 sha256 ${rootHash} - 1 restart_on_corruption`,
    );
    expect(result.kernelArgument).toBe(`roothash=${rootHash}`);
    expect(result.partitionUuids.data.replaceAll('-', '')).toBe(rootHash.slice(0, 32));
  });
});
