import {
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign as nodeSign,
  X509Certificate,
} from 'node:crypto';
import { DroverError } from '@drover/core';
import { publicKeyHint } from './keys.js';
import type { Signature, Signer } from './signer.js';

export const DEFAULT_FULCIO_URL = 'https://fulcio.sigstore.dev';

export interface KeylessSignerOptions {
  /** Fulcio base URL (tests point it at a local fake). */
  fulcioURL?: string;
  /** Returns an OIDC identity token; defaults to the GitHub Actions token with audience "sigstore". */
  identityToken?: () => Promise<string>;
}

/**
 * A keyless signer: an ephemeral ECDSA P-256 key whose public half Fulcio certifies for the caller's OIDC identity
 * (GitHub Actions: `permissions: id-token: write`). It signs payloads only (DSSE statements); the bundle carries the
 * certificate. No Rekor entry is made (see docs/signing.md).
 */
export function keylessSigner(options: KeylessSignerOptions = {}): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const hint = publicKeyHint(publicKey);
  return {
    async sign(input): Promise<Signature> {
      if ('digest' in input) {
        throw new DroverError('SIGNER_NEEDS_PAYLOAD', 'keyless signing signs statements, not bare digests', {
          kind: 'internal',
          hint: 'Sign the artifact through signArtifact, which wraps the digest in an in-toto statement.',
        });
      }
      const certificate = await certify(options, privateKey, publicPem);
      return {
        signature: nodeSign('sha256', input.payload, privateKey),
        algorithm: 'ecdsa-p256',
        publicKey: publicPem,
        keyHint: hint,
        certificate,
      };
    },
  };
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
