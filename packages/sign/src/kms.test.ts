import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { useTempDir } from '../test/helpers.js';
import { signArtifact } from './bundle.js';
import { signDigest } from './digest-sign.js';
import { kmsSigner } from './kms.js';

const tempDir = useTempDir();
const kms = mockClient(KMSClient);
afterEach(() => kms.reset());

describe('kmsSigner (mocked KMS)', () => {
  it('signs the artifact digest with MessageType DIGEST and the result verifies with openssl (mocked KMS)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    kms.on(GetPublicKeyCommand).resolves({
      KeyId: 'alias/release',
      KeyUsage: 'SIGN_VERIFY',
      KeySpec: 'ECC_NIST_P256',
      PublicKey: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
    });
    kms.on(SignCommand).callsFake((input) => ({
      KeyId: input.KeyId,
      Signature: new Uint8Array(signDigest(privateKey, 'ecdsa-p256', input.Message)),
      SigningAlgorithm: input.SigningAlgorithm,
    }));
    const dir = await tempDir();
    const file = join(dir, 'a.bin');
    await writeFile(file, 'kms artifact');
    const pub = join(dir, 'pub.pem');
    await writeFile(pub, publicKey.export({ type: 'spki', format: 'pem' }));
    const sig = join(dir, 'a.sig');
    const result = await signArtifact({
      file,
      signer: kmsSigner({ keyId: 'alias/release', client: new KMSClient({ region: 'us-east-1' }) }),
      signaturePath: sig,
    });
    const calls = kms.commandCalls(SignCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toMatchObject({
      KeyId: 'alias/release',
      MessageType: 'DIGEST',
      SigningAlgorithm: 'ECDSA_SHA_256',
    });
    expect(Buffer.from(calls[0]?.args[0].input.Message as Uint8Array).toString('hex')).toBe(
      createHash('sha256').update('kms artifact').digest('hex'),
    );
    expect(result.algorithm).toBe('ecdsa-p256');
    const r = spawnSync('openssl', ['dgst', '-sha256', '-verify', pub, '-signature', sig, file], {
      encoding: 'utf8',
    });
    expect(r.stdout).toContain('Verified OK');
  });

  it('maps KMS errors to DroverErrors (mocked KMS)', async () => {
    kms
      .on(GetPublicKeyCommand)
      .rejects(Object.assign(new Error('no such key'), { name: 'NotFoundException' }));
    const signer = kmsSigner({ keyId: 'alias/missing', client: new KMSClient({ region: 'us-east-1' }) });
    await expect(signer.sign({ payload: Buffer.from('x') })).rejects.toMatchObject({
      code: 'KMS_KEY_NOT_FOUND',
      kind: 'not-found',
    });
    kms.reset();
    kms
      .on(GetPublicKeyCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    const s2 = kmsSigner({ keyId: 'k', client: new KMSClient({ region: 'us-east-1' }) });
    await expect(s2.sign({ payload: Buffer.from('x') })).rejects.toMatchObject({
      code: 'KMS_ACCESS_DENIED',
      kind: 'denied',
    });
  });

  it('refuses a KMS key that is not for signing (mocked KMS)', async () => {
    kms.on(GetPublicKeyCommand).resolves({ KeyUsage: 'ENCRYPT_DECRYPT', PublicKey: new Uint8Array([1]) });
    const signer = kmsSigner({ keyId: 'k', client: new KMSClient({ region: 'us-east-1' }) });
    await expect(signer.sign({ payload: Buffer.from('x') })).rejects.toMatchObject({ code: 'KMS_KEY_USAGE' });
  });
});
