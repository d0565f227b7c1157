import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair as generateKeyPairCallback,
  type KeyObject,
} from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type Context, DroverError, resolveContext, toDroverError, writeAtomically } from '@drover/core';

const generateKeyPairAsync = promisify(generateKeyPairCallback);

/** Key algorithms drover generates and signs with (the TUF/Sigstore scheme names they map to are fixed). */
export type KeyAlgorithm = 'ecdsa-p256' | 'ed25519' | 'rsa-pss';

export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ecdsa-p256', 'ed25519', 'rsa-pss'];

export interface GenerateKeyPairOptions {
  /** Defaults to `ecdsa-p256`. */
  algorithm?: KeyAlgorithm;
  /** Where to write the private key (PKCS#8 PEM, mode 0600); the public key goes to `<path>.pub` unless `publicKeyPath` is set. */
  privateKeyPath: string;
  publicKeyPath?: string;
  /** Encrypt the private key (AES-256-CBC, PKCS#8) with this passphrase. */
  passphrase?: string;
  /** Replace existing files. */
  overwrite?: boolean;
  /** RSA modulus size; defaults to 3072. */
  rsaBits?: number;
}

export interface GeneratedKeyPair {
  algorithm: KeyAlgorithm;
  privateKeyPath: string;
  publicKeyPath: string;
  /** base64(sha256(PKIX DER)): the Sigstore public-key hint. */
  keyHint: string;
  encrypted: boolean;
  /** The public key, PEM (SPKI). */
  publicKey: string;
}

/** Generate a key pair and write it: private key PKCS#8 PEM with mode 0600, public key SPKI PEM. */
export async function generateKeyPair(
  options: GenerateKeyPairOptions,
  ctx: Context = {},
): Promise<GeneratedKeyPair> {
  const { logger } = resolveContext(ctx);
  const algorithm = options.algorithm ?? 'ecdsa-p256';
  if (!KEY_ALGORITHMS.includes(algorithm)) {
    throw new DroverError(
      'KEY_ALGORITHM_UNSUPPORTED',
      `unsupported key algorithm ${JSON.stringify(algorithm)}`,
      {
        kind: 'usage',
        hint: `Choose one of ${KEY_ALGORITHMS.join(', ')}.`,
      },
    );
  }
  if (options.passphrase !== undefined && options.passphrase.length === 0) {
    throw new DroverError('KEY_PASSPHRASE_EMPTY', 'the passphrase is empty', {
      hint: 'Set the passphrase environment variable to a non-empty value, or generate an unencrypted key.',
    });
  }
  const publicKeyPath = options.publicKeyPath ?? `${options.privateKeyPath}.pub`;
  if (!options.overwrite) {
    for (const path of [options.privateKeyPath, publicKeyPath]) {
      if (await exists(path)) {
        throw new DroverError('KEY_FILE_EXISTS', `${path} already exists`, {
          kind: 'conflict',
          hint: 'Choose another path, or pass --force to replace the existing key.',
        });
      }
    }
  }
  const { privateKey, publicKey } = await newKeyPair(algorithm, options.rsaBits ?? 3072);
  const privatePem = privateKey.export({
    type: 'pkcs8',
    format: 'pem',
    ...(options.passphrase === undefined ? {} : { cipher: 'aes-256-cbc', passphrase: options.passphrase }),
  }) as string;
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  try {
    // The key's directory is created (owner-only, like ~/.ssh) when it does not exist yet.
    await mkdir(dirname(resolve(options.privateKeyPath)), { recursive: true, mode: 0o700 });
  } catch (error) {
    throw toDroverError(error, `creating the directory of ${options.privateKeyPath}`);
  }
  await writeAtomically(options.privateKeyPath, async (tmp) => {
    await writeFile(tmp, privatePem, { mode: 0o600 });
    await chmod(tmp, 0o600);
  });
  await writeAtomically(publicKeyPath, async (tmp) => {
    await writeFile(tmp, publicPem, { mode: 0o644 });
  });
  const keyHint = publicKeyHint(publicKey);
  logger.debug(`wrote ${algorithm} key pair`, {
    privateKeyPath: options.privateKeyPath,
    publicKeyPath,
    keyHint,
  });
  return {
    algorithm,
    privateKeyPath: options.privateKeyPath,
    publicKeyPath,
    keyHint,
    encrypted: options.passphrase !== undefined,
    publicKey: publicPem,
  };
}

