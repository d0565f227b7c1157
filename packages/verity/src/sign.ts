import {
  createHash,
  createPrivateKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
  X509Certificate,
} from 'node:crypto';
import { type Context, DroverError, throwIfAborted } from '@drover/core';
import {
  children,
  type DerNode,
  explicit,
  integer,
  nullValue,
  octetString,
  oid,
  oidText,
  readDer,
  sequence,
  set,
} from './der.js';

const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  messageDigest: '1.2.840.113549.1.9.4',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ed25519: '1.3.101.112',
} as const;

const DIGESTS = {
  sha256: { oid: '2.16.840.1.101.3.4.2.1', ecdsa: '1.2.840.10045.4.3.2', rsa: '1.2.840.113549.1.1.11' },
  sha384: { oid: '2.16.840.1.101.3.4.2.2', ecdsa: '1.2.840.10045.4.3.3', rsa: '1.2.840.113549.1.1.12' },
  sha512: { oid: '2.16.840.1.101.3.4.2.3', ecdsa: '1.2.840.10045.4.3.4', rsa: '1.2.840.113549.1.1.13' },
} as const;
type DigestName = keyof typeof DIGESTS;

/** Size a DPS signature partition's contents are padded to. */
export const DPS_SIGNATURE_ALIGNMENT = 4096;

export interface SignRootHashOptions {
  /** Hex root hash; it is signed as the lowercase hex text, without a newline, as the kernel expects. */
  rootHash: string;
  /** The signer's private key: PEM or DER (PKCS#8, PKCS#1, SEC1) or a KeyObject. RSA, EC and Ed25519. */
  key: string | Buffer | KeyObject;
  /** The signer's X.509 certificate, PEM or DER. */
  certificate: string | Buffer;
  /** Embed the certificate in the PKCS#7 (default true; `openssl smime -nocerts` is false). */
  includeCertificate?: boolean;
  /** Digest for the signature, default sha256. */
  digest?: DigestName;
}

/** A root-hash signature in the forms the kernel and systemd use. */
export interface RootHashSignature {
  rootHash: string;
  /** Detached PKCS#7 (CMS SignedData) DER, for `root_hash_sig_key_desc` / `veritysetup --root-hash-signature`. */
  signature: Buffer;
  /** SHA-256 of the certificate's DER, hex. */
  certificateFingerprint: string;
  /** The Discoverable Partitions signature-partition JSON (unpadded). */
  dpsJson: string;
}

function loadCertificate(certificate: string | Buffer): X509Certificate {
  try {
    return new X509Certificate(certificate);
  } catch (error) {
    throw new DroverError(
      'VERITY_CERTIFICATE_INVALID',
      'the certificate is not a readable X.509 certificate',
      {
        hint: 'Pass the signer certificate as PEM or DER (e.g. made with `openssl req -x509`).',
        cause: error,
      },
    );
  }
}

function loadKey(key: string | Buffer | KeyObject): KeyObject {
  if (typeof key === 'object' && 'type' in key && !Buffer.isBuffer(key)) return key;
  try {
    const text = Buffer.isBuffer(key) ? key : Buffer.from(key);
    const pem = text.includes('-----BEGIN');
    return createPrivateKey(pem ? { key: text, format: 'pem' } : { key: text, format: 'der', type: 'pkcs8' });
  } catch (error) {
    throw new DroverError('VERITY_KEY_INVALID', 'the private key cannot be read', {
      hint: 'Pass an unencrypted PEM or PKCS#8 DER private key (RSA, EC or Ed25519).',
      cause: error,
    });
  }
}

function normalizeRootHash(rootHash: string): string {
  const text = rootHash.trim().toLowerCase();
  if (!/^[0-9a-f]+$/.test(text) || text.length % 2 !== 0 || text.length < 40) {
    throw new DroverError('VERITY_ROOT_HASH_INVALID', 'root hash must be hex (at least 20 bytes)', {
      hint: 'Pass the root hash printed by `drover verity format`.',
    });
  }
  return text;
}

