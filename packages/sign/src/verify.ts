import { constants, type KeyObject, verify as nodeVerify, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  type Context,
  type DigestString,
  DroverError,
  digestFile,
  resolveContext,
  toDroverError,
} from '@drover/core';
import type { Bundle } from '@sigstore/bundle';
import { X509Certificate as SigstoreX509 } from '@sigstore/core';
import { IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1, parseBundle, preAuthEncoding } from './bundle.js';
import { verifyDigest } from './digest-sign.js';
import type { KeyAlgorithm } from './keys.js';
import type { Policy } from './policy.js';
import { trustedLogs, type VerifiedLogEntry, verifyLogEntries } from './tlog.js';
import { trustedTimestampAuthorities, type VerifiedTimestamp, verifyTimestamps } from './tsa.js';

export interface VerifyArtifactOptions {
  /** Path of the artifact; streamed. */
  artifact: string;
  /** The bundle as parsed JSON, or a path to it. */
  bundle: unknown;
  policy: Policy;
  /** Require this predicate type (DSSE bundles), on top of the policy's list. */
  predicateType?: string;
  /**
   * Sigstore trusted_root.json (parsed) for keyless bundles: its certificate authorities and transparency logs
   * (`tlogs`) are trusted.
   */
  trustedRoot?: unknown;
  /** The time a keyless certificate is checked at when the bundle has no trusted timestamp (default: now). */
  currentTime?: Date;
}

export interface VerifyArtifactResult {
  verified: true;
  artifact: string;
  digest: DigestString;
  content: 'messageSignature' | 'dsseEnvelope';
  /** Which trusted key or identity signed. */
  signer: { keyName?: string; keyHint?: string; issuer?: string; subject?: string };
  predicateType?: string;
  /** Keyless: the verified transparency-log entries. */
  transparencyLog?: VerifiedLogEntry[];
  /** Keyless: the verified RFC 3161 timestamps. */
  timestamps?: VerifiedTimestamp[];
  /** Keyless: the trusted signing time (a log's signed entry timestamp or a TSA timestamp) the certificate was checked at. */
  signedAt?: string;
}

/** Verify an artifact against a Sigstore bundle and a policy; every failure is a DroverError with its own code. */
export async function verifyArtifact(
  options: VerifyArtifactOptions,
  ctx: Context = {},
): Promise<VerifyArtifactResult> {
  const { logger } = resolveContext(ctx);
  const bundle = await readBundle(options.bundle);
  const content = bundle.content.$case;
  const { digest } = await digestFile(options.artifact, {}, ctx);
  const digestHex = digest.slice('sha256:'.length);
  const material = bundle.verificationMaterial.content;
  let signer: VerifyArtifactResult['signer'];
  let predicateType: string | undefined;
  let keyless: ReturnType<typeof verifyKeyless> | undefined;

  if (material.$case === 'publicKey') {
    const hint = material.publicKey.hint;
    const trusted = options.policy.keys.get(hint);
    if (!trusted) {
      throw new DroverError(
        'KEY_UNTRUSTED',
        `the bundle was signed by key ${hint || '(no hint)'}, which the policy does not trust`,
        {
          kind: 'denied',
          hint: 'Add the signer public key to the policy "keys", or check that you are verifying the right bundle.',
          details: { keyHint: hint, trusted: [...options.policy.keys.keys()] },
        },
      );
    }
    signer = { keyName: trusted.name, keyHint: hint };
    if (bundle.content.$case === 'messageSignature') {
      const ms = bundle.content.messageSignature;
      const bundled = Buffer.from(ms.messageDigest?.digest ?? []).toString('hex');
      if (bundled !== digestHex) throw tampered(options.artifact, digest, bundled);
      if (
        !verifyDigest(
          trusted.key,
          trusted.algorithm,
          Buffer.from(digestHex, 'hex'),
          Buffer.from(ms.signature),
        )
      ) {
        throw badSignature(trusted.name);
      }
    } else {
      const env = bundle.content.dsseEnvelope;
      const sig = env.signatures[0]?.sig;
      if (
        !sig ||
        !verifyPayload(
          trusted.key,
          trusted.algorithm,
          preAuthEncoding(env.payloadType, env.payload),
          Buffer.from(sig),
        )
      ) {
        throw badSignature(trusted.name);
      }
      predicateType = checkStatement(env.payloadType, env.payload, digestHex, options);
    }
  } else {
    const trustedRoot = options.trustedRoot ?? options.policy.trustedRoot;
    keyless = verifyKeyless(bundle, digestHex, { ...options, ...(trustedRoot ? { trustedRoot } : {}) });
    ({ signer, predicateType } = keyless);
  }
  const required = [
    ...(options.policy.predicateTypes ?? []),
    ...(options.predicateType ? [options.predicateType] : []),
  ];
  if (predicateType === undefined && required.length > 0) {
    throw wrongPredicate('(none: a plain message signature)', required);
  }
  logger.debug('verified', { artifact: options.artifact, digest });
  return {
    verified: true,
    artifact: options.artifact,
    digest,
    content,
    signer,
    ...(predicateType ? { predicateType } : {}),
    ...(keyless?.transparencyLog.length ? { transparencyLog: keyless.transparencyLog } : {}),
    ...(keyless?.timestamps.length ? { timestamps: keyless.timestamps } : {}),
    ...(keyless?.signedAt ? { signedAt: keyless.signedAt } : {}),
  };
}

