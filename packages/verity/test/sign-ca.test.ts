import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isDroverError } from '@drover/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRootHash, verifyRootHashSignature } from '../src/index.js';
import { scratchDir } from './oracle.js';

const run = promisify(execFile);
const ROOT = 'e522df0f97da4febb882ac40f30b37dc0b444bf6df418929463fa25280f09d5c';

let dir: string;
let cleanup: () => Promise<void>;
const pem: Record<string, string> = {};

/** A CA, a leaf it issued, and an unrelated CA, all made by openssl. */
beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir());
  const p = (name: string): string => join(dir, name);
  for (const ca of ['ca', 'other-ca']) {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      p(`${ca}.key`),
      '-out',
      p(`${ca}.crt`),
      '-days',
      '2',
      '-subj',
      `/CN=drover ${ca}`,
    ]);
  }
  await run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    p('leaf.key'),
    '-out',
    p('leaf.csr'),
    '-subj',
    '/CN=drover leaf',
  ]);
  await run('openssl', [
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
    '-days',
    '2',
  ]);
  for (const f of ['ca.crt', 'other-ca.crt', 'leaf.crt', 'leaf.key']) pem[f] = await readFile(p(f), 'utf8');
  await writeFile(p('root.txt'), ROOT);
  // The kernel's form, made by openssl itself: detached, binary, no signed attributes, certificate embedded.
  await run('openssl', [
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
    p('nocerts.p7s'),
  ]);
  await run('openssl', [
    'smime',
    '-sign',
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
  ]);
});
afterAll(async () => {
  await cleanup();
});

describe('verifyRootHashSignature with a CA', () => {
  it('accepts a leaf issued by the CA, from the embedded certificate or --cert', async () => {
    const ours = await signRootHash({ rootHash: ROOT, key: pem['leaf.key']!, certificate: pem['leaf.crt']! });
    const signatures = [ours.signature, await readFile(join(dir, 'openssl.p7s'))];
    for (const signature of signatures) {
      const check = await verifyRootHashSignature({ rootHash: ROOT, signature, ca: pem['ca.crt'] });
      expect(check).toMatchObject({ valid: true, issuedBy: 'CN=drover ca' });
      expect(check.signer.subject).toBe('CN=drover leaf');
      // A bundle holding an unrelated CA too is fine.
      const bundle = `${pem['other-ca.crt']}\n${pem['ca.crt']}`;
      expect((await verifyRootHashSignature({ rootHash: ROOT, signature, ca: bundle })).valid).toBe(true);
      const wrongRoot = await verifyRootHashSignature({
        rootHash: ROOT.replace('e5', 'e6'),
        signature,
        ca: pem['ca.crt'],
      });
      expect(wrongRoot).toMatchObject({ valid: false, reason: 'the signature does not match the root hash' });
      const otherCa = await verifyRootHashSignature({ rootHash: ROOT, signature, ca: pem['other-ca.crt'] });
      expect(otherCa).toMatchObject({
        valid: false,
        reason: 'the signer certificate is not issued by the given CA',
      });
    }
    const nocerts = await readFile(join(dir, 'nocerts.p7s'));
    const withCert = await verifyRootHashSignature({
      rootHash: ROOT,
      signature: nocerts,
      certificate: pem['leaf.crt'],
      ca: pem['ca.crt'],
    });
    expect(withCert.valid).toBe(true);
  });

  it('needs a certificate when the signature embeds none, and something to trust', async () => {
    const nocerts = await readFile(join(dir, 'nocerts.p7s'));
    for (const options of [
      { rootHash: ROOT, signature: nocerts, ca: pem['ca.crt'] },
      { rootHash: ROOT, signature: nocerts },
    ]) {
      const error = await verifyRootHashSignature(options).catch((e: unknown) => e);
      expect(isDroverError(error, 'VERITY_CERTIFICATE_REQUIRED'), String(error)).toBe(true);
    }
  });
});
