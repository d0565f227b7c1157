import { generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageRecord } from '@drover/core';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../test/helpers.js';
import { serializeBundle, signArtifact, signDsse } from './bundle.js';
import { generateKeyPair, type KeyAlgorithm } from './keys.js';
import { loadPolicy, parsePolicy } from './policy.js';
import { attestProvenance, SLSA_PROVENANCE_V1 } from './provenance.js';
import { fileSigner, keySigner } from './signer.js';
import { verifyArtifact } from './verify.js';

const tempDir = useTempDir();

async function setup(algorithm: KeyAlgorithm = 'ecdsa-p256') {
  const dir = await tempDir();
  const key = join(dir, 'release.pem');
  await generateKeyPair({ algorithm, privateKeyPath: key });
  const file = join(dir, 'disk.img');
  await writeFile(file, Buffer.alloc(300_000, 3));
  const policyPath = join(dir, 'policy.json');
  await writeFile(
    policyPath,
    JSON.stringify({ version: 1, keys: [{ name: 'release', path: 'release.pem.pub' }] }),
  );
  return {
    dir,
    key,
    file,
    policy: await loadPolicy({ path: policyPath }),
    signer: await fileSigner({ path: key }),
  };
}

describe('verifyArtifact', () => {
  it.each([
    'ecdsa-p256',
    'ed25519',
    'rsa-pss',
  ] as const)('accepts a %s bundle from a trusted key', async (algorithm) => {
    const { file, policy, signer } = await setup(algorithm);
    const signed = await signArtifact({ file, signer });
    const result = await verifyArtifact({ artifact: file, bundle: signed.bundle, policy });
    expect(result).toMatchObject({
      verified: true,
      digest: signed.digest,
      signer: { keyName: 'release', keyHint: signed.keyHint },
    });
  });

  it('ARTIFACT_TAMPERED when the file changed after signing', async () => {
    const { file, policy, signer } = await setup();
    const signed = await signArtifact({ file, signer });
    await writeFile(file, Buffer.alloc(300_000, 4));
    await expect(verifyArtifact({ artifact: file, bundle: signed.bundle, policy })).rejects.toMatchObject({
      code: 'ARTIFACT_TAMPERED',
      kind: 'integrity',
    });
  });

  it('ARTIFACT_TAMPERED for an Ed25519 statement bundle too', async () => {
    const { file, policy, signer } = await setup('ed25519');
    const signed = await signArtifact({ file, signer });
    await writeFile(file, 'other');
    await expect(verifyArtifact({ artifact: file, bundle: signed.bundle, policy })).rejects.toMatchObject({
      code: 'ARTIFACT_TAMPERED',
    });
  });

  it('KEY_UNTRUSTED when another key signed', async () => {
    const { file, policy } = await setup();
    const other = keySigner({ privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey });
    const signed = await signArtifact({ file, signer: other });
    await expect(verifyArtifact({ artifact: file, bundle: signed.bundle, policy })).rejects.toMatchObject({
      code: 'KEY_UNTRUSTED',
      kind: 'denied',
    });
  });

  it('SIGNATURE_INVALID when the signature bytes do not match the key', async () => {
    const { file, policy, signer } = await setup();
    const signed = await signArtifact({ file, signer });
    const sig = Buffer.from(signed.bundle.messageSignature?.signature ?? '', 'base64');
    sig[sig.length - 3] = (sig[sig.length - 3] ?? 0) ^ 0xff;
    const bundle = JSON.parse(JSON.stringify(signed.bundle));
    bundle.messageSignature.signature = sig.toString('base64');
    await expect(verifyArtifact({ artifact: file, bundle, policy })).rejects.toMatchObject({
      code: 'SIGNATURE_INVALID',
    });
  });

  it('BUNDLE_INVALID for a malformed bundle, from JSON or a file', async () => {
    const { dir, file, policy } = await setup();
    await expect(
      verifyArtifact({ artifact: file, bundle: { mediaType: 'x' }, policy }),
    ).rejects.toMatchObject({ code: 'BUNDLE_INVALID' });
    const path = join(dir, 'b.json');
    await writeFile(path, '{not json');
    await expect(verifyArtifact({ artifact: file, bundle: path, policy })).rejects.toMatchObject({
      code: 'BUNDLE_INVALID',
    });
  });

  it('PREDICATE_TYPE_MISMATCH when the statement is not the expected predicate', async () => {
    const { file, policy, signer } = await setup('ed25519');
    const signed = await signArtifact({ file, signer });
    await expect(
      verifyArtifact({ artifact: file, bundle: signed.bundle, policy, predicateType: SLSA_PROVENANCE_V1 }),
    ).rejects.toMatchObject({ code: 'PREDICATE_TYPE_MISMATCH', kind: 'denied' });
    // a plain message signature carries no predicate at all
    const ecdsa = await setup();
    const plain = await signArtifact({ file: ecdsa.file, signer: ecdsa.signer });
    await expect(
      verifyArtifact({
        artifact: ecdsa.file,
        bundle: plain.bundle,
        policy: ecdsa.policy,
        predicateType: SLSA_PROVENANCE_V1,
      }),
    ).rejects.toMatchObject({ code: 'PREDICATE_TYPE_MISMATCH' });
    // the same through the policy's predicateTypes
    const strict = { ...ecdsa.policy, predicateTypes: [SLSA_PROVENANCE_V1] };
    await expect(
      verifyArtifact({ artifact: ecdsa.file, bundle: plain.bundle, policy: strict }),
    ).rejects.toMatchObject({
      code: 'PREDICATE_TYPE_MISMATCH',
    });
  });

  it('verifies provenance against a subject artifact and the SLSA predicate type', async () => {
    const { dir, file, policy, signer } = await setup();
    const digest = signArtifact({ file, signer }).then((r) => r.digest);
    const record: ImageRecord = {
      schemaVersion: 1,
      name: 'edge',
      version: '1.0.0',
      artifacts: [
        {
          name: 'disk',
          path: 'disk.img',
          digest: await digest,
          size: 300_000,
          mediaType: 'application/octet-stream',
        },
      ],
    };
    const att = await attestProvenance({ record, signer, bundlePath: join(dir, 'prov.json') });
    const bundle = JSON.parse(await readFile(join(dir, 'prov.json'), 'utf8'));
    expect(bundle).toEqual(att.bundle);
    const result = await verifyArtifact({
      artifact: file,
      bundle,
      policy,
      predicateType: SLSA_PROVENANCE_V1,
    });
    expect(result.predicateType).toBe(SLSA_PROVENANCE_V1);
  });

  it('DSSE signatures over a different payload type are rejected', async () => {
    const { file, policy, signer } = await setup();
    const { bundle } = await signDsse({ payload: Buffer.from('{}'), payloadType: 'text/plain', signer });
    await expect(
      verifyArtifact({ artifact: file, bundle: serializeBundle(bundle), policy }),
    ).rejects.toMatchObject({
      code: 'PAYLOAD_TYPE_UNSUPPORTED',
    });
  });
});

describe('policy', () => {
  it('rejects malformed policies with POLICY_INVALID', async () => {
    await expect(parsePolicy({ document: [] })).rejects.toMatchObject({ code: 'POLICY_INVALID' });
    await expect(parsePolicy({ document: { version: 2 } })).rejects.toMatchObject({ code: 'POLICY_INVALID' });
    await expect(parsePolicy({ document: { version: 1 } })).rejects.toMatchObject({ code: 'POLICY_INVALID' });
    await expect(parsePolicy({ document: { version: 1, keys: [{}] } })).rejects.toMatchObject({
      code: 'POLICY_INVALID',
    });
    await expect(
      parsePolicy({ document: { version: 1, identities: [{ issuer: 'x' }] } }),
    ).rejects.toMatchObject({ code: 'POLICY_INVALID' });
    await expect(
      parsePolicy({ document: { version: 1, keys: [{ publicKey: 'nope' }] } }),
    ).rejects.toMatchObject({ code: 'KEY_INVALID' });
  });
});