async function newKeyPair(
  algorithm: KeyAlgorithm,
  rsaBits: number,
): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  switch (algorithm) {
    case 'ecdsa-p256':
      return generateKeyPairAsync('ec', { namedCurve: 'P-256' });
    case 'ed25519':
      return generateKeyPairAsync('ed25519');
    case 'rsa-pss':
      // An rsaEncryption key used with PSS padding: what TUF (rsassa-pss-sha256), Sigstore and KMS expect.
      return generateKeyPairAsync('rsa', { modulusLength: rsaBits });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** base64(sha256(PKIX DER public key)): the key hint Sigstore bundles and cosign use. */
export function publicKeyHint(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

/** The algorithm of a key object, or KEY_TYPE_UNSUPPORTED (P-384, DSA, …). */
export function keyAlgorithmOf(key: KeyObject, where = 'key'): KeyAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256';
  if (type === 'ed25519') return 'ed25519';
  if (type === 'rsa') return 'rsa-pss';
  const detail = type === 'ec' ? `ec ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trim() : String(type);
  throw new DroverError(
    'KEY_TYPE_UNSUPPORTED',
    `${where} is a ${detail} key, which drover does not sign with`,
    {
      hint: 'Use an ECDSA P-256 (default), Ed25519 or RSA key; `drover keys generate` makes one.',
      details: { keyType: detail },
    },
  );
}

export interface LoadPrivateKeyOptions {
  /** PEM text (PKCS#8, SEC1 or PKCS#1), or use `path`. */
  pem?: string;
  path?: string;
  /** For encrypted keys. */
  passphrase?: string;
}

/** Parse a private key from PEM, mapping every failure to a DroverError that never echoes key material. */
export async function loadPrivateKey(options: LoadPrivateKeyOptions): Promise<KeyObject> {
  const where = options.path ?? 'private key';
  const pem = options.pem ?? (await readKeyFile(options.path));
  if (/-----BEGIN (?:RSA |EC )?PUBLIC KEY-----/.test(pem) || /-----BEGIN CERTIFICATE-----/.test(pem)) {
    throw new DroverError(
      'KEY_NOT_PRIVATE',
      `${where} holds a public key, but signing needs the private key`,
      {
        hint: 'Pass the private key file (the one without .pub) to --key; public keys belong in the verification policy.',
      },
    );
  }
  const encrypted = pem.includes('ENCRYPTED');
  if (encrypted && options.passphrase === undefined) {
    throw new DroverError('KEY_PASSPHRASE_REQUIRED', `${where} is encrypted and no passphrase was given`, {
      hint: 'Set DROVER_KEY_PASSPHRASE (or the variable named by --passphrase-env) to the key passphrase.',
    });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(
      options.passphrase === undefined
        ? { key: pem, format: 'pem' }
        : { key: pem, format: 'pem', passphrase: options.passphrase },
    );
  } catch (error) {
    if (encrypted) {
      throw new DroverError('KEY_PASSPHRASE_WRONG', `could not decrypt ${where}: wrong passphrase`, {
        kind: 'denied',
        hint: 'Check the passphrase environment variable; the key was encrypted with a different passphrase.',
      });
    }
    throw new DroverError('KEY_INVALID', `${where} is not a PEM private key drover can read`, {
      hint: 'Expected a PEM private key in PKCS#8, SEC1 or PKCS#1 form, such as `drover keys generate` writes.',
      details: { reason: safeReason(error) },
    });
  }
  keyAlgorithmOf(key, where);
  return key;
}

/** Parse a public key (SPKI PEM, or a private key whose public half is wanted). */
export async function loadPublicKey(options: { pem?: string; path?: string }): Promise<KeyObject> {
  const where = options.path ?? 'public key';
  const pem = options.pem ?? (await readKeyFile(options.path));
  try {
    return createPublicKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new DroverError('KEY_INVALID', `${where} is not a PEM public key`, {
      hint: 'Expected a PEM file starting with -----BEGIN PUBLIC KEY----- (the .pub file written by `drover keys generate`).',
      details: { reason: safeReason(error) },
    });
  }
}

async function readKeyFile(path: string | undefined): Promise<string> {
  if (path === undefined) {
    throw new DroverError('KEY_MISSING', 'no key given', { kind: 'usage', hint: 'Pass a key file path.' });
  }
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw toDroverError(error, 'reading key');
  }
}

// OpenSSL reasons ("bad decrypt", "unsupported") never contain key bytes, but keep only the short code.
function safeReason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'unreadable';
}
