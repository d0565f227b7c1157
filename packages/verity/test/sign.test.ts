import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isDroverError } from '@drover/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseDpsSignature,
  renderDpsSignature,
  renderVerityTable,
  signRootHash,
  verifyRootHashSignature,
  verityKernelArgument,
  verityPartitionUuids,
} from '../src/index.js';
import { scratchDir } from './oracle.js';

const run = promisify(execFile);
const ROOT = 'e522df0f97da4febb882ac40f30b37dc0b444bf6df418929463fa25280f09d5c';

let dir: string;
let cleanup: () => Promise<void>;
const keys: Record<string, { key: string; cert: string }> = {};

beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir());
  for (const [name, args] of [
    ['rsa', ['-newkey', 'rsa:2048']],
    ['ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
  ] as const) {
    const key = join(dir, `${name}.key`);
    const cert = join(dir, `${name}.crt`);
    await run('openssl', [
      'req',
      '-x509',
      ...args,
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      `/CN=drover ${name}`,
    ]);
    keys[name] = { key: await readFile(key, 'utf8'), cert: await readFile(cert, 'utf8') };
  }
  await writeFile(join(dir, 'roothash.txt'), ROOT);
});
afterAll(async () => {
  await cleanup();
});

async function opensslVerify(sig: Buffer, certName: string, embedded: boolean): Promise<boolean> {
  const sigPath = join(dir, `sig-${certName}-${embedded}.der`);
  await writeFile(sigPath, sig);
  const cert = join(dir, `${certName}.crt`);
  const args = [
    'smime',
    '-verify',
    '-binary',
    '-inform',
    'der',
    '-in',
    sigPath,
    '-content',
    join(dir, 'roothash.txt'),
  ];
  args.push('-CAfile', cert, '-purpose', 'any', '-out', '/dev/null');
  if (!embedded) args.push('-certfile', cert);
  try {
    await run('openssl', args);
    return true;
  } catch {
    return false;
  }
}

describe('root-hash signatures', () => {
  it.each([
    'rsa',
    'ec',
  ])('signs with %s as openssl smime -verify accepts, with and without the certificate', async (name) => {
    const { key, cert } = keys[name]!;
    for (const includeCertificate of [true, false]) {
      const signed = await signRootHash({ rootHash: ROOT, key, certificate: cert, includeCertificate });
      expect(await opensslVerify(signed.signature, name, includeCertificate)).toBe(true);
      const check = await verifyRootHashSignature({
        rootHash: ROOT,
        signature: signed.signature,
        certificate: cert,
      });
      expect(check.valid).toBe(true);
      const other = await verifyRootHashSignature({
        rootHash: ROOT.replace('e5', 'e6'),
        signature: signed.signature,
        certificate: cert,
      });
      expect(other).toMatchObject({ valid: false, reason: 'the signature does not match the root hash' });
    }
  });

  it('verifies signatures made by openssl, with and without signed attributes', async () => {
    for (const noattr of [true, false]) {
      const out = join(dir, `openssl-${noattr}.der`);
      const args = [
        'smime',
        '-sign',
        '-binary',
        '-in',
        join(dir, 'roothash.txt'),
        '-inkey',
        join(dir, 'rsa.key'),
      ];
      args.push('-signer', join(dir, 'rsa.crt'), '-outform', 'der', '-out', out);
      if (noattr) args.push('-noattr');
      await run('openssl', args);
      const signature = await readFile(out);
      const check = await verifyRootHashSignature({ rootHash: ROOT, signature, certificate: keys.rsa!.cert });
      expect(check.valid).toBe(true);
      const wrongCert = await verifyRootHashSignature({
        rootHash: ROOT,
        signature,
        certificate: keys.ec!.cert,
      });
      expect(wrongCert.valid).toBe(false);
    }
  });

  it('writes and reads the DPS signature partition', async () => {
    const { key, cert } = keys.rsa!;
    const signed = await signRootHash({ rootHash: ROOT, key, certificate: cert });
    const partition = renderDpsSignature(signed);
    expect(partition.length % 4096).toBe(0);
    const parsed = parseDpsSignature(partition);
    expect(parsed.rootHash).toBe(ROOT);
    expect(parsed.signature.equals(signed.signature)).toBe(true);
    const fingerprint = (
      await run('openssl', ['x509', '-in', join(dir, 'rsa.crt'), '-noout', '-fingerprint', '-sha256'])
    ).stdout;
    expect(parsed.certificateFingerprint).toBe(
      fingerprint.split('=')[1]!.trim().replaceAll(':', '').toLowerCase(),
    );
    expect(JSON.parse(signed.dpsJson)).toEqual({
      rootHash: ROOT,
      signature: signed.signature.toString('base64'),
      certificateFingerprint: parsed.certificateFingerprint,
    });
  });

  it('rejects a key that does not match the certificate', async () => {
    const error = await signRootHash({
      rootHash: ROOT,
      key: keys.rsa!.key,
      certificate: keys.ec!.cert,
    }).catch((e) => e);
    expect(isDroverError(error, 'VERITY_KEY_MISMATCH')).toBe(true);
  });
});

