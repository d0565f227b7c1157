import { createHash, X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleFromJSON, type SerializedBundle } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auditPath,
  type FakeFulcio,
  type FakeRekor,
  type FakeTsa,
  IDENTITY,
  ISSUER,
  makeCa,
  merkleRoot,
  startFakeFulcio,
  startFakeRekor,
  startFakeTsa,
  TOKEN,
} from '../test/fake-sigstore.js';
import { useTempDir } from '../test/helpers.js';
import { signArtifact, signDsse } from './bundle.js';
import { keylessSigner } from './keyless.js';
import { parsePolicy } from './policy.js';
import { rootFromInclusionProof } from './tlog.js';
import { verifyArtifact } from './verify.js';

const tempDir = useTempDir();
let fulcio: FakeFulcio;
let rekor: FakeRekor;
let tsa: FakeTsa;

beforeAll(async () => {
  [fulcio, rekor, tsa] = await Promise.all([startFakeFulcio(), startFakeRekor(), startFakeTsa()]);
});

afterAll(async () => {
  await Promise.all([fulcio.close(), rekor.close(), tsa.close()]);
});

async function trustedRoot(
  caPem: string,
  tlogs: unknown[] = [rekor.trustedLog()],
  timestampAuthorities: unknown[] = [],
) {
  const der = new X509Certificate(caPem).raw;
  return {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    certificateAuthorities: [{ certChain: { certificates: [{ rawBytes: der.toString('base64') }] } }],
    tlogs,
    ctlogs: [],
    timestampAuthorities: timestampAuthorities as { certChain: { certificates: { rawBytes: string }[] } }[],
  };
}

/** The same trusted root in the protobuf shape @sigstore/verify's toTrustMaterial takes. */
function sigstoreTrust(root: Awaited<ReturnType<typeof trustedRoot>>) {
  const tlogs = root.tlogs as {
    baseUrl: string;
    publicKey: { rawBytes: string; validFor: { start: string } };
    logId: { keyId: string };
  }[];
  return toTrustMaterial({
    mediaType: root.mediaType,
    certificateAuthorities: root.certificateAuthorities.map((ca) => ({
      certChain: {
        certificates: ca.certChain.certificates.map((c) => ({ rawBytes: Buffer.from(c.rawBytes, 'base64') })),
      },
      validFor: { start: new Date(0) },
    })),
    tlogs: tlogs.map((t) => ({
      baseUrl: t.baseUrl,
      hashAlgorithm: 1,
      publicKey: {
        rawBytes: Buffer.from(t.publicKey.rawBytes, 'base64'),
        keyDetails: 5,
        validFor: { start: new Date(t.publicKey.validFor.start) },
      },
      logId: { keyId: Buffer.from(t.logId.keyId, 'base64') },
    })),
    ctlogs: [],
    timestampAuthorities: root.timestampAuthorities.map((ta) => ({
      certChain: {
        certificates: ta.certChain.certificates.map((c) => ({ rawBytes: Buffer.from(c.rawBytes, 'base64') })),
      },
      validFor: { start: new Date(0) },
    })),
  } as never);
}

const sigstoreVerifier = async () =>
  new Verifier(sigstoreTrust(await trustedRoot(await fulcio.caPem())), {
    tlogThreshold: 1,
    ctlogThreshold: 0,
    timestampThreshold: 1,
  });

const identityPolicy = () =>
  parsePolicy({ document: { version: 1, identities: [{ issuer: ISSUER, subject: IDENTITY }] } });

const signer = (extra: Parameters<typeof keylessSigner>[0] = {}) =>
  keylessSigner({ fulcioURL: fulcio.url, rekorURL: rekor.url, identityToken: async () => TOKEN, ...extra });

const clone = (b: SerializedBundle): SerializedBundle => JSON.parse(JSON.stringify(b));

