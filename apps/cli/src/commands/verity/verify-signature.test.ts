import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '@oclif/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ROOT, spawnCli } from '../../../test/helpers.js';

let dir: string;
let rootHash: string;
const p = (name: string): string => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-cli-verity-sig-'));
  await writeFile(p('data.img'), Buffer.alloc(2048 * 4096, 3));
  const { stdout } = await runCommand(
    ['verity', 'format', p('data.img'), p('data.hash'), '--salt=-', '--json'],
    {
      root: CLI_ROOT,
    },
  );
  rootHash = JSON.parse(stdout).rootHash;
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  for (const ca of ['ca', 'other']) {
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      p(`${ca}.key`),
      '-out',
      p(`${ca}.crt`),
      '-subj',
      `/CN=${ca}`,
    );
  }
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    p('leaf.key'),
    '-out',
    p('leaf.csr'),
    '-subj',
    '/CN=leaf',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    p('leaf.csr'),
    '-CA',
    p('ca.crt'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-out',
    p('leaf.crt'),
  );
  await writeFile(p('root.txt'), rootHash);
  // What the kernel gets: openssl's detached signature without attributes or certificates.
  openssl(
    'smime',
    '-sign',
    '-nocerts',
    '-noattr',
    '-binary',
    '-in',
    p('root.txt'),
    '-inkey',
    p('leaf.key'),
    '-signer',
    p('leaf.crt'),
    '-outform',
    'der',
    '-out',
    p('openssl.p7s'),
  );
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('drover verity verify-signature', () => {
  it('accepts drover and openssl signatures against the signer certificate or its CA (exit 0)', async () => {
    const signed = spawnCli([
      'verity',
      'sign',
      rootHash,
      `--key=${p('leaf.key')}`,
      `--cert=${p('leaf.crt')}`,
      `--out=${p('root.p7s')}`,
      `--dps=${p('root.sig')}`,
    ]);
    expect(signed.status, signed.stderr).toBe(0);
    const withCa = spawnCli([
      'verity',
      'verify-signature',
      rootHash,
      `--root-hash-signature=${p('root.p7s')}`,
      `--ca=${p('ca.crt')}`,
      '--json',
    ]);
    expect(withCa.status, withCa.stderr).toBe(0);
    expect(JSON.parse(withCa.stdout)).toMatchObject({
      valid: true,
      rootHash,
      signer: { subject: 'CN=leaf' },
    });
    const fromFile = spawnCli([
      'verity',
      'verify-signature',
      `--root-hash-file=${p('root.txt')}`,
      `--root-hash-signature=${p('openssl.p7s')}`,
      `--cert=${p('leaf.crt')}`,
      `--ca=${p('ca.crt')}`,
    ]);
    expect(fromFile.status, fromFile.stderr).toBe(0);
    expect(fromFile.stdout).toContain('valid signature over');
    const dps = spawnCli([
      'verity',
      'verify-signature',
      `--dps=${p('root.sig')}`,
      `--cert=${p('leaf.crt')}`,
      '--json',
    ]);
    expect(dps.status, dps.stderr).toBe(0);
    expect(JSON.parse(dps.stdout).rootHash).toBe(rootHash);
  });

  it('rejects a wrong root hash, a foreign CA and a mismatching DPS partition (exit 1)', async () => {
    const wrong = `${rootHash.slice(0, -2)}00`;
    const cases = [
      [
        'verity',
        'verify-signature',
        wrong,
        `--root-hash-signature=${p('openssl.p7s')}`,
        `--cert=${p('leaf.crt')}`,
      ],
      [
        'verity',
        'verify-signature',
        rootHash,
        `--root-hash-signature=${p('root.p7s')}`,
        `--ca=${p('other.crt')}`,
      ],
      ['verity', 'verify-signature', wrong, `--dps=${p('root.sig')}`, `--ca=${p('ca.crt')}`],
      [
        'verity',
        'verify-signature',
        rootHash,
        `--root-hash-signature=${p('root.p7s')}`,
        `--cert=${p('ca.crt')}`,
      ],
    ];
    const reasons = [];
    for (const args of cases) {
      const r = spawnCli([...args, '--json']);
      expect(r.status, r.stderr).toBe(1);
      const result = JSON.parse(r.stdout);
      expect(result.valid).toBe(false);
      reasons.push(result.reason);
    }
    expect(reasons).toEqual([
      'the signature does not match the root hash',
      'the signer certificate is not issued by the given CA',
      `the signature partition is for root hash ${rootHash}, not ${wrong}`,
      'no signer in the signature matches the certificate',
    ]);
  });

  it('needs a signature, something to trust, and a certificate when none is embedded (exit 2)', async () => {
    for (const args of [
      ['verity', 'verify-signature', rootHash, `--cert=${p('leaf.crt')}`],
      ['verity', 'verify-signature', rootHash, `--root-hash-signature=${p('root.p7s')}`],
      [
        'verity',
        'verify-signature',
        rootHash,
        `--root-hash-signature=${p('openssl.p7s')}`,
        `--ca=${p('ca.crt')}`,
      ],
    ]) {
      const r = spawnCli(args);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/VERITY_(SIGNATURE|CERTIFICATE)_REQUIRED/);
    }
  });
});

