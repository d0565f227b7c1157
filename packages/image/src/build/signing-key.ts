import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { DroverError, toDroverError } from '@drover/core';

/** A verity signing key and its certificate, loaded. */
export interface VeritySigner {
  key: Buffer;
  certificate: Buffer;
  /** Where they came from, for messages (never the key material). */
  keySource: string;
  certificateSource: string;
}

const GENERATE_HINT =
  'Create a key and a self-signed certificate, e.g. `openssl req -x509 -newkey rsa:3072 -nodes -days 3650 ' +
  '-subj /CN=verity -keyout verity.pem -out verity.crt` (RSA signatures are deterministic, so rebuilds stay ' +
  'bit-identical), or `drover keys generate verity.pem` plus `openssl req -x509 -key verity.pem -out verity.crt ' +
  '-subj /CN=verity`; then pass --verity-key verity.pem --verity-cert verity.crt, or set verity.signingKey.';

async function readMaybe(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw toDroverError(error, `reading ${path}`);
  }
}

function hasCertificate(pem: Buffer): boolean {
  return pem.includes('-----BEGIN CERTIFICATE-----');
}

/**
 * Load the key that signs the root hash: `verityKey` (a path) wins over the recipe's `signingKey` (a path
 * relative to the recipe, or `env:NAME` holding the PEM). The certificate is `verityCert`, else a CERTIFICATE
 * block in the key file, else `<key without .pem/.key>.crt` or `<key>.crt` next to the key.
 */
export async function loadVeritySigner(options: {
  verityKey?: string;
  verityCert?: string;
  recipeKey?: string;
  recipeFile: string;
  env?: Record<string, string | undefined>;
}): Promise<VeritySigner | undefined> {
  let key: Buffer | undefined;
  let keySource: string;
  let keyPath: string | undefined;
  if (options.verityKey !== undefined) {
    keyPath = resolve(options.verityKey);
    keySource = options.verityKey;
  } else if (options.recipeKey !== undefined) {
    const ref = options.recipeKey;
    keySource = ref;
    if (ref.startsWith('env:')) {
      const name = ref.slice(4);
      const value = options.env?.[name];
      if (!value) {
        throw new DroverError('VERITY_KEY_NOT_FOUND', `verity.signingKey names ${ref}, which is not set`, {
          kind: 'not-found',
          hint: `Export ${name} with the PEM key (and certificate), or pass --verity-key. ${GENERATE_HINT}`,
        });
      }
      key = Buffer.from(value);
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref)) {
      throw new DroverError(
        'VERITY_KEY_UNSUPPORTED',
        `verity.signingKey ${ref}: KMS keys are not supported yet`,
        {
          kind: 'unavailable',
          hint: 'Use a PEM key file (verity.signingKey: keys/verity.pem) or --verity-key.',
        },
      );
    } else {
      keyPath = isAbsolute(ref) ? ref : resolve(dirname(options.recipeFile), ref);
    }
  } else {
    if (options.verityCert !== undefined) {
      throw new DroverError('VERITY_KEY_REQUIRED', '--verity-cert was given without a key', {
        kind: 'usage',
        hint: 'Pass --verity-key too.',
      });
    }
    return undefined;
  }
  if (keyPath !== undefined) {
    key = await readMaybe(keyPath);
    if (key === undefined) {
      throw new DroverError(
        'VERITY_KEY_NOT_FOUND',
        `verity signing key ${keySource} not found (${keyPath})`,
        {
          kind: 'not-found',
          hint: GENERATE_HINT,
          details: { path: keyPath },
        },
      );
    }
  }
  const keyBytes = key as Buffer;
  let certificate: Buffer | undefined;
  let certificateSource = '';
  if (options.verityCert !== undefined) {
    certificate = await readMaybe(resolve(options.verityCert));
    certificateSource = options.verityCert;
    if (certificate === undefined) {
      throw new DroverError('VERITY_CERT_NOT_FOUND', `verity certificate ${options.verityCert} not found`, {
        kind: 'not-found',
        hint: GENERATE_HINT,
      });
    }
  } else if (hasCertificate(keyBytes)) {
    certificate = keyBytes;
    certificateSource = keySource;
  } else if (keyPath !== undefined) {
    const stem = keyPath.replace(/\.(pem|key)$/, '');
    for (const candidate of [`${stem}.crt`, `${keyPath}.crt`, `${stem}.cert.pem`]) {
      certificate = await readMaybe(candidate);
      if (certificate !== undefined) {
        certificateSource = candidate;
        break;
      }
    }
  }
  if (certificate === undefined) {
    throw new DroverError('VERITY_CERT_NOT_FOUND', `no certificate for verity signing key ${keySource}`, {
      kind: 'not-found',
      hint: `Pass --verity-cert, append the certificate to the key file, or put it next to the key as .crt. ${GENERATE_HINT}`,
    });
  }
  return { key: keyBytes, certificate, keySource, certificateSource };
}
