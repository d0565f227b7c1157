import { createPublicKey } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Context, DroverError, didYouMean } from '@drover/core';
import { generateKeyPair, type KeyAlgorithm, loadPrivateKey } from '../keys.js';
import { keySigner } from '../signer.js';
import type { TufKey } from './keys.js';
import { type RoleKeys, TUF_ROLES, type TufRole } from './repo.js';

export interface LoadRoleKeysOptions {
  /** `role=path` pairs (repeatable per role for thresholds above 1). */
  keys?: string[];
  /** A directory holding `<role>.pem` (and `<role>-<n>.pem`) private keys. */
  keysDir?: string;
  /** Passphrase for encrypted key files. */
  passphrase?: string;
}

/** Load role signing keys from `role=path` specs and/or a keys directory. */
export async function loadRoleKeys(options: LoadRoleKeysOptions): Promise<RoleKeys> {
  const specs: [TufRole, string][] = [];
  for (const spec of options.keys ?? []) {
    const eq = spec.indexOf('=');
    const role = spec.slice(0, eq);
    if (eq < 0 || !isRole(role)) {
      const guess = didYouMean(role, [...TUF_ROLES]);
      throw new DroverError(
        'TUF_KEY_SPEC_INVALID',
        `key ${JSON.stringify(spec)} is not ROLE=PATH with a TUF role`,
        {
          kind: 'usage',
          hint: `Roles are ${TUF_ROLES.join(', ')}${guess ? ` (did you mean ${guess}?)` : ''}; e.g. --key targets=keys/targets.pem.`,
        },
      );
    }
    specs.push([role, spec.slice(eq + 1)]);
  }
  if (options.keysDir) {
    let names: string[] = [];
    try {
      names = await readdir(options.keysDir);
    } catch {
      throw new DroverError('TUF_KEYS_DIR_MISSING', `keys directory ${options.keysDir} does not exist`, {
        kind: 'not-found',
        hint: 'Create the role keys with `drover repo init DIR --keys-dir KEYS --generate-keys`, or pass --key ROLE=FILE.',
      });
    }
    for (const name of names.sort()) {
      const m = /^(root|targets|snapshot|timestamp)(?:-[\w.-]+)?\.pem$/.exec(name);
      if (m) specs.push([m[1] as TufRole, join(options.keysDir, name)]);
    }
  }
  const out: RoleKeys = {};
  for (const [role, path] of specs) {
    const privateKey = await loadPrivateKey(
      options.passphrase === undefined ? { path } : { path, passphrase: options.passphrase },
    );
    const key: TufKey = {
      signer: keySigner({ privateKey }),
      publicKey: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string,
    };
    out[role] = [...(out[role] ?? []), key];
  }
  return out;
}

/** Generate `<role>.pem` (+ `.pub`) for every role that has no key in `keysDir` yet; returns the files written. */
export async function generateRoleKeys(
  options: { keysDir: string; algorithm?: KeyAlgorithm; passphrase?: string },
  ctx: Context = {},
): Promise<string[]> {
  await mkdir(options.keysDir, { recursive: true, mode: 0o700 });
  const existing = new Set(await readdir(options.keysDir));
  const written: string[] = [];
  for (const role of TUF_ROLES) {
    if ([...existing].some((n) => n === `${role}.pem` || (n.startsWith(`${role}-`) && n.endsWith('.pem'))))
      continue;
    const path = join(options.keysDir, `${role}.pem`);
    await generateKeyPair(
      {
        privateKeyPath: path,
        ...(options.algorithm ? { algorithm: options.algorithm } : {}),
        ...(options.passphrase !== undefined ? { passphrase: options.passphrase } : {}),
      },
      ctx,
    );
    written.push(path);
  }
  return written;
}

function isRole(value: string): value is TufRole {
  return (TUF_ROLES as readonly string[]).includes(value);
}
