import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { DroverError } from '@drover/core';
import type { Bundle } from '@sigstore/bundle';
import { RFC3161Timestamp } from '@sigstore/core';

// A minimal RFC 3161 client: a DER TimeStampReq (SHA-256 imprint, nonce, certReq) posted as
// application/timestamp-query; the DER TimeStampResp is stored as is in the bundle's
// `timestampVerificationData.rfc3161Timestamps[].signedTimestamp` (the Sigstore bundle format). Parsing and signature
// checks use @sigstore/core's RFC3161Timestamp.

const SHA256_ALGORITHM_ID = Buffer.from('300d06096086480165030402010500', 'hex');
const OID_TIMESTAMPING = '1.3.6.1.5.5.7.3.8';

function der(tag: number, content: Buffer): Buffer {
  const len = content.length;
  const header =
    len < 0x80
      ? Buffer.from([tag, len])
      : len < 0x100
        ? Buffer.from([tag, 0x81, len])
        : Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
  return Buffer.concat([header, content]);
}

/** DER TimeStampReq v1 for a SHA-256 imprint of `data`, asking for the TSA certificate (RFC 3161 §2.4.1). */
export function timestampRequest(data: Uint8Array, nonce: Buffer): Buffer {
  const imprint = der(
    0x30,
    Buffer.concat([SHA256_ALGORITHM_ID, der(0x04, createHash('sha256').update(data).digest())]),
  );
  // a positive INTEGER: prefix 0x00 when the high bit is set
  const n = (nonce[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), nonce]) : nonce;
  return der(
    0x30,
    Buffer.concat([Buffer.from([0x02, 0x01, 0x01]), imprint, der(0x02, n), Buffer.from([0x01, 0x01, 0xff])]),
  );
}

/** Ask an RFC 3161 TSA to timestamp `data` (the signature bytes); returns the checked DER TimeStampResp. */
export async function requestTimestamp(options: {
  url: string;
  data: Uint8Array;
  timeoutMs?: number;
}): Promise<Buffer> {
  const nonce = randomBytes(8);
  const failed = (why: string, cause?: unknown) =>
    new DroverError('TSA_FAILED', `the timestamp authority ${options.url} ${why}`, {
      kind: 'unavailable',
      hint: 'Check --tsa-url (an RFC 3161 endpoint, e.g. https://timestamp.sigstore.dev/api/v1/timestamp) and network access.',
      ...(cause ? { cause } : {}),
    });
  let body: Buffer;
  try {
    const response = await fetch(options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/timestamp-query', accept: 'application/timestamp-reply' },
      body: timestampRequest(options.data, nonce),
      signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
    });
    if (!response.ok) throw failed(`answered HTTP ${response.status}`);
    body = Buffer.from(await response.arrayBuffer());
  } catch (error) {
    if (error instanceof DroverError) throw error;
    throw failed(`could not be reached: ${(error as Error).message}`, error);
  }
  let ts: RFC3161Timestamp;
  try {
    ts = RFC3161Timestamp.parse(body as Buffer<ArrayBuffer>);
    const status = ts.status;
    if (status !== 0n && status !== 1n) throw new Error(`status ${status} (rejected)`);
    ts.tstInfo.verify(Buffer.from(options.data));
  } catch (error) {
    throw failed(`returned an unusable response: ${(error as Error).message}`, error);
  }
  if (!tstNonce(ts)?.equals(stripSign(nonce)))
    throw failed('answered with another nonce (a replayed response?)');
  return body;
}

