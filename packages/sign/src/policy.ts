import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { DroverError, toDroverError } from '@drover/core';
import { type KeyAlgorithm, keyAlgorithmOf, loadPublicKey, publicKeyHint } from './keys.js';

/** A trusted signing key as written in a policy file. */
export interface PolicyKey {
  /** A name for messages (`release-2026`). */
  name?: string;
  /** SPKI PEM inline, or… */
  publicKey?: string;
  /** …a path to a PEM file, relative to the policy file. */
  path?: string;
}

/** A trusted keyless identity: the OIDC issuer and the certificate subject (exact or a regular expression). */
export interface PolicyIdentity {
  issuer: string;
  subject?: string;
  subjectRegExp?: string;
}

/** The verification policy file (`policy.json`). */
export interface PolicyDocument {
  version: 1;
  keys?: PolicyKey[];
  identities?: PolicyIdentity[];
  /** When set, only attestations (DSSE statements) of these predicate types are accepted. */
  predicateTypes?: string[];
  /** Keyless bundles must carry a verified transparency-log (Rekor) entry. */
  requireTransparencyLog?: boolean;
  /**
   * Sigstore trusted_root.json for keyless bundles (Fulcio CAs, Rekor logs, TSAs): a path relative to the policy
   * file, or the document inline. `verifyArtifact`'s `trustedRoot` option (`--trusted-root`) takes precedence.
   */
  trustedRoot?: string | Record<string, unknown>;
}

/** A policy with its keys parsed and indexed by Sigstore key hint. */
export interface Policy {
  keys: Map<string, { name: string; key: KeyObject; algorithm: KeyAlgorithm }>;
  identities: PolicyIdentity[];
  predicateTypes?: string[];
  requireTransparencyLog?: boolean;
  /** The parsed trusted root named by the policy, if any. */
  trustedRoot?: unknown;
}

/** Validate a policy document and load its keys (paths resolve from `baseDir`). */
export async function parsePolicy(options: {
  document: unknown;
  baseDir?: string;
  where?: string;
}): Promise<Policy> {
  const where = options.where ?? 'policy';
  const doc = options.document as Partial<PolicyDocument> | null;
  const invalid = (msg: string): DroverError =>
    new DroverError('POLICY_INVALID', `${where}: ${msg}`, {
      hint: 'A policy is {"version": 1, "keys": [{"name": "...", "path": "key.pub"}], "identities": [{"issuer": "...", "subject": "..."}]}.',
    });
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('not a JSON object');
  if (doc.version !== 1) throw invalid(`unsupported version ${JSON.stringify(doc.version)} (expected 1)`);
  if (doc.keys !== undefined && !Array.isArray(doc.keys)) throw invalid('"keys" must be an array');
  if (doc.identities !== undefined && !Array.isArray(doc.identities))
    throw invalid('"identities" must be an array');
  const keys: Policy['keys'] = new Map();
  for (const [i, entry] of (doc.keys ?? []).entries()) {
    if (typeof entry !== 'object' || entry === null) throw invalid(`keys[${i}] is not an object`);
    const name = entry.name ?? entry.path ?? `keys[${i}]`;
    let key: KeyObject;
    if (typeof entry.publicKey === 'string') key = await loadPublicKey({ pem: entry.publicKey });
    else if (typeof entry.path === 'string')
      key = await loadPublicKey({ path: resolve(options.baseDir ?? '.', entry.path) });
    else throw invalid(`keys[${i}] needs "publicKey" (PEM) or "path"`);
    keys.set(publicKeyHint(key), { name, key, algorithm: keyAlgorithmOf(key, name) });
  }
  const identities: PolicyIdentity[] = [];
  for (const [i, id] of (doc.identities ?? []).entries()) {
    if (typeof id !== 'object' || id === null || typeof id.issuer !== 'string') {
      throw invalid(`identities[${i}] needs an "issuer" string`);
    }
    if (typeof id.subject !== 'string' && typeof id.subjectRegExp !== 'string') {
      throw invalid(`identities[${i}] needs "subject" or "subjectRegExp"`);
    }
    identities.push(id);
  }
  if (keys.size === 0 && identities.length === 0) throw invalid('trusts no key and no identity');
  const policy: Policy = { keys, identities };
  if (doc.predicateTypes !== undefined) {
    if (!Array.isArray(doc.predicateTypes) || doc.predicateTypes.some((t) => typeof t !== 'string')) {
      throw invalid('"predicateTypes" must be an array of strings');
    }
    policy.predicateTypes = doc.predicateTypes;
  }
  if (doc.requireTransparencyLog !== undefined) {
    if (typeof doc.requireTransparencyLog !== 'boolean')
      throw invalid('"requireTransparencyLog" must be a boolean');
    policy.requireTransparencyLog = doc.requireTransparencyLog;
  }
  if (doc.trustedRoot !== undefined) {
    if (typeof doc.trustedRoot === 'string') {
      const path = resolve(options.baseDir ?? '.', doc.trustedRoot);
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        throw toDroverError(error, 'reading the policy trusted root');
      }
      try {
        policy.trustedRoot = JSON.parse(text);
      } catch (error) {
        throw new DroverError('TRUSTED_ROOT_INVALID', `${path} is not JSON`, {
          hint: 'Point "trustedRoot" at the Sigstore trusted_root.json of your Fulcio/Rekor instance.',
          cause: error,
        });
      }
    } else if (
      typeof doc.trustedRoot === 'object' &&
      doc.trustedRoot !== null &&
      !Array.isArray(doc.trustedRoot)
    ) {
      policy.trustedRoot = doc.trustedRoot;
    } else {
      throw invalid('"trustedRoot" must be a path or a trusted_root.json object');
    }
  }
  return policy;
}

/** Read and parse a policy file. */
export async function loadPolicy(options: { path: string }): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(options.path, 'utf8');
  } catch (error) {
    throw toDroverError(error, 'reading policy');
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new DroverError('POLICY_INVALID', `${options.path} is not valid JSON`, {
      hint: 'Fix the JSON syntax of the policy file.',
      cause: error,
    });
  }
  return parsePolicy({ document, baseDir: dirname(options.path), where: options.path });
}