function verifyKeyless(
  bundle: Bundle,
  digestHex: string,
  options: VerifyArtifactOptions,
): {
  signer: VerifyArtifactResult['signer'];
  predicateType?: string;
  transparencyLog: VerifiedLogEntry[];
  timestamps: VerifiedTimestamp[];
  signedAt?: string;
} {
  const material = bundle.verificationMaterial.content;
  const raw =
    material.$case === 'certificate'
      ? material.certificate.rawBytes
      : material.$case === 'x509CertificateChain'
        ? material.x509CertificateChain.certificates[0]?.rawBytes
        : undefined;
  if (!raw)
    throw new DroverError('BUNDLE_INVALID', 'the bundle has no signing certificate', {
      hint: 'Re-sign the artifact.',
    });
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(Buffer.from(raw));
  } catch (error) {
    throw new DroverError('BUNDLE_INVALID', 'the signing certificate does not parse', {
      hint: 'Re-sign the artifact.',
      cause: error,
    });
  }
  const roots = trustedCertificates(options.trustedRoot);
  // The log entries give the trusted signing time the short-lived certificate is checked at.
  const transparencyLog = verifyLogEntries({
    bundle,
    logs: trustedLogs(options.trustedRoot),
    certificate: raw,
  });
  if (options.policy.requireTransparencyLog && transparencyLog.length === 0) {
    throw new DroverError(
      'TLOG_MISSING',
      'the policy requires a transparency-log entry and the bundle has none',
      {
        kind: 'denied',
        hint: 'Re-sign with `drover sign --keyless` (which logs in Rekor by default), not --no-tlog.',
      },
    );
  }
  const tsaTimestamps = verifyTimestamps({
    bundle,
    authorities: trustedTimestampAuthorities(options.trustedRoot),
  });
  const timestamps = [
    ...transparencyLog.filter((e) => e.signedEntryTimestamp).map((e) => e.integratedTime),
    ...tsaTimestamps.map((t) => t.signingTime),
  ];
  const signedAt = timestamps[0];
  const times = timestamps.length
    ? timestamps.map((t) => Date.parse(t))
    : [(options.currentTime ?? new Date()).getTime()];
  for (const at of times) verifyChain(leaf, roots, at, timestamps.length > 0);
  const { issuer, subject } = certificateIdentity(Buffer.from(raw));
  const ok = options.policy.identities.some(
    (id) =>
      id.issuer === issuer &&
      (id.subject !== undefined
        ? id.subject === subject
        : new RegExp(`^(?:${id.subjectRegExp})$`).test(subject)),
  );
  if (!ok) {
    throw new DroverError(
      'IDENTITY_UNTRUSTED',
      `signed by ${subject} (issuer ${issuer}), which the policy does not trust`,
      {
        kind: 'denied',
        hint: 'Add this identity to the policy "identities" if it is expected.',
        details: { issuer, subject },
      },
    );
  }
  let predicateType: string | undefined;
  if (bundle.content.$case === 'messageSignature') {
    const ms = bundle.content.messageSignature;
    const bundled = Buffer.from(ms.messageDigest?.digest ?? []).toString('hex');
    if (bundled !== digestHex)
      throw tampered(options.artifact, `sha256:${digestHex}` as DigestString, bundled);
    if (
      !verifyDigest(leaf.publicKey, 'ecdsa-p256', Buffer.from(digestHex, 'hex'), Buffer.from(ms.signature))
    ) {
      throw badSignature(subject);
    }
  } else {
    const env = bundle.content.dsseEnvelope;
    const sig = env.signatures[0]?.sig;
    if (
      !sig ||
      !verifyPayload(
        leaf.publicKey,
        'ecdsa-p256',
        preAuthEncoding(env.payloadType, env.payload),
        Buffer.from(sig),
      )
    ) {
      throw badSignature(subject);
    }
    predicateType = checkStatement(env.payloadType, env.payload, digestHex, options);
  }
  return {
    signer: { issuer, subject },
    ...(predicateType ? { predicateType } : {}),
    transparencyLog,
    timestamps: tsaTimestamps,
    ...(signedAt ? { signedAt } : {}),
  };
}

