import {
  constants,
  createHash,
  type KeyObject,
  privateEncrypt,
  publicDecrypt,
  randomBytes,
} from 'node:crypto';
import { DroverError } from '@drover/core';
import { p256 } from '@noble/curves/nist.js';
import type { KeyAlgorithm } from './keys.js';

// Node's crypto always hashes the message itself (EVP_DigestSign). Signing a streamed artifact with it would hash
// the file twice (once for the bundle's messageDigest, once inside the signature), halving throughput. These
// functions sign and verify an already computed SHA-256 digest instead, producing exactly the signatures
// `openssl dgst -sha256 -sign` would (ECDSA P-256 DER; RSASSA-PSS with MGF1-SHA256 and a 32-byte salt).

const SHA256_LENGTH = 32;

/** Sign a SHA-256 digest with a private key (ECDSA P-256 or RSA-PSS); Ed25519 cannot sign a prehash. */
export function signDigest(key: KeyObject, algorithm: KeyAlgorithm, digest: Uint8Array): Buffer {
  assertDigestLength(digest);
  switch (algorithm) {
    case 'ecdsa-p256': {
      const jwk = key.export({ format: 'jwk' });
      const scalar = Buffer.from(String(jwk.d), 'base64url');
      try {
        return Buffer.from(p256.sign(digest, scalar, { prehash: false, format: 'der', lowS: true }));
      } finally {
        scalar.fill(0);
      }
    }
    case 'rsa-pss': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      const em = emsaPssEncode(digest, bits - 1, randomBytes(SHA256_LENGTH));
      return privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, em);
    }
    case 'ed25519':
      throw ed25519NoPrehash();
  }
}

/** Verify a signature over a SHA-256 digest with a public key. */
export function verifyDigest(
  key: KeyObject,
  algorithm: KeyAlgorithm,
  digest: Uint8Array,
  signature: Uint8Array,
): boolean {
  assertDigestLength(digest);
  switch (algorithm) {
    case 'ecdsa-p256': {
      const jwk = key.export({ format: 'jwk' });
      const point = Buffer.concat([
        Buffer.from([4]),
        Buffer.from(String(jwk.x), 'base64url'),
        Buffer.from(String(jwk.y), 'base64url'),
      ]);
      try {
        return p256.verify(signature, digest, point, { prehash: false, format: 'der', lowS: false });
      } catch {
        return false;
      }
    }
    case 'rsa-pss': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      const bytes = Math.ceil(bits / 8);
      if (signature.length !== bytes) return false;
      let em: Buffer;
      try {
        em = publicDecrypt({ key, padding: constants.RSA_NO_PADDING }, signature);
      } catch {
        return false;
      }
      return emsaPssVerify(digest, em, bits - 1);
    }
    case 'ed25519':
      throw ed25519NoPrehash();
  }
}

function ed25519NoPrehash(): DroverError {
  return new DroverError('KEY_TYPE_UNSUPPORTED', 'Ed25519 keys cannot sign a precomputed artifact digest', {
    hint: 'Ed25519 signs artifacts through a DSSE statement (drover does this by itself); use ECDSA P-256 for raw signatures.',
  });
}

function assertDigestLength(digest: Uint8Array): void {
  if (digest.length !== SHA256_LENGTH) {
    throw new DroverError('DIGEST_INVALID', `expected a 32-byte SHA-256 digest, got ${digest.length} bytes`, {
      kind: 'internal',
    });
  }
}

function mgf1(seed: Uint8Array, length: number): Buffer {
  const out: Buffer[] = [];
  let produced = 0;
  for (let counter = 0; produced < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = createHash('sha256').update(seed).update(c).digest();
    out.push(block);
    produced += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

// RFC 8017 §9.1.1, with SHA-256 and MGF1-SHA256; emBits = modulus bits - 1.
function emsaPssEncode(mHash: Uint8Array, emBits: number, salt: Buffer): Buffer {
  const emLen = Math.ceil(emBits / 8);
  const sLen = salt.length;
  if (emLen < SHA256_LENGTH + sLen + 2) {
    throw new DroverError('KEY_TYPE_UNSUPPORTED', 'RSA key is too small for RSASSA-PSS with SHA-256', {
      hint: 'Use an RSA key of at least 2048 bits.',
    });
  }
  const mPrime = Buffer.concat([Buffer.alloc(8), mHash, salt]);
  const h = createHash('sha256').update(mPrime).digest();
  const db = Buffer.alloc(emLen - SHA256_LENGTH - 1);
  db[db.length - sLen - 1] = 1;
  salt.copy(db, db.length - sLen);
  const mask = mgf1(h, db.length);
  for (let i = 0; i < db.length; i++) db[i] = (db[i] as number) ^ (mask[i] as number);
  db[0] = (db[0] as number) & (0xff >> (8 * emLen - emBits));
  const em = Buffer.concat([db, h, Buffer.from([0xbc])]);
  // RSA_NO_PADDING wants exactly the modulus length; emLen is one byte shorter when bits ≡ 1 (mod 8).
  const modulusBytes = Math.ceil((emBits + 1) / 8);
  return em.length === modulusBytes ? em : Buffer.concat([Buffer.alloc(modulusBytes - em.length), em]);
}

// RFC 8017 §9.1.2 with the salt length recovered from the encoding (like openssl's "auto").
function emsaPssVerify(mHash: Uint8Array, decoded: Buffer, emBits: number): boolean {
  const emLen = Math.ceil(emBits / 8);
  const em = decoded.subarray(decoded.length - emLen);
  if (decoded.length > emLen && decoded.subarray(0, decoded.length - emLen).some((b) => b !== 0))
    return false;
  if (emLen < SHA256_LENGTH + 2 || em[em.length - 1] !== 0xbc) return false;
  const maskedDb = em.subarray(0, emLen - SHA256_LENGTH - 1);
  const h = em.subarray(emLen - SHA256_LENGTH - 1, emLen - 1);
  const topMask = 0xff >> (8 * emLen - emBits);
  if (((maskedDb[0] as number) & ~topMask) !== 0) return false;
  const mask = mgf1(h, maskedDb.length);
  const db = Buffer.alloc(maskedDb.length);
  for (let i = 0; i < db.length; i++) db[i] = (maskedDb[i] as number) ^ (mask[i] as number);
  db[0] = (db[0] as number) & topMask;
  let i = 0;
  while (i < db.length && db[i] === 0) i++;
  if (i >= db.length || db[i] !== 1) return false;
  const salt = db.subarray(i + 1);
  const hPrime = createHash('sha256').update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  return hPrime.equals(h);
}