describe('dm table and boot arguments', () => {
  const verity = {
    hashType: 1 as const,
    algorithm: 'sha256',
    dataBlockSize: 4096,
    hashBlockSize: 4096,
    dataBlocks: 2048,
    salt: 'e48da609055204e89ae53b655ca2216dd983cf3cb829f34f63a297d106d53e2d',
    rootHash: ROOT,
  };

  it('renders the Bottlerocket dm-mod.create argument', () => {
    const t = renderVerityTable({
      verity,
      dataDevice: 'PARTUUID=$boot_uuid/PARTNROFF=1',
      hashDevice: 'PARTUUID=$boot_uuid/PARTNROFF=2',
      onCorruption: 'restart',
      ignoreZeroBlocks: true,
    });
    expect(t.table).toBe(
      `0 16384 verity 1 PARTUUID=$boot_uuid/PARTNROFF=1 PARTUUID=$boot_uuid/PARTNROFF=2 4096 4096 2048 1 sha256 ${ROOT} ${verity.salt} 2 restart_on_corruption ignore_zero_blocks`,
    );
    expect(t.dmModCreate).toBe(`dm-mod.create="root,,,ro,${t.table}"`);
  });

  it('renders FEC, signature and no-superblock tables', () => {
    const t = renderVerityTable({
      verity: { ...verity, salt: '-', superblock: false, hashOffset: 8192 },
      dataDevice: '/dev/sda3',
      hashDevice: '/dev/sda4',
      fec: { device: '/dev/sda5', roots: 2, blocks: 2065, offset: 0 },
      signatureKeyDescription: 'verity:root',
      checkAtMostOnce: true,
    });
    expect(t.table).toBe(
      `0 16384 verity 1 /dev/sda3 /dev/sda4 4096 4096 2048 2 sha256 ${ROOT} - 11 check_at_most_once use_fec_from_device /dev/sda5 fec_start 0 fec_blocks 2065 fec_roots 2 root_hash_sig_key_desc verity:root`,
    );
    expect(() => renderVerityTable({ verity, dataDevice: 'a b', hashDevice: 'x' })).toThrow(/cannot appear/);
  });

  it('derives systemd arguments and DPS partition UUIDs', () => {
    expect(verityKernelArgument({ rootHash: ROOT })).toBe(`roothash=${ROOT}`);
    expect(verityKernelArgument({ rootHash: ROOT, usr: true })).toBe(`usrhash=${ROOT}`);
    expect(verityPartitionUuids(ROOT)).toEqual({
      data: 'e522df0f-97da-4feb-b882-ac40f30b37dc',
      verity: '0b444bf6-df41-8929-463f-a25280f09d5c',
    });
  });
});
