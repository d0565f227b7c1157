import {
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign as nodeSign,
  X509Certificate,
} from 'node:crypto';
import { DroverError } from '@drover/core';
import { signDigest } from './digest-sign.js';
import { publicKeyHint } from './keys.js';
import type { Signature, Signer, Witnessed } from './signer.js';
import { requestTimestamp } from './tsa.js';

export const DEFAULT_FULCIO_URL = 'https://fulcio.sigstore.dev';
export const DEFAULT_REKOR_URL = 'https://rekor.sigstore.dev';

export interface KeylessSignerOptions {
  /** Fulcio base URL (tests point it at a local fake). */
  fulcioURL?: string;
  /** Returns an OIDC identity token; defaults to the GitHub Actions token with audience "sigstore". */
  identityToken?: () => Promise<string>;
  /** Rekor base URL (v1 API) the signature is logged in (tests point it at a local fake). */
  rekorURL?: string;
  /**
   * Log the signature in Rekor (default true). Without a log entry there is no trusted signing time, so the
   * bundle verifies only while the short-lived certificate is valid.
   */
  transparencyLog?: boolean;
  /** RFC 3161 timestamp authority URL: the signature is also timestamped there (optional). */
  tsaURL?: string;
}

/**
 * A keyless signer: an ephemeral ECDSA P-256 key whose public half Fulcio certifies for the caller's OIDC identity
 * (GitHub Actions: `permissions: id-token: write`). Artifacts are signed as message signatures over their digest
 * (like `cosign sign-blob`), statements as DSSE; the bundle carries the certificate and the Rekor entry (a
 * `hashedrekord` or `dsse` entry with its signed entry timestamp and inclusion proof).
 */
export function keylessSigner(options: KeylessSignerOptions = {}): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const hint = publicKeyHint(publicKey);
  const signer: Signer = {
    async sign(input): Promise<Signature> {
      const certificate = await certify(options, privateKey, publicPem);
      return {
        signature:
          'digest' in input
            ? signDigest(privateKey, 'ecdsa-p256', input.digest)
            : nodeSign('sha256', input.payload, privateKey),
        algorithm: 'ecdsa-p256',
        publicKey: publicPem,
        keyHint: hint,
        certificate,
      };
    },
  };
  const logged = options.transparencyLog !== false;
  const tsaURL = options.tsaURL;
  if (logged || tsaURL) {
    signer.witness = async ({ content, signature }) => {
      const result: Witnessed = logged
        ? await logEntry(options.rekorURL ?? DEFAULT_REKOR_URL, content, signature)
        : {};
      if (tsaURL) {
        const sig =
          content.$case === 'messageSignature'
            ? content.messageSignature.signature
            : (content.dsseEnvelope.signatures[0]?.sig ?? Buffer.alloc(0));
        const signedTimestamp = await requestTimestamp({ url: tsaURL, data: sig });
        result.rfc3161Timestamps = [{ signedTimestamp }];
      }
      return result;
    };
  }
  return signer;
}

/** Submit the signed content to Rekor (v1 API) through @sigstore/sign's RekorWitness. */
async function logEntry(
  rekorURL: string,
  content: Parameters<NonNullable<Signer['witness']>>[0]['content'],
  signature: Signature,
): Promise<Witnessed> {
  if (!signature.certificate) {
    throw new DroverError('KEYLESS_REKOR_FAILED', 'a transparency-log entry needs the signing certificate', {
      kind: 'internal',
    });
  }
  const certPem = new X509Certificate(signature.certificate).toString();
  const { RekorWitness } = await import('@sigstore/sign');
  const witness = new RekorWitness({
    rekorBaseURL: rekorURL,
    entryType: 'dsse',
    fetchOnConflict: true,
    retry: 0,
    timeout: 15_000,
  });
  let result: Witnessed;
  try {
    result = await witness.testify(content, certPem);
  } catch (error) {
    const cause = (error as { cause?: Error }).cause;
    throw new DroverError(
      'KEYLESS_REKOR_FAILED',
      `the transparency log did not accept the signature: ${(error as Error).message}${cause?.message ? ` (${cause.message})` : ''}`,
      {
        kind: 'unavailable',
        hint: 'Check network access to Rekor (or --rekor-url); --no-tlog signs without a log entry (short-lived bundles).',
        cause: error,
      },
    );
  }
  const entry = result.tlogEntries?.[0];
  if (!entry?.inclusionPromise && !entry?.inclusionProof) {
    throw new DroverError(
      'KEYLESS_REKOR_FAILED',
      'the transparency log returned an entry without any proof',
      {
        kind: 'integrity',
        hint: 'The Rekor endpoint is misbehaving; do not use it.',
      },
    );
  }
  return result;
}

async function certify(
  options: KeylessSignerOptions,
  privateKey: KeyObject,
  publicPem: string,
): Promise<Buffer> {
  const { CIContextProvider, FulcioSigner } = await import('@sigstore/sign');
  const identityProvider = options.identityToken
    ? { getToken: options.identityToken }
    : new CIContextProvider('sigstore');
  const fulcio = new FulcioSigner({
    fulcioBaseURL: options.fulcioURL ?? DEFAULT_FULCIO_URL,
    identityProvider,
    retry: 0,
    timeout: 10_000,
    keyHolder: {
      // The proof of possession and the certificate request use this key; drover signs the payload itself.
      sign: async (data: Buffer) => ({
        signature: nodeSign('sha256', data, privateKey),
        key: { $case: 'publicKey' as const, publicKey: publicPem },
      }),
    },
  });
  let pem: string;
  try {
    const result = await fulcio.sign(Buffer.alloc(0));
    if (result.key.$case !== 'x509Certificate') throw new Error('Fulcio returned no certificate');
    pem = result.key.certificate;
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    if (code === 'IDENTITY_TOKEN_READ_ERROR' || code === 'IDENTITY_TOKEN_PARSE_ERROR') {
      throw new DroverError('KEYLESS_IDENTITY_UNAVAILABLE', 'no OIDC identity token for keyless signing', {
        kind: 'unavailable',
        hint: 'Run in GitHub Actions with `permissions: id-token: write`, or sign with --key/--kms.',
        // no cause: @sigstore/sign's parse error quotes the whole token, a credential
      });
    }
    throw new DroverError(
      'KEYLESS_FULCIO_FAILED',
      `Fulcio did not issue a signing certificate: ${(error as Error).message}`,
      {
        kind: 'unavailable',
        hint: 'Check network access to Fulcio (or --fulcio-url), and that the identity token is accepted.',
        cause: error,
      },
    );
  }
  const cert = new X509Certificate(pem);
  // Fulcio must certify *our* key; anything else would make the bundle unverifiable.
  const certKey = cert.publicKey.export({ type: 'spki', format: 'der' });
  if (!certKey.equals(createPublicKey(publicPem).export({ type: 'spki', format: 'der' }))) {
    throw new DroverError('KEYLESS_FULCIO_FAILED', 'Fulcio certified a different public key', {
      kind: 'integrity',
      hint: 'The Fulcio endpoint is misbehaving; do not use it.',
    });
  }
  return cert.raw;
}