/** Issuer Name and serial number elements of a certificate, raw DER. */
function issuerAndSerial(cert: X509Certificate): { issuer: Buffer; serial: Buffer } {
  const tbs = children(readDer(cert.raw))[0];
  if (!tbs) throw new DroverError('VERITY_CERTIFICATE_INVALID', 'certificate has no TBSCertificate');
  const fields = children(tbs);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const serial = fields[offset];
  const issuer = fields[offset + 2];
  if (!serial || !issuer)
    throw new DroverError('VERITY_CERTIFICATE_INVALID', 'certificate lacks issuer or serial');
  return { issuer: issuer.raw, serial: serial.raw };
}

function signatureAlgorithm(key: KeyObject, digest: DigestName): Buffer {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return sequence(oid(OID.rsaEncryption), nullValue());
    case 'ec':
      return sequence(oid(DIGESTS[digest].ecdsa));
    case 'ed25519':
      return sequence(oid(OID.ed25519));
    default:
      throw new DroverError(
        'VERITY_KEY_UNSUPPORTED',
        `keys of type ${key.asymmetricKeyType} cannot sign root hashes`,
        {
          hint: 'Use an RSA (what the kernel accepts everywhere), EC or Ed25519 key.',
        },
      );
  }
}

/** DPS signature-partition JSON for a root hash and its signature. */
function dpsJson(rootHash: string, signature: Buffer, fingerprint: string): string {
  return JSON.stringify({
    rootHash,
    signature: signature.toString('base64'),
    certificateFingerprint: fingerprint,
  });
}

/** Sign a root hash as the kernel expects: detached PKCS#7 DER over the hex text, without signed attributes. */
export async function signRootHash(
  options: SignRootHashOptions,
  ctx: Context = {},
): Promise<RootHashSignature> {
  throwIfAborted(ctx);
  const rootHash = normalizeRootHash(options.rootHash);
  const digest = options.digest ?? 'sha256';
  if (!(digest in DIGESTS)) {
    throw new DroverError(
      'VERITY_HASH_UNSUPPORTED',
      `signature digest ${digest} is not sha256, sha384 or sha512`,
      {
        hint: 'Leave the digest at sha256.',
      },
    );
  }
  const key = loadKey(options.key);
  const cert = loadCertificate(options.certificate);
  if (!cert.checkPrivateKey(key)) {
    throw new DroverError('VERITY_KEY_MISMATCH', 'the private key does not belong to the certificate', {
      hint: 'Pass the key the certificate was issued for.',
    });
  }
  const content = Buffer.from(rootHash, 'latin1');
  const algorithm = key.asymmetricKeyType === 'ed25519' ? null : digest;
  const signatureValue = cryptoSign(algorithm, content, key);
  const { issuer, serial } = issuerAndSerial(cert);
  const digestAlgorithm = sequence(oid(DIGESTS[digest].oid));
  const signerInfo = sequence(
    integer(1),
    sequence(issuer, serial),
    digestAlgorithm,
    signatureAlgorithm(key, digest),
    octetString(signatureValue),
  );
  const signedData = sequence(
    integer(1),
    set(digestAlgorithm),
    sequence(oid(OID.data)),
    ...(options.includeCertificate === false ? [] : [explicit(0, cert.raw)]),
    set(signerInfo),
  );
  const signature = sequence(oid(OID.signedData), explicit(0, signedData));
  const fingerprint = createHash('sha256').update(cert.raw).digest('hex');
  return {
    rootHash,
    signature,
    certificateFingerprint: fingerprint,
    dpsJson: dpsJson(rootHash, signature, fingerprint),
  };
}

export interface VerifyRootHashSignatureOptions {
  rootHash: string;
  /** PKCS#7 DER (or a DPS signature JSON's base64 `signature`, decoded). */
  signature: Buffer;
  /** The signer's certificate (trusted as is unless `ca` is given too); default the one embedded in `signature`. */
  certificate?: string | Buffer;
  /** Trusted CA certificate(s), PEM (a bundle is fine) or DER: the signer's certificate must be issued by one. */
  ca?: string | Buffer;
}