/** CA certificates of a Sigstore trusted_root.json (`certificateAuthorities[].certChain.certificates[].rawBytes`). */
function trustedCertificates(trustedRoot: unknown): X509Certificate[] {
  const cas = (
    trustedRoot as
      | { certificateAuthorities?: { certChain?: { certificates?: { rawBytes?: string }[] } }[] }
      | undefined
  )?.certificateAuthorities;
  if (!Array.isArray(cas) || cas.length === 0) {
    throw new DroverError(
      'TRUSTED_ROOT_MISSING',
      'a keyless bundle needs a trusted root with the Fulcio CA',
      {
        kind: 'usage',
        hint: 'Pass --trusted-root (or set "trustedRoot" in the policy) with the Sigstore trusted_root.json of the Fulcio instance that issued the certificate.',
      },
    );
  }
  try {
    return cas.flatMap((ca) =>
      (ca.certChain?.certificates ?? []).map(
        (c) => new X509Certificate(Buffer.from(c.rawBytes ?? '', 'base64')),
      ),
    );
  } catch (error) {
    throw new DroverError(
      'TRUSTED_ROOT_INVALID',
      'the trusted root holds a certificate that does not parse',
      {
        hint: 'Use the trusted_root.json published by the Sigstore instance, unmodified.',
        cause: error,
      },
    );
  }
}

// The short-lived certificate must be valid at the trusted signing time (a log's signed entry timestamp); without
// one there is no trusted signing time and it is checked against the current time instead.
function verifyChain(
  leaf: X509Certificate,
  roots: X509Certificate[],
  at: number,
  timestamped: boolean,
): void {
  const untrusted = (why: string): DroverError =>
    new DroverError('CERTIFICATE_UNTRUSTED', `the signing certificate ${why}`, {
      kind: 'denied',
      hint: timestamped
        ? 'Check --trusted-root names the Fulcio instance that signed; the certificate must be valid when the log integrated the entry.'
        : 'Check --trusted-root names the Fulcio instance that signed. This bundle has no transparency-log entry, so it verifies only while its certificate is valid.',
    });
  if (Date.parse(leaf.validFrom) > at || Date.parse(leaf.validTo) < at)
    throw untrusted(
      `is not valid ${timestamped ? 'at the signing time' : 'now'} ${new Date(at).toISOString()} (valid ${leaf.validFrom} – ${leaf.validTo})`,
    );
  let current = leaf;
  for (let depth = 0; depth < 5; depth++) {
    const issuer = roots.find((ca) => ca.ca && current.checkIssued(ca) && current.verify(ca.publicKey));
    if (!issuer) throw untrusted('does not chain to the trusted root');
    if (issuer.checkIssued(issuer)) return;
    current = issuer;
  }
  throw untrusted('chain is too long');
}

const OID_FULCIO_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_FULCIO_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';