describe('keylessSigner against a local fake Fulcio and a local fake Rekor on 127.0.0.1 (real Sigstore is unreachable here)', () => {
  it('signs an artifact as a message signature with a Fulcio certificate and a hashedrekord log entry (SET + inclusion proof)', async () => {
    const dir = await tempDir();
    const file = join(dir, 'a.img');
    await writeFile(file, 'keyless artifact');
    // other clients' entries before and after ours: the proof has depth and left and right siblings
    rekor.padding = 6;
    rekor.trailing = 5;
    const signed = await signArtifact({ file, signer: signer() });
    rekor.padding = 0;
    rekor.trailing = 0;
    expect(signed.content).toBe('messageSignature');
    expect(signed.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    const vm = signed.bundle.verificationMaterial;
    expect(vm.certificate?.rawBytes).toBeTruthy();
    expect(vm.tlogEntries).toHaveLength(1);
    const entry = vm.tlogEntries[0];
    expect(entry?.kindVersion).toEqual({ kind: 'hashedrekord', version: '0.0.1' });
    expect(entry?.inclusionPromise?.signedEntryTimestamp).toBeTruthy();
    expect(Number(entry?.inclusionProof?.treeSize)).toBeGreaterThan(Number(entry?.logIndex));
    expect(entry?.inclusionProof?.hashes.length).toBeGreaterThan(0);
    expect(entry?.inclusionProof?.checkpoint?.envelope).toContain('\u2014 127.0.0.1 ');
    expect(Buffer.from(entry?.logId.keyId ?? '', 'base64').toString('hex')).toBe(rekor.logID);

    const root = await trustedRoot(await fulcio.caPem());
    const policy = await identityPolicy();
    const result = await verifyArtifact({ artifact: file, bundle: signed.bundle, policy, trustedRoot: root });
    expect(result.signer).toEqual({ issuer: ISSUER, subject: IDENTITY });
    expect(result.transparencyLog).toEqual([
      expect.objectContaining({
        kind: 'hashedrekord',
        logID: rekor.logID,
        signedEntryTimestamp: true,
        inclusionProof: true,
      }),
    ]);
    expect(result.signedAt).toBe(new Date(Number(entry?.integratedTime) * 1000).toISOString());
    // The certificate is checked at the logged time, so the bundle still verifies after the certificate expired.
    const later = new Date(Date.now() + 3 * 86_400_000);
    await expect(
      verifyArtifact({
        artifact: file,
        bundle: signed.bundle,
        policy,
        trustedRoot: root,
        currentTime: later,
      }),
    ).resolves.toMatchObject({ verified: true });

    // the strongest oracle: @sigstore/verify with a custom trusted root (fake Fulcio CA + fake Rekor key), requiring
    // one tlog entry and one timestamp, and the identity policy
    const verifier = await sigstoreVerifier();
    const data = Buffer.from('keyless artifact');
    const verified = verifier.verify(toSignedEntity(bundleFromJSON(signed.bundle), data), {
      subjectAlternativeName: IDENTITY,
      extensions: { issuer: ISSUER },
    });
    expect(verified.identity?.subjectAlternativeName).toBe(IDENTITY);
    expect(() =>
      verifier.verify(toSignedEntity(bundleFromJSON(signed.bundle), Buffer.from('other'))),
    ).toThrow();

    await writeFile(file, 'changed');
    await expect(
      verifyArtifact({ artifact: file, bundle: signed.bundle, policy, trustedRoot: root }),
    ).rejects.toMatchObject({ code: 'ARTIFACT_TAMPERED' });
  });

  it('signs a statement as DSSE with a dsse log entry that drover and @sigstore/verify accept', async () => {
    const dir = await tempDir();
    const file = join(dir, 'b.img');
    await writeFile(file, 'attested');
    const statement = {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'b.img', digest: { sha256: createHash('sha256').update('attested').digest('hex') } }],
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: {},
    };
    const { bundle } = await signDsse({ payload: Buffer.from(JSON.stringify(statement)), signer: signer() });
    expect(bundle.verificationMaterial.tlogEntries[0]?.kindVersion).toEqual({
      kind: 'dsse',
      version: '0.0.1',
    });
    const { bundleToJSON } = await import('@sigstore/bundle');
    const json = bundleToJSON(bundle);
    const root = await trustedRoot(await fulcio.caPem());
    await expect(
      verifyArtifact({
        artifact: file,
        bundle: json,
        policy: await identityPolicy(),
        trustedRoot: root,
        predicateType: 'https://slsa.dev/provenance/v1',
      }),
    ).resolves.toMatchObject({
      predicateType: 'https://slsa.dev/provenance/v1',
      transparencyLog: [expect.objectContaining({ kind: 'dsse' })],
    });
    const verifier = await sigstoreVerifier();
    expect(() => verifier.verify(toSignedEntity(bundle))).not.toThrow();
  });

  it('rejects altered log entries, untrusted logs and swapped entries with distinct codes (and so does @sigstore/verify)', async () => {
    const dir = await tempDir();
    const file = join(dir, 'c.img');
    await writeFile(file, 'c');
    const other = join(dir, 'd.img');
    await writeFile(other, 'd');
    rekor.padding = 3;
    rekor.trailing = 2;
    const signed = (await signArtifact({ file, signer: signer() })).bundle;
    const signedOther = (await signArtifact({ file: other, signer: signer() })).bundle;
    rekor.padding = 0;
    rekor.trailing = 0;
    const root = await trustedRoot(await fulcio.caPem());
    const policy = await identityPolicy();
    const verifier = await sigstoreVerifier();
    const check = async (bundle: SerializedBundle, code: string) => {
      await expect(
        verifyArtifact({ artifact: file, bundle, policy, trustedRoot: root }),
      ).rejects.toMatchObject({
        code,
      });
      expect(() => verifier.verify(toSignedEntity(bundleFromJSON(bundle), Buffer.from('c')))).toThrow();
    };
    const flip = (b64: string) => {
      const bytes = Buffer.from(b64, 'base64');
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
      return bytes.toString('base64');
    };

    // a forged SET (signature bytes altered)
    const badSet = clone(signed);
    const e1 = badSet.verificationMaterial.tlogEntries[0];
    if (!e1?.inclusionPromise) throw new Error('no SET');
    e1.inclusionPromise.signedEntryTimestamp = flip(e1.inclusionPromise.signedEntryTimestamp);
    await check(badSet, 'TLOG_SET_INVALID');

    // the integrated time moved (the SET signs it)
    const moved = clone(signed);
    const e2 = moved.verificationMaterial.tlogEntries[0];
    if (!e2) throw new Error('no entry');
    e2.integratedTime = String(Number(e2.integratedTime) - 60);
    await check(moved, 'TLOG_SET_INVALID');

    // an altered audit path, with the SET removed so only the proof speaks
    const badProof = clone(signed);
    const e3 = badProof.verificationMaterial.tlogEntries[0];
    if (!e3?.inclusionProof) throw new Error('no proof');
    delete e3.inclusionPromise;
    e3.inclusionProof.hashes[0] = flip(e3.inclusionProof.hashes[0] as string);
    await check(badProof, 'TLOG_INCLUSION_PROOF_INVALID');

    // a checkpoint not signed by the log
    const badCheckpoint = clone(signed);
    const e4 = badCheckpoint.verificationMaterial.tlogEntries[0];
    if (!e4?.inclusionProof?.checkpoint) throw new Error('no checkpoint');
    delete e4.inclusionPromise;
    e4.inclusionProof.checkpoint.envelope = e4.inclusionProof.checkpoint.envelope.replace(
      /(\u2014 \S+ )(\S+)\n/,
      (_m, p, sig) => `${p}${flip(sig)}\n`,
    );
    await check(badCheckpoint, 'TLOG_INCLUSION_PROOF_INVALID');

    // neither SET nor proof: @sigstore/bundle's v0.3 validation already refuses it
    const bare = clone(signed);
    const e5 = bare.verificationMaterial.tlogEntries[0];
    if (!e5) throw new Error('no entry');
    delete e5.inclusionPromise;
    delete e5.inclusionProof;
    await check(bare, 'BUNDLE_INVALID');

    // another signature's (valid) entry
    const swapped = clone(signed);
    swapped.verificationMaterial.tlogEntries = clone(signedOther).verificationMaterial.tlogEntries;
    await check(swapped, 'TLOG_BODY_MISMATCH');

    // a log the trusted root does not list (another key)
    const stranger = await startFakeRekor();
    try {
      const strangerRoot = await trustedRoot(await fulcio.caPem(), [stranger.trustedLog()]);
      await expect(
        verifyArtifact({ artifact: file, bundle: signed, policy, trustedRoot: strangerRoot }),
      ).rejects.toMatchObject({ code: 'TLOG_UNTRUSTED', kind: 'denied' });
      const noLogs = await trustedRoot(await fulcio.caPem(), []);
      await expect(
        verifyArtifact({ artifact: file, bundle: signed, policy, trustedRoot: noLogs }),
      ).rejects.toMatchObject({ code: 'TLOG_UNTRUSTED' });
      const strangerVerifier = new Verifier(sigstoreTrust(strangerRoot), {
        tlogThreshold: 1,
        ctlogThreshold: 0,
        timestampThreshold: 1,
      });
      expect(() =>
        strangerVerifier.verify(toSignedEntity(bundleFromJSON(signed), Buffer.from('c'))),
      ).toThrow();
    } finally {
      await stranger.close();
    }
    // the untouched bundle still passes both
    await expect(
      verifyArtifact({ artifact: file, bundle: signed, policy, trustedRoot: root }),
    ).resolves.toMatchObject({ verified: true });
    expect(() => verifier.verify(toSignedEntity(bundleFromJSON(signed), Buffer.from('c')))).not.toThrow();
  });

  it('checks the certificate at the integrated time: a log time outside its validity is rejected', async () => {
    const dir = await tempDir();
    const file = join(dir, 'e.img');
    await writeFile(file, 'e');
    rekor.clockSkew = 2 * 86_400; // the fake log claims it integrated the entry two days later
    let bundle: SerializedBundle;
    try {
      bundle = (await signArtifact({ file, signer: signer() })).bundle;
    } finally {
      rekor.clockSkew = 0;
    }
    const root = await trustedRoot(await fulcio.caPem());
    const err = await verifyArtifact({
      artifact: file,
      bundle,
      policy: await identityPolicy(),
      trustedRoot: root,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CERTIFICATE_UNTRUSTED', kind: 'denied' });
    expect((err as Error).message).toContain('at the signing time');
    const verifier = await sigstoreVerifier();
    expect(() => verifier.verify(toSignedEntity(bundleFromJSON(bundle), Buffer.from('e')))).toThrow();
  });

  it('without a log entry (transparencyLog: false) the bundle verifies only while the certificate is valid', async () => {
    const dir = await tempDir();
    const file = join(dir, 'f.img');
    await writeFile(file, 'f');
    const before = rekor.entries.length;
    const signed = await signArtifact({ file, signer: signer({ transparencyLog: false }) });
    expect(rekor.entries.length).toBe(before);
    expect(signed.bundle.verificationMaterial.tlogEntries).toEqual([]);
    const root = await trustedRoot(await fulcio.caPem());
    const policy = await identityPolicy();
    await expect(
      verifyArtifact({ artifact: file, bundle: signed.bundle, policy, trustedRoot: root }),
    ).resolves.not.toHaveProperty('signedAt');
    await expect(
      verifyArtifact({
        artifact: file,
        bundle: signed.bundle,
        policy,
        trustedRoot: root,
        currentTime: new Date(Date.now() + 3 * 86_400_000),
      }),
    ).rejects.toMatchObject({ code: 'CERTIFICATE_UNTRUSTED' });
    const strict = await parsePolicy({
      document: {
        version: 1,
        identities: [{ issuer: ISSUER, subject: IDENTITY }],
        requireTransparencyLog: true,
      },
    });
    await expect(
      verifyArtifact({ artifact: file, bundle: signed.bundle, policy: strict, trustedRoot: root }),
    ).rejects.toMatchObject({ code: 'TLOG_MISSING', kind: 'denied' });
    await expect(
      parsePolicy({
        document: {
          version: 1,
          keys: [],
          identities: [{ issuer: ISSUER, subject: IDENTITY }],
          requireTransparencyLog: 'yes',
        },
      }),
    ).rejects.toMatchObject({ code: 'POLICY_INVALID' });
  });

  it('checks identities and the Fulcio CA', async () => {
    const dir = await tempDir();
    const file = join(dir, 'g.img');
    await writeFile(file, 'g');
    const signed = await signArtifact({ file, signer: signer() });
    const root = await trustedRoot(await fulcio.caPem());
    const regexPolicy = await parsePolicy({
      document: { version: 1, identities: [{ issuer: ISSUER, subjectRegExp: 'https://github.com/acme/.*' }] },
    });
    await expect(
      verifyArtifact({ artifact: file, bundle: signed.bundle, policy: regexPolicy, trustedRoot: root }),
    ).resolves.toMatchObject({ verified: true });
    const otherPolicy = await parsePolicy({
      document: { version: 1, identities: [{ issuer: ISSUER, subject: 'https://github.com/evil/x' }] },
    });
    await expect(
      verifyArtifact({ artifact: file, bundle: signed.bundle, policy: otherPolicy, trustedRoot: root }),
    ).rejects.toMatchObject({ code: 'IDENTITY_UNTRUSTED' });
    makeCa(dir, 'other');
    const { readFile } = await import('node:fs/promises');
    await expect(
      verifyArtifact({
        artifact: file,
        bundle: signed.bundle,
        policy: await identityPolicy(),
        trustedRoot: await trustedRoot(await readFile(join(dir, 'other.pem'), 'utf8')),
      }),
    ).rejects.toMatchObject({ code: 'CERTIFICATE_UNTRUSTED' });
    await expect(
      verifyArtifact({ artifact: file, bundle: signed.bundle, policy: await identityPolicy() }),
    ).rejects.toMatchObject({ code: 'TRUSTED_ROOT_MISSING' });
    // the policy can name the trusted root itself (a path relative to the policy file, or inline)
    const { loadPolicy } = await import('./policy.js');
    await writeFile(join(dir, 'trusted_root.json'), JSON.stringify(root));
    await writeFile(
      join(dir, 'policy.json'),
      JSON.stringify({
        version: 1,
        identities: [{ issuer: ISSUER, subject: IDENTITY }],
        trustedRoot: 'trusted_root.json',
      }),
    );
    await expect(
      verifyArtifact({
        artifact: file,
        bundle: signed.bundle,
        policy: await loadPolicy({ path: join(dir, 'policy.json') }),
      }),
    ).resolves.toMatchObject({ verified: true, transparencyLog: [expect.anything()] });
    const inline = await parsePolicy({
      document: { version: 1, identities: [{ issuer: ISSUER, subject: IDENTITY }], trustedRoot: root },
    });
    await expect(
      verifyArtifact({ artifact: file, bundle: signed.bundle, policy: inline }),
    ).resolves.toMatchObject({
      verified: true,
    });
    await expect(
      parsePolicy({
        document: { version: 1, identities: [{ issuer: ISSUER, subject: IDENTITY }], trustedRoot: 5 },
      }),
    ).rejects.toMatchObject({ code: 'POLICY_INVALID' });
  });

  it('maps a failing Fulcio, a failing Rekor (local fakes) and a missing token to coded errors', async () => {
    const dir = await tempDir();
    const file = join(dir, 'a.img');
    await writeFile(file, 'x');
    fulcio.failNext = true;
    try {
      await expect(signArtifact({ file, signer: signer() })).rejects.toMatchObject({
        code: 'KEYLESS_FULCIO_FAILED',
        kind: 'unavailable',
      });
    } finally {
      fulcio.failNext = false;
    }
    // the fake Fulcio answers 500 on Rekor's path
    await expect(signArtifact({ file, signer: signer({ rekorURL: fulcio.url }) })).rejects.toMatchObject({
      code: 'KEYLESS_REKOR_FAILED',
      kind: 'unavailable',
    });
    const noToken = signer({
      identityToken: async () => {
        throw new Error('ACTIONS_ID_TOKEN_REQUEST_URL is not set');
      },
    });
    await expect(signArtifact({ file, signer: noToken })).rejects.toMatchObject({
      code: 'KEYLESS_IDENTITY_UNAVAILABLE',
    });
    // a malformed token is a credential: it must not be echoed in the error (or its cause)
    const badToken = signer({ identityToken: async () => 'SECRET-TOKEN-VALUE' });
    const err = await signArtifact({ file, signer: badToken }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KEYLESS_IDENTITY_UNAVAILABLE' });
    expect(JSON.stringify((err as { toJSON(): unknown }).toJSON())).not.toContain('SECRET-TOKEN-VALUE');
  });
});

describe('RFC 3161 timestamps from a local fake TSA on 127.0.0.1 (openssl ts -reply)', () => {
  it('timestamps the signature; drover, @sigstore/verify and openssl ts -verify accept it; the certificate is checked at genTime', async () => {
    const dir = await tempDir();
    const file = join(dir, 't.img');
    await writeFile(file, 'timestamped');
    const signed = await signArtifact({ file, signer: signer({ tsaURL: tsa.url }) });
    const stamps = signed.bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps ?? [];
    expect(stamps).toHaveLength(1);
    expect(signed.bundle.verificationMaterial.tlogEntries).toHaveLength(1);
    const authority = await tsa.trustedAuthority();
    const root = await trustedRoot(await fulcio.caPem(), [rekor.trustedLog()], [authority]);
    const policy = await identityPolicy();
    const result = await verifyArtifact({ artifact: file, bundle: signed.bundle, policy, trustedRoot: root });
    expect(result.timestamps).toEqual([
      { signingTime: expect.any(String), authority: expect.stringContaining('fake-tsa') },
    ]);
    expect(Math.abs(Date.parse(result.timestamps?.[0]?.signingTime ?? '') - Date.now())).toBeLessThan(
      120_000,
    );

    // @sigstore/verify: two timestamps (the SET and the TSA's) required
    const verifier = new Verifier(sigstoreTrust(root), {
      tlogThreshold: 1,
      ctlogThreshold: 0,
      timestampThreshold: 2,
    });
    expect(() =>
      verifier.verify(toSignedEntity(bundleFromJSON(signed.bundle), Buffer.from('timestamped'))),
    ).not.toThrow();

    // openssl ts -verify over the signature bytes, with the TSA root as the only trust anchor
    const { spawnSync } = await import('node:child_process');
    const [leafPem, rootPem] = await tsa.chainPem();
    await writeFile(
      join(dir, 'sig.bin'),
      Buffer.from(signed.bundle.messageSignature?.signature ?? '', 'base64'),
    );
    await writeFile(join(dir, 'resp.tsr'), Buffer.from(stamps[0]?.signedTimestamp ?? '', 'base64'));
    await writeFile(join(dir, 'root.pem'), rootPem ?? '');
    await writeFile(join(dir, 'leaf.pem'), leafPem ?? '');
    const ossl = (data: string) =>
      spawnSync(
        'openssl',
        ['ts', '-verify', '-data', data, '-in', 'resp.tsr', '-CAfile', 'root.pem', '-untrusted', 'leaf.pem'],
        {
          cwd: dir,
          encoding: 'utf8',
        },
      );
    expect(ossl('sig.bin').stdout).toContain('Verification: OK');
    await writeFile(join(dir, 'other.bin'), 'not the signature');
    expect(ossl('other.bin').status).not.toBe(0);

    // TSA only (no log): still verifiable after the certificate expired, since genTime is trusted
    const tsaOnly = await signArtifact({ file, signer: signer({ tsaURL: tsa.url, transparencyLog: false }) });
    expect(tsaOnly.bundle.verificationMaterial.tlogEntries).toEqual([]);
    await expect(
      verifyArtifact({
        artifact: file,
        bundle: tsaOnly.bundle,
        policy,
        trustedRoot: root,
        currentTime: new Date(Date.now() + 3 * 86_400_000),
      }),
    ).resolves.toMatchObject({ signedAt: expect.any(String), timestamps: [expect.anything()] });
  });

  it('rejects a timestamp of another signature, an untrusted TSA and a replayed response', async () => {
    const dir = await tempDir();
    const file = join(dir, 'u.img');
    await writeFile(file, 'u');
    const a = (await signArtifact({ file, signer: signer({ tsaURL: tsa.url, transparencyLog: false }) }))
      .bundle;
    const b = (await signArtifact({ file, signer: signer({ tsaURL: tsa.url, transparencyLog: false }) }))
      .bundle;
    const root = await trustedRoot(await fulcio.caPem(), [], [await tsa.trustedAuthority()]);
    const policy = await identityPolicy();
    const swapped = clone(a);
    swapped.verificationMaterial.timestampVerificationData =
      clone(b).verificationMaterial.timestampVerificationData;
    await expect(
      verifyArtifact({ artifact: file, bundle: swapped, policy, trustedRoot: root }),
    ).rejects.toMatchObject({
      code: 'TIMESTAMP_INVALID',
    });
    const verifier = new Verifier(sigstoreTrust(root), {
      tlogThreshold: 0,
      ctlogThreshold: 0,
      timestampThreshold: 1,
    });
    expect(() => verifier.verify(toSignedEntity(bundleFromJSON(swapped), Buffer.from('u')))).toThrow();
    expect(() => verifier.verify(toSignedEntity(bundleFromJSON(a), Buffer.from('u')))).not.toThrow();

    const other = await startFakeTsa();
    try {
      const otherRoot = await trustedRoot(await fulcio.caPem(), [], [await other.trustedAuthority()]);
      await expect(
        verifyArtifact({ artifact: file, bundle: a, policy, trustedRoot: otherRoot }),
      ).rejects.toMatchObject({
        code: 'TIMESTAMP_UNTRUSTED',
        kind: 'denied',
      });
    } finally {
      await other.close();
    }
    await expect(
      verifyArtifact({
        artifact: file,
        bundle: a,
        policy,
        trustedRoot: await trustedRoot(await fulcio.caPem(), []),
      }),
    ).rejects.toMatchObject({ code: 'TIMESTAMP_UNTRUSTED' });

    tsa.replayNext = true;
    await expect(
      signArtifact({ file, signer: signer({ tsaURL: tsa.url, transparencyLog: false }) }),
    ).rejects.toMatchObject({ code: 'TSA_FAILED', kind: 'unavailable' });
    await expect(
      signArtifact({ file, signer: signer({ tsaURL: `${fulcio.url}/nope`, transparencyLog: false }) }),
    ).rejects.toMatchObject({ code: 'TSA_FAILED' });
  });
});

describe('RFC 6962 inclusion proofs', () => {
  it('the verifier (RFC 9162 iterative) recomputes the root the recursive RFC 6962 definition gives, and only for the right leaf', () => {
    const leaf = (i: number) =>
      createHash('sha256')
        .update(Buffer.from([0]))
        .update(`entry ${i}`)
        .digest();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(fc.constant(n), fc.nat({ max: n - 1 }))),
        ([n, m]) => {
          const leaves = Array.from({ length: n }, (_, i) => leaf(i));
          const path = auditPath(m, leaves);
          const root = merkleRoot(leaves);
          expect(rootFromInclusionProof(BigInt(m), BigInt(n), leaves[m] as Buffer, path)).toEqual(root);
          if (n > 1) {
            const wrongLeaf = rootFromInclusionProof(BigInt(m), BigInt(n), leaf(n + 1), path);
            expect(wrongLeaf?.equals(root) ?? false).toBe(false);
            const wrongIndex = rootFromInclusionProof(
              BigInt((m + 1) % n),
              BigInt(n),
              leaves[m] as Buffer,
              path,
            );
            expect(wrongIndex?.equals(root) ?? false).toBe(false);
          }
          expect(rootFromInclusionProof(BigInt(n), BigInt(n), leaves[m] as Buffer, path)).toBeUndefined();
        },
      ),
      { numRuns: 200 },
    );
  });
});
