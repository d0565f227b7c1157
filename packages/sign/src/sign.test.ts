import { spawnSync } from 'node:child_process';
import { createHash, createPublicKey } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDroverError } from '@drover/core';
import { BUNDLE_V03_MEDIA_TYPE, bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../test/helpers.js';
import { signArtifact } from './bundle.js';
import { generateKeyPair, type KeyAlgorithm, loadPrivateKey } from './keys.js';
import { fileSigner } from './signer.js';

const tempDir = useTempDir();

const EMPTY_ROOT = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

async function setup(algorithm: KeyAlgorithm = 'ecdsa-p256', passphrase?: string) {
  const dir = await tempDir();
  const key = join(dir, 'key.pem');
  const gen = await generateKeyPair({
    algorithm,
    privateKeyPath: key,
    ...(passphrase ? { passphrase } : {}),
  });
  const file = join(dir, 'artifact.bin');
  await writeFile(file, Buffer.from('drover artifact\n'.repeat(1000)));
  return { dir, key, pub: `${key}.pub`, file, gen };
}

describe('generateKeyPair', () => {
  it.each([
    'ecdsa-p256',
    'ed25519',
    'rsa-pss',
  ] as const)('writes a %s private key with mode 0600 and a public key', async (algorithm) => {
    const { key, pub, gen } = await setup(algorithm);
    expect((await stat(key)).mode & 0o777).toBe(0o600);
    expect(await readFile(key, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const pubPem = await readFile(pub, 'utf8');
    expect(pubPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const der = createPublicKey(pubPem).export({ type: 'spki', format: 'der' });
    expect(gen.keyHint).toBe(createHash('sha256').update(der).digest('base64'));
    // openssl reads what we wrote
    expect(openssl(['pkey', '-in', key, '-noout']).status).toBe(0);
  });

  it('creates the key directory (owner-only) when it does not exist', async () => {
    const dir = await tempDir();
    const key = join(dir, 'new', 'keys', 'demo.pem');
    await generateKeyPair({ privateKeyPath: key });
    expect(((await stat(key)).mode & 0o777).toString(8)).toBe('600');
    expect(((await stat(join(dir, 'new', 'keys'))).mode & 0o777).toString(8)).toBe('700');
  });

  it('refuses to overwrite an existing key without overwrite', async () => {
    const { key } = await setup();
    await expect(generateKeyPair({ privateKeyPath: key })).rejects.toMatchObject({ code: 'KEY_FILE_EXISTS' });
  });

  it('encrypts with a passphrase that openssl accepts and rejects a wrong one', async () => {
    const { key } = await setup('ecdsa-p256', 'correct horse');
    expect(await readFile(key, 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    expect(openssl(['pkey', '-in', key, '-passin', 'pass:correct horse', '-noout']).status).toBe(0);
    await expect(loadPrivateKey({ path: key, passphrase: 'correct horse' })).resolves.toBeDefined();
    await expect(loadPrivateKey({ path: key, passphrase: 'wrong' })).rejects.toMatchObject({
      code: 'KEY_PASSPHRASE_WRONG',
    });
    await expect(loadPrivateKey({ path: key })).rejects.toMatchObject({ code: 'KEY_PASSPHRASE_REQUIRED' });
  });
});

describe('loadPrivateKey bad input', () => {
  it('rejects a public key where a private key is needed', async () => {
    const { pub } = await setup();
    await expect(loadPrivateKey({ path: pub })).rejects.toMatchObject({ code: 'KEY_NOT_PRIVATE' });
  });

  it('rejects an unsupported key type (P-384) with a hint', async () => {
    const dir = await tempDir();
    const p384 = join(dir, 'p384.pem');
    expect(
      openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', p384]).status,
    ).toBe(0);
    const err = await loadPrivateKey({ path: p384 }).catch((e: unknown) => e);
    expect(isDroverError(err, 'KEY_TYPE_UNSUPPORTED')).toBe(true);
    expect((err as { hint?: string }).hint).toMatch(/P-256/);
    expect(JSON.stringify(err)).not.toContain((await readFile(p384, 'utf8')).split('\n')[1]);
  });

  it('rejects garbage without echoing it', async () => {
    const secret = `-----BEGIN PRIVATE KEY-----\nTOPSECRETMATERIAL${'A'.repeat(40)}\n-----END PRIVATE KEY-----\n`;
    const err = await loadPrivateKey({ pem: secret }).catch((e: unknown) => e);
    expect(isDroverError(err, 'KEY_INVALID')).toBe(true);
    expect(JSON.stringify(err)).not.toContain('TOPSECRETMATERIAL');
  });
});

describe('signArtifact', () => {
  it('writes a v0.3 message-signature bundle that @sigstore/verify accepts with the public key', async () => {
    const { dir, key, pub, file, gen } = await setup();
    const bundlePath = join(dir, 'artifact.sigstore.json');
    const result = await signArtifact({ file, signer: await fileSigner({ path: key }), bundlePath });
    const json = JSON.parse(await readFile(bundlePath, 'utf8'));
    expect(json.mediaType).toBe(BUNDLE_V03_MEDIA_TYPE);
    expect(json.verificationMaterial).toEqual({
      publicKey: { hint: gen.keyHint },
      tlogEntries: [],
      timestampVerificationData: { rfc3161Timestamps: [] },
    });
    expect(json.messageSignature.messageDigest.algorithm).toBe('SHA2_256');
    const data = await readFile(file);
    expect(Buffer.from(json.messageSignature.messageDigest.digest, 'base64').toString('hex')).toBe(
      createHash('sha256').update(data).digest('hex'),
    );
    expect(result.digest).toBe(`sha256:${createHash('sha256').update(data).digest('hex')}`);

    const pubKey = {
      rawBytes: createPublicKey(await readFile(pub, 'utf8')).export({ type: 'spki', format: 'der' }),
      keyDetails: 5 /* PKIX_ECDSA_P256_SHA_256 */,
    };
    const tm = toTrustMaterial(EMPTY_ROOT as never, { [gen.keyHint]: pubKey as never });
    const verifier = new Verifier(tm, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
    const bundle = bundleFromJSON(json);
    expect(() => verifier.verify(toSignedEntity(bundle, data))).not.toThrow();
    // the oracle can fail: a changed artifact is rejected
    expect(() => verifier.verify(toSignedEntity(bundle, Buffer.concat([data, Buffer.from('x')])))).toThrow();
  });

  it.each([
    'ecdsa-p256',
    'rsa-pss',
  ] as const)('writes a raw %s signature that openssl dgst -sha256 -verify accepts', async (algorithm) => {
    const { dir, key, pub, file } = await setup(algorithm);
    const sig = join(dir, 'artifact.sig');
    await signArtifact({ file, signer: await fileSigner({ path: key }), signaturePath: sig });
    const pss =
      algorithm === 'rsa-pss' ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:auto'] : [];
    const ok = openssl(['dgst', '-sha256', ...pss, '-verify', pub, '-signature', sig, file]);
    expect(ok.out).toContain('Verified OK');
    await writeFile(file, 'tampered');
    const bad = openssl(['dgst', '-sha256', ...pss, '-verify', pub, '-signature', sig, file]);
    expect(bad.status).not.toBe(0);
  });

  it('signs an artifact with Ed25519 as a DSSE statement that @sigstore/verify accepts', async () => {
    const { key, pub, file, gen } = await setup('ed25519');
    const result = await signArtifact({ file, signer: await fileSigner({ path: key }) });
    expect(result.content).toBe('dsseEnvelope');
    const pubKey = {
      rawBytes: createPublicKey(await readFile(pub, 'utf8')).export({ type: 'spki', format: 'der' }),
      keyDetails: 7 /* PKIX_ED25519 */,
    };
    const tm = toTrustMaterial(EMPTY_ROOT as never, { [gen.keyHint]: pubKey as never });
    const verifier = new Verifier(tm, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
    expect(() => verifier.verify(toSignedEntity(bundleFromJSON(result.bundle)))).not.toThrow();
    const statement = JSON.parse(Buffer.from(result.bundle.dsseEnvelope?.payload ?? '', 'base64').toString());
    expect(statement.subject[0].digest.sha256).toBe(result.digest.slice(7));
  });
});