/** The outcome of checking a root-hash signature. */
export interface RootHashSignatureCheck {
  valid: boolean;
  /** Why it is not valid. */
  reason?: string;
  signer: { subject: string; issuer: string; serialNumber: string };
  certificateFingerprint: string;
  /** With `ca`: the subject of the CA certificate that issued the signer's. */
  issuedBy?: string;
}

/** Split a PEM bundle (or take one DER certificate) into certificates. */
function loadCertificates(input: string | Buffer, what: string): X509Certificate[] {
  const text = Buffer.isBuffer(input) ? input.toString('latin1') : input;
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  const certificates = blocks ? blocks.map((b) => loadCertificate(b)) : [loadCertificate(input)];
  if (certificates.length === 0) {
    throw new DroverError('VERITY_CERTIFICATE_INVALID', `${what} holds no certificate`, {
      hint: 'Pass PEM or DER X.509 certificates.',
    });
  }
  return certificates;
}

/** The certificates embedded in a PKCS#7 SignedData (its optional [0] field). */
function embeddedCertificates(signedData: DerNode[]): X509Certificate[] {
  const field = signedData.find((n, i) => i >= 3 && n.tag === 0xa0);
  if (!field) return [];
  const out: X509Certificate[] = [];
  for (const node of children(field)) {
    try {
      out.push(new X509Certificate(node.raw));
    } catch {
      // Not an X.509 certificate (e.g. an attribute certificate): it cannot be the signer's, skip it.
    }
  }
  return out;
}

function algorithmName(node: DerNode): string {
  const first = children(node)[0];
  return first ? oidText(first.value) : '';
}

/** Check a detached PKCS#7 root-hash signature against a trusted certificate (with or without signed attributes). */
export async function verifyRootHashSignature(
  options: VerifyRootHashSignatureOptions,
  ctx: Context = {},
): Promise<RootHashSignatureCheck> {
  throwIfAborted(ctx);
  const rootHash = normalizeRootHash(options.rootHash);
  if (options.certificate === undefined && options.ca === undefined) {
    throw new DroverError(
      'VERITY_CERTIFICATE_REQUIRED',
      'no certificate or CA to check the signature against',
      {
        kind: 'usage',
        hint: 'Pass the signer certificate (--cert) or the CA that issued it (--ca).',
      },
    );
  }
  const cas = options.ca === undefined ? [] : loadCertificates(options.ca, 'the CA file');
  const top = children(readDer(options.signature));
  if (top[0]?.tag !== 0x06 || oidText(top[0].value) !== OID.signedData || top[1]?.tag !== 0xa0) {
    throw new DroverError('VERITY_SIGNATURE_MALFORMED', 'the signature is not a PKCS#7 SignedData', {
      kind: 'integrity',
      hint: 'Pass the DER file made by `drover verity sign` or `openssl smime -sign -outform der`.',
    });
  }
  const signedData = children(children(top[1])[0]!);
  const signerInfos = signedData[signedData.length - 1]!;
  const candidates =
    options.certificate === undefined
      ? embeddedCertificates(signedData)
      : [loadCertificate(options.certificate)];
  if (candidates.length === 0) {
    throw new DroverError('VERITY_CERTIFICATE_REQUIRED', 'the signature embeds no certificate', {
      kind: 'usage',
      hint: 'Pass the signer certificate with --cert (the signature was made without embedded certificates).',
    });
  }
  let first: RootHashSignatureCheck | undefined;
  for (const cert of candidates) {
    const check = checkSigner(rootHash, cert, signerInfos, cas);
    if (check.valid) return check;
    // Prefer the reason from a certificate that matched a signer over "no signer matches".
    if (!first || (first.reason?.startsWith('no signer') && !check.reason?.startsWith('no signer')))
      first = check;
  }
  return first!;
}