function stripSign(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** The TSTInfo nonce (the first INTEGER after genTime), if any. */
function tstNonce(ts: RFC3161Timestamp): Buffer | undefined {
  const subs = ts.tstInfo.root.subs;
  for (let i = 5; i < subs.length; i++) {
    const sub = subs[i];
    if (sub?.tag.isUniversal() && sub.tag.isInteger()) return stripSign(Buffer.from(sub.value));
  }
  return undefined;
}

/** A timestamp authority the verifier trusts (`timestampAuthorities` of a Sigstore trusted_root.json). */
export interface TrustedTimestampAuthority {
  /** Leaf (TSA signing certificate) first, then intermediates and root. */
  chain: X509Certificate[];
  validFrom: number;
  validTo: number;
}

/** Timestamp authorities from a parsed trusted_root.json; an absent list is empty. */
export function trustedTimestampAuthorities(trustedRoot: unknown): TrustedTimestampAuthority[] {
  const list = (trustedRoot as { timestampAuthorities?: unknown } | undefined)?.timestampAuthorities;
  if (list === undefined) return [];
  const invalid = (msg: string, cause?: unknown) =>
    new DroverError('TRUSTED_ROOT_INVALID', `trusted root: ${msg}`, {
      hint: 'Use the trusted_root.json published by the Sigstore instance, unmodified.',
      ...(cause ? { cause } : {}),
    });
  if (!Array.isArray(list)) throw invalid('"timestampAuthorities" is not a list');
  return list.map((raw, i) => {
    const a = raw as {
      certChain?: { certificates?: { rawBytes?: string }[] };
      validFor?: { start?: string; end?: string };
    };
    let chain: X509Certificate[];
    try {
      chain = (a?.certChain?.certificates ?? []).map(
        (c) => new X509Certificate(Buffer.from(c.rawBytes ?? '', 'base64')),
      );
    } catch (error) {
      throw invalid(`timestampAuthorities[${i}] has a certificate that does not parse`, error);
    }
    if (chain.length === 0) throw invalid(`timestampAuthorities[${i}] has no certificates`);
    return {
      chain,
      validFrom: a.validFor?.start ? Date.parse(a.validFor.start) : Number.NEGATIVE_INFINITY,
      validTo: a.validFor?.end ? Date.parse(a.validFor.end) : Number.POSITIVE_INFINITY,
    };
  });
}

/** What a verified RFC 3161 timestamp proves. */
export interface VerifiedTimestamp {
  /** RFC 3339 genTime. */
  signingTime: string;
  /** Subject of the TSA certificate. */
  authority: string;
}

/**
 * Verify the bundle's RFC 3161 timestamps over its signature: each must be signed by a trusted TSA certificate
 * (timeStamping EKU, chaining to the authority's root, valid at genTime) and name this signature's SHA-256.
 */
export function verifyTimestamps(options: {
  bundle: Bundle;
  authorities: TrustedTimestampAuthority[];
}): VerifiedTimestamp[] {
  const stamps = options.bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps ?? [];
  if (stamps.length > 0 && options.authorities.length === 0) {
    throw new DroverError(
      'TIMESTAMP_UNTRUSTED',
      'the bundle has an RFC 3161 timestamp but no TSA is trusted',
      {
        kind: 'usage',
        hint: 'Pass a trusted root whose "timestampAuthorities" list the TSA that timestamped the signature.',
      },
    );
  }
  const content = options.bundle.content;
  const signature = Buffer.from(
    content.$case === 'messageSignature'
      ? content.messageSignature.signature
      : (content.dsseEnvelope.signatures[0]?.sig ?? []),
  );
  return stamps.map((stamp) => {
    const invalid = (why: string, cause?: unknown) =>
      new DroverError('TIMESTAMP_INVALID', `RFC 3161 timestamp: ${why}`, {
        kind: 'integrity',
        hint: 'The timestamp was altered or belongs to another signature; do not trust this bundle.',
        ...(cause ? { cause } : {}),
      });
    let ts: RFC3161Timestamp;
    let signingTime: Date;
    let serial: string;
    try {
      ts = RFC3161Timestamp.parse(Buffer.from(stamp.signedTimestamp) as Buffer<ArrayBuffer>);
      signingTime = ts.signingTime;
      serial = stripSign(ts.signerSerialNumber).toString('hex').toUpperCase();
    } catch (error) {
      throw invalid('does not parse', error);
    }
    const authority = options.authorities.find(
      (a) =>
        stripSign(Buffer.from(a.chain[0]?.serialNumber ?? '', 'hex'))
          .toString('hex')
          .toUpperCase() === serial,
    );
    const leaf = authority?.chain[0];
    if (!authority || !leaf) {
      throw new DroverError(
        'TIMESTAMP_UNTRUSTED',
        'the timestamp is signed by a TSA the trusted root does not list',
        {
          kind: 'denied',
          hint: 'Add the TSA to the trusted root "timestampAuthorities" if it is expected.',
          details: { signerSerialNumber: serial },
        },
      );
    }
    try {
      ts.verify(signature, leaf.publicKey);
    } catch (error) {
      throw invalid((error as Error).message, error);
    }
    const at = signingTime.getTime();
    const untrusted = (why: string) =>
      new DroverError('TIMESTAMP_UNTRUSTED', `the timestamp authority ${why}`, {
        kind: 'denied',
        hint: 'Check the trusted root "timestampAuthorities" (certificates and validFor).',
      });
    if (!(at >= authority.validFrom && at <= authority.validTo))
      throw untrusted('was not trusted at the signing time');
    if (!(leaf.keyUsage ?? []).includes(OID_TIMESTAMPING))
      throw untrusted('certificate is not for timestamping');
    for (const [i, cert] of authority.chain.entries()) {
      if (Date.parse(cert.validFrom) > at || Date.parse(cert.validTo) < at) {
        throw untrusted(`certificate ${cert.subject} was not valid at ${signingTime.toISOString()}`);
      }
      const issuer = authority.chain[i + 1] ?? cert;
      if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
        throw untrusted(`certificate chain is broken at ${cert.subject}`);
      }
    }
    return { signingTime: signingTime.toISOString(), authority: leaf.subject.replaceAll('\n', ', ') };
  });
}
