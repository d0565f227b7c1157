import { createHash, createPublicKey } from 'node:crypto';
import { DroverError } from '@drover/core';
import { canonicalize } from '@tufjs/canonical-json';
import { Key } from '@tufjs/models';
import { keyAlgorithmOf } from '../keys.js';
import type { Signer } from '../signer.js';

/** A role key: a signer and its public key (PEM), so the key id is known before anything is signed. */
export interface TufKey {
  signer: Signer;
  publicKey: string;
}

/** The TUF key object and id (sha256 of its canonical JSON) for a public key. */
export function tufKeyFor(publicKeyPem: string): Key {
  const key = createPublicKey(publicKeyPem);
  const algorithm = keyAlgorithmOf(key, 'TUF key');
  const pem = key.export({ type: 'spki', format: 'pem' }) as string;
  let body: { keytype: string; scheme: string; keyval: { public: string } };
  switch (algorithm) {
    case 'ecdsa-p256':
      body = { keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp256', keyval: { public: pem } };
      break;
    case 'ed25519': {
      // TUF's ed25519 keys carry the raw 32-byte key in hex (the last 32 bytes of the SPKI DER).
      const der = key.export({ type: 'spki', format: 'der' });
      body = {
        keytype: 'ed25519',
        scheme: 'ed25519',
        keyval: { public: der.subarray(der.length - 32).toString('hex') },
      };
      break;
    }
    case 'rsa-pss':
      body = { keytype: 'rsa', scheme: 'rsassa-pss-sha256', keyval: { public: pem } };
      break;
  }
  const keyID = createHash('sha256').update(canonicalize(body)).digest('hex');
  return new Key({ keyID, keyType: body.keytype, scheme: body.scheme, keyVal: body.keyval });
}

/** Canonical JSON (OLPC), the bytes TUF signatures cover. */
export function canonicalBytes(value: unknown): Buffer {
  try {
    return Buffer.from(canonicalize(value as never));
  } catch (error) {
    throw new DroverError('TUF_CANONICAL_JSON', `cannot canonicalize metadata: ${(error as Error).message}`, {
      kind: 'internal',
      cause: error,
    });
  }
}