function checkSigner(
  rootHash: string,
  cert: X509Certificate,
  signerInfos: DerNode,
  cas: X509Certificate[],
): RootHashSignatureCheck {
  const base: RootHashSignatureCheck = {
    valid: false,
    signer: { subject: cert.subject, issuer: cert.issuer, serialNumber: cert.serialNumber },
    certificateFingerprint: createHash('sha256').update(cert.raw).digest('hex'),
  };
  if (cas.length > 0) {
    const ca = cas.find((c) => cert.checkIssued(c) && cert.verify(c.publicKey));
    if (!ca) return { ...base, reason: 'the signer certificate is not issued by the given CA' };
    base.issuedBy = ca.subject;
  }
  const wanted = issuerAndSerial(cert);
  for (const info of children(signerInfos)) {
    const f = children(info);
    const sid = f[1] ? children(f[1]) : [];
    if (!sid[0]?.raw.equals(wanted.issuer) || !sid[1]?.raw.equals(wanted.serial)) continue;
    const digestOid = algorithmName(f[2]!);
    const digest = (Object.keys(DIGESTS) as DigestName[]).find((d) => DIGESTS[d].oid === digestOid);
    if (!digest) return { ...base, reason: `unsupported digest ${digestOid}` };
    const content = Buffer.from(rootHash, 'latin1');
    let signed = content;
    let next = 3;
    if (f[3]?.tag === 0xa0) {
      // Signed attributes: the messageDigest must match the content; the signature covers the attributes as a SET.
      const attrs = f[3];
      const md = children(attrs).find((a) => oidText(children(a)[0]!.value) === OID.messageDigest);
      const value = md ? children(children(md)[1]!)[0]?.value : undefined;
      if (!value?.equals(createHash(digest).update(content).digest())) {
        return { ...base, reason: 'the signed message digest does not match the root hash' };
      }
      signed = Buffer.concat([Buffer.from([0x31]), attrs.raw.subarray(1)]);
      next = 4;
    }
    const signatureValue = f[next + 1]?.value;
    if (!signatureValue) return { ...base, reason: 'signer info has no signature' };
    const algorithm = cert.publicKey.asymmetricKeyType === 'ed25519' ? null : digest;
    const valid = cryptoVerify(algorithm, signed, cert.publicKey, signatureValue);
    return valid ? { ...base, valid } : { ...base, reason: 'the signature does not match the root hash' };
  }
  return { ...base, reason: 'no signer in the signature matches the certificate' };
}

/** The DPS signature partition's contents: the JSON, NUL-padded to a multiple of 4096 bytes. */
export function renderDpsSignature(signature: Pick<RootHashSignature, 'dpsJson'>): Buffer {
  const json = Buffer.from(signature.dpsJson, 'utf8');
  const size = Math.ceil(json.length / DPS_SIGNATURE_ALIGNMENT) * DPS_SIGNATURE_ALIGNMENT;
  const out = Buffer.alloc(size);
  json.copy(out);
  return out;
}

/** Parse a DPS signature partition (JSON followed by NUL padding). */
export function parseDpsSignature(bytes: Buffer): {
  rootHash: string;
  signature: Buffer;
  certificateFingerprint?: string;
} {
  const end = bytes.indexOf(0);
  const text = bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new DroverError('VERITY_SIGNATURE_MALFORMED', 'the signature partition does not hold JSON', {
      kind: 'integrity',
      hint: 'Point at the verity signature partition written by `drover verity sign --dps`.',
      cause: error,
    });
  }
  const doc = parsed as { rootHash?: unknown; signature?: unknown; certificateFingerprint?: unknown };
  if (typeof doc.rootHash !== 'string' || typeof doc.signature !== 'string') {
    throw new DroverError('VERITY_SIGNATURE_MALFORMED', 'signature JSON lacks rootHash or signature', {
      kind: 'integrity',
      hint: 'The JSON must have string fields rootHash and signature (base64 PKCS#7).',
    });
  }
  const out: { rootHash: string; signature: Buffer; certificateFingerprint?: string } = {
    rootHash: doc.rootHash,
    signature: Buffer.from(doc.signature, 'base64'),
  };
  if (typeof doc.certificateFingerprint === 'string') out.certificateFingerprint = doc.certificateFingerprint;
  return out;
}