describe('drover verity table --no-superblock', () => {
  it('renders the table from flags alone, FEC blocks derived like format reports them', async () => {
    const formatted = await runCommand(
      [
        'verity',
        'format',
        p('data.img'),
        p('nosb.hash'),
        '--no-superblock',
        '--salt=abcd',
        `--fec-device=${p('nosb.fec')}`,
        '--fec-roots=4',
        '--json',
      ],
      { root: CLI_ROOT },
    );
    const f = JSON.parse(formatted.stdout);
    const { stdout, error } = await runCommand(
      [
        'verity',
        'table',
        '--no-superblock',
        '--data-blocks=2048',
        '--salt=abcd',
        f.rootHash,
        '--data-device=/dev/vda1',
        '--hash-device=/dev/vda2',
        '--fec-device=/dev/vda3',
        '--fec-roots=4',
        '--json',
      ],
      { root: CLI_ROOT },
    );
    expect(error).toBeUndefined();
    expect(JSON.parse(stdout).table).toBe(
      `0 16384 verity 1 /dev/vda1 /dev/vda2 4096 4096 2048 0 sha256 ${f.rootHash} abcd ` +
        `8 use_fec_from_device /dev/vda3 fec_start 0 fec_blocks ${f.fec.blocks} fec_roots 4`,
    );
    // With the tree 1 MiB into the device, and the root hash from a file.
    await writeFile(p('nosb.roothash'), `${f.rootHash}\n`);
    const shifted = await runCommand(
      [
        'verity',
        'table',
        '--no-superblock',
        '--data-blocks=2048',
        '--hash-offset=1048576',
        '--hash=SHA256',
        `--root-hash-file=${p('nosb.roothash')}`,
        '--data-device=/dev/vda1',
        '--hash-device=/dev/vda1',
        '--json',
      ],
      { root: CLI_ROOT },
    );
    expect(JSON.parse(shifted.stdout).table).toBe(
      `0 16384 verity 1 /dev/vda1 /dev/vda1 4096 4096 2048 256 sha256 ${f.rootHash} -`,
    );
  });

  it('asks for --data-blocks, refuses a hash file argument, and needs the hash file with a superblock', async () => {
    const base = ['--data-device=/dev/vda1', '--hash-device=/dev/vda2'];
    const cases: [string[], string][] = [
      [['verity', 'table', '--no-superblock', rootHash, ...base], 'VERITY_DATA_BLOCKS_REQUIRED'],
      [
        ['verity', 'table', '--no-superblock', '--data-blocks=8', p('data.hash'), rootHash, ...base],
        'VERITY_TABLE_ARGUMENTS',
      ],
      [['verity', 'table', ...base], 'VERITY_HASH_PATH_REQUIRED'],
    ];
    for (const [args, code] of cases) {
      const r = spawnCli(args);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain(`[${code}]`);
    }
  });
});