function certificateIdentity(der: Uint8Array): { issuer: string; subject: string } {
  const cert = SigstoreX509.parse(Buffer.from(der) as Buffer<ArrayBuffer>);
  const v2 = cert.extension(OID_FULCIO_ISSUER_V2)?.value;
  // V2 is a DER UTF8String (tag, short length, bytes); V1 is the raw string.
  const issuer =
    v2 && v2.length > 2
      ? v2.subarray(2).toString('utf8')
      : (cert.extension(OID_FULCIO_ISSUER_V1)?.value.toString('utf8') ?? '');
  return { issuer, subject: cert.subjectAltName ?? '' };
}

function verifyPayload(key: KeyObject, algorithm: KeyAlgorithm, data: Buffer, signature: Buffer): boolean {
  try {
    switch (algorithm) {
      case 'ecdsa-p256':
        return nodeVerify('sha256', data, key, signature);
      case 'ed25519':
        return nodeVerify(null, data, key, signature);
      case 'rsa-pss':
        return nodeVerify(
          'sha256',
          data,
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
          signature,
        );
    }
  } catch {
    return false;
  }
}

/** Check the in-toto statement names the artifact and has an acceptable predicate type; returns the type. */
function checkStatement(
  payloadType: string,
  payload: Buffer,
  digestHex: string,
  options: VerifyArtifactOptions,
): string {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new DroverError(
      'PAYLOAD_TYPE_UNSUPPORTED',
      `DSSE payload type ${payloadType} is not an in-toto statement`,
      {
        hint: `drover verifies ${IN_TOTO_PAYLOAD_TYPE} envelopes.`,
      },
    );
  }
  let statement: { _type?: unknown; subject?: { digest?: { sha256?: string } }[]; predicateType?: unknown };
  try {
    statement = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    throw new DroverError('BUNDLE_INVALID', 'the DSSE payload is not JSON', {
      hint: 'Re-create the attestation.',
      cause: error,
    });
  }
  if (statement._type !== IN_TOTO_STATEMENT_V1 || !Array.isArray(statement.subject)) {
    throw new DroverError('BUNDLE_INVALID', 'the DSSE payload is not an in-toto Statement v1', {
      hint: 'Re-create the attestation with `drover sign`.',
    });
  }
  const predicateType = String(statement.predicateType);
  const wanted = [
    ...(options.policy.predicateTypes ?? []),
    ...(options.predicateType ? [options.predicateType] : []),
  ];
  if (wanted.length > 0 && !wanted.includes(predicateType)) throw wrongPredicate(predicateType, wanted);
  if (!statement.subject.some((s) => s?.digest?.sha256 === digestHex)) {
    throw tampered(
      options.artifact,
      `sha256:${digestHex}` as DigestString,
      statement.subject.map((s) => s?.digest?.sha256).join(','),
    );
  }
  return predicateType;
}

function tampered(artifact: string, actual: DigestString, signed: string): DroverError {
  return new DroverError(
    'ARTIFACT_TAMPERED',
    `${artifact} does not match the signed digest: it is ${actual}, the bundle signs sha256:${signed}`,
    {
      kind: 'integrity',
      hint: 'The file changed after signing (or this bundle belongs to another file); do not use it.',
      details: { actual, signed: `sha256:${signed}` },
    },
  );
}

function badSignature(keyName: string): DroverError {
  return new DroverError('SIGNATURE_INVALID', `the signature does not verify with trusted key ${keyName}`, {
    kind: 'integrity',
    hint: 'The bundle was altered, or it was made by a different key with the same hint; re-sign the artifact.',
  });
}

function wrongPredicate(actual: string, wanted: string[]): DroverError {
  return new DroverError(
    'PREDICATE_TYPE_MISMATCH',
    `the attestation predicate type is ${actual}, expected ${wanted.join(' or ')}`,
    {
      kind: 'denied',
      hint: 'Verify the bundle that carries the expected attestation (e.g. the provenance bundle), or relax the policy.',
      details: { actual, expected: wanted },
    },
  );
}

async function readBundle(input: unknown): Promise<Bundle> {
  if (typeof input !== 'string') return parseBundle(input);
  let text: string;
  try {
    text = await readFile(input, 'utf8');
  } catch (error) {
    throw toDroverError(error, 'reading bundle');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DroverError('BUNDLE_INVALID', `${input} is not JSON`, {
      hint: 'Pass the .sigstore.json file written by `drover sign`, unmodified.',
      cause: error,
    });
  }
  return parseBundle(json, input);
}
