import { constants, createPublicKey, type KeyObject, sign as nodeSign } from 'node:crypto';
import type { Bundle, RFC3161SignedTimestamp, TransparencyLogEntry } from '@sigstore/bundle';
import { signDigest } from './digest-sign.js';
import { type KeyAlgorithm, keyAlgorithmOf, loadPrivateKey, publicKeyHint } from './keys.js';

/** What to sign: small bytes (a DSSE PAE, TUF canonical JSON) or the SHA-256 digest of a streamed artifact. */
export type SignInput = { payload: Uint8Array } | { digest: Uint8Array };

/** A signature plus what a verifier needs to find the key. Never contains private key material. */
export interface Signature {
  /** DER for ECDSA, raw for Ed25519 and RSA-PSS. */
  signature: Buffer;
  algorithm: KeyAlgorithm;
  /** SPKI PEM of the signing key. */
  publicKey: string;
  /** base64(sha256(SPKI DER)). */
  keyHint: string;
  /** DER leaf certificate (keyless signing only). */
  certificate?: Buffer;
}

/** What a witness (transparency log, timestamp authority) adds to a bundle's verification material. */
export interface Witnessed {
  tlogEntries?: TransparencyLogEntry[];
  rfc3161Timestamps?: RFC3161SignedTimestamp[];
}

/** Anything that signs: a key file, a KMS key, a keyless (Fulcio) identity. */
export interface Signer {
  sign(input: SignInput): Promise<Signature>;
  /**
   * Optional: have the signed bundle content witnessed (keyless: a Rekor transparency-log entry) once it is built;
   * the result is added to the bundle's verification material.
   */
  witness?(input: { content: Bundle['content']; signature: Signature }): Promise<Witnessed>;
}

/** A signer over an in-memory private key object. */
export function keySigner(options: { privateKey: KeyObject }): Signer {
  const { privateKey } = options;
  const algorithm = keyAlgorithmOf(privateKey);
  const publicKeyObject = createPublicKey(privateKey);
  const publicKey = publicKeyObject.export({ type: 'spki', format: 'pem' }) as string;
  const keyHint = publicKeyHint(publicKeyObject);
  return {
    async sign(input) {
      const signature =
        'digest' in input
          ? signDigest(privateKey, algorithm, input.digest)
          : signPayload(privateKey, algorithm, input.payload);
      return { signature, algorithm, publicKey, keyHint };
    },
  };
}

/** A signer over a PEM private key file (optionally passphrase-encrypted). */
export async function fileSigner(options: { path: string; passphrase?: string }): Promise<Signer> {
  const privateKey = await loadPrivateKey(
    options.passphrase === undefined
      ? { path: options.path }
      : { path: options.path, passphrase: options.passphrase },
  );
  return keySigner({ privateKey });
}

function signPayload(key: KeyObject, algorithm: KeyAlgorithm, payload: Uint8Array): Buffer {
  switch (algorithm) {
    case 'ecdsa-p256':
      return nodeSign('sha256', payload, key);
    case 'ed25519':
      return nodeSign(null, payload, key);
    case 'rsa-pss':
      return nodeSign('sha256', payload, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  }
}
