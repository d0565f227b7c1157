import {
  createHash,
  createPublicKey,
  type KeyObject,
  verify as nodeVerify,
  X509Certificate,
} from 'node:crypto';
import { DroverError } from '@drover/core';
import type { Bundle } from '@sigstore/bundle';

/** The fields of a bundle's transparency-log entry that are verified (protobuf's optional fields stay optional). */
interface TransparencyLogEntry {
  logIndex: string;
  logId?: { keyId: Uint8Array } | undefined;
  kindVersion?: { kind: string; version: string } | undefined;
  integratedTime: string;
  inclusionPromise?: { signedEntryTimestamp: Uint8Array } | undefined;
  inclusionProof?:
    | {
        logIndex: string;
        rootHash: Uint8Array;
        treeSize: string;
        hashes: Uint8Array[];
        checkpoint?: { envelope: string } | undefined;
      }
    | undefined;
  canonicalizedBody: Uint8Array;
}

import { json as sigstoreJson } from '@sigstore/core';

/** A transparency log the verifier trusts (the `tlogs` of a Sigstore trusted_root.json). */
export interface TrustedLog {
  baseUrl: string;
  /** sha256 of the log key's SPKI DER. */
  logID: Buffer;
  publicKey: KeyObject;
  validFrom: number;
  validTo: number;
}

/** What a verified transparency-log entry proves. */
export interface VerifiedLogEntry {
  /** Hex log id. */
  logID: string;
  logIndex: number;
  /** RFC 3339; only trusted when `signedEntryTimestamp` is true (the SET signs it). */
  integratedTime: string;
  kind: string;
  /** The signed entry timestamp verified with the log key. */
  signedEntryTimestamp: boolean;
  /** The inclusion proof verified against a checkpoint signed by the log key. */
  inclusionProof: boolean;
}

/** Trusted logs from a parsed trusted_root.json (`tlogs[]`); an absent list is empty. */
export function trustedLogs(trustedRoot: unknown): TrustedLog[] {
  const tlogs = (trustedRoot as { tlogs?: unknown } | undefined)?.tlogs;
  if (tlogs === undefined) return [];
  if (!Array.isArray(tlogs)) throw rootInvalid('"tlogs" is not a list');
  return tlogs.map((raw, i) => {
    const t = raw as {
      baseUrl?: string;
      publicKey?: { rawBytes?: string; keyDetails?: string; validFor?: { start?: string; end?: string } };
      logId?: { keyId?: string };
    };
    if (typeof t?.publicKey?.rawBytes !== 'string' || typeof t.logId?.keyId !== 'string') {
      throw rootInvalid(`tlogs[${i}] needs publicKey.rawBytes and logId.keyId`);
    }
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({
        key: Buffer.from(t.publicKey.rawBytes, 'base64'),
        format: 'der',
        type: t.publicKey.keyDetails?.startsWith('PKCS1_') ? 'pkcs1' : 'spki',
      });
    } catch (error) {
      throw rootInvalid(`tlogs[${i}] has a public key that does not parse`, error);
    }
    const { start, end } = t.publicKey.validFor ?? {};
    return {
      baseUrl: t.baseUrl ?? '',
      logID: Buffer.from(t.logId.keyId, 'base64'),
      publicKey,
      validFrom: start ? Date.parse(start) : Number.NEGATIVE_INFINITY,
      validTo: end ? Date.parse(end) : Number.POSITIVE_INFINITY,
    };
  });
}

function rootInvalid(message: string, cause?: unknown): DroverError {
  return new DroverError('TRUSTED_ROOT_INVALID', `trusted root: ${message}`, {
    hint: 'Use the trusted_root.json published by the Sigstore instance, unmodified.',
    ...(cause ? { cause } : {}),
  });
}

/**
 * Verify a bundle's transparency-log entries: each must come from a trusted log, carry a valid signed entry
 * timestamp and/or an inclusion proof up to a checkpoint signed by the log, and its body must be exactly this
 * bundle's signature (and certificate). Every failure is a DroverError (`TLOG_*`).
 */
export function verifyLogEntries(options: {
  bundle: Bundle;
  logs: TrustedLog[];
  /** DER of the signing certificate (keyless) the entry must name. */
  certificate?: Uint8Array;
}): VerifiedLogEntry[] {
  const entries = options.bundle.verificationMaterial.tlogEntries;
  if (entries.length > 0 && options.logs.length === 0) {
    throw new DroverError('TLOG_UNTRUSTED', 'the bundle has a transparency-log entry but no log is trusted', {
      kind: 'usage',
      hint: 'Pass a trusted root (--trusted-root) whose "tlogs" list the Rekor instance that logged the signature.',
    });
  }
  return entries.map((entry: TransparencyLogEntry) => verifyEntry(entry, options));
}

function verifyEntry(
  entry: TransparencyLogEntry,
  options: { bundle: Bundle; logs: TrustedLog[]; certificate?: Uint8Array },
): VerifiedLogEntry {
  const keyId = Buffer.from(entry.logId?.keyId ?? []);
  const logIndex = Number(entry.logIndex);
  const integratedTime = Number(entry.integratedTime);
  const at = integratedTime * 1000;
  const log = options.logs.find((l) => l.logID.equals(keyId));
  if (!log) {
    throw new DroverError(
      'TLOG_UNTRUSTED',
      `the bundle was logged in transparency log ${keyId.toString('hex')}, which the trusted root does not list`,
      {
        kind: 'denied',
        hint: 'Add that log to the trusted root "tlogs" if it is expected.',
        details: { logID: keyId.toString('hex') },
      },
    );
  }
  if (!(at >= log.validFrom && at <= log.validTo)) {
    throw new DroverError('TLOG_UNTRUSTED', 'the log key was not valid at the entry’s integrated time', {
      kind: 'denied',
      hint: 'The entry claims a time outside the log key’s validity in the trusted root.',
      details: { integratedTime: new Date(at).toISOString() },
    });
  }
  const body = Buffer.from(entry.canonicalizedBody);
  let promise = false;
  if (entry.inclusionPromise) {
    const payload = sigstoreJson.canonicalize({
      body: body.toString('base64'),
      integratedTime,
      logIndex,
      logID: keyId.toString('hex'),
    });
    if (
      !verifySig(
        log.publicKey,
        Buffer.from(payload),
        Buffer.from(entry.inclusionPromise.signedEntryTimestamp),
      )
    ) {
      throw new DroverError(
        'TLOG_SET_INVALID',
        'the signed entry timestamp does not verify with the log key',
        {
          kind: 'integrity',
          hint: 'The log entry (its body, index or time) was altered; do not trust this bundle.',
        },
      );
    }
    promise = true;
  }
  let proof = false;
  if (entry.inclusionProof) {
    verifyInclusionProof(entry, log, body);
    proof = true;
  }
  if (!promise && !proof) {
    throw new DroverError(
      'TLOG_INCLUSION_MISSING',
      'the log entry has neither a signed timestamp nor a proof',
      {
        kind: 'integrity',
        hint: 'Re-sign the artifact; the log entry is incomplete.',
      },
    );
  }
  const kind = checkBody(entry, body, options);
  return {
    logID: keyId.toString('hex'),
    logIndex,
    integratedTime: new Date(at).toISOString(),
    kind,
    signedEntryTimestamp: promise,
    inclusionProof: proof,
  };
}

function proofInvalid(message: string): DroverError {
  return new DroverError('TLOG_INCLUSION_PROOF_INVALID', `inclusion proof: ${message}`, {
    kind: 'integrity',
    hint: 'The log entry or its proof was altered (or the checkpoint is not signed by a trusted log).',
  });
}

const leafHash = (leaf: Buffer): Buffer =>
  createHash('sha256')
    .update(Buffer.from([0]))
    .update(leaf)
    .digest();
const nodeHash = (l: Buffer, r: Buffer): Buffer =>
  createHash('sha256')
    .update(Buffer.from([1]))
    .update(l)
    .update(r)
    .digest();

/** RFC 9162 §2.1.3.2: recompute the root from a leaf hash and its audit path. */
export function rootFromInclusionProof(
  index: bigint,
  treeSize: bigint,
  leaf: Buffer,
  path: readonly Uint8Array[],
): Buffer | undefined {
  if (index < 0n || index >= treeSize) return undefined;
  let fn = index;
  let sn = treeSize - 1n;
  let r = leaf;
  for (const p of path) {
    const h = Buffer.from(p);
    if (sn === 0n) return undefined;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(h, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, h);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? r : undefined;
}

function verifyInclusionProof(entry: TransparencyLogEntry, log: TrustedLog, body: Buffer): void {
  const ip = entry.inclusionProof;
  if (!ip) return;
  const envelope = ip.checkpoint?.envelope ?? '';
  const sep = envelope.indexOf('\n\n');
  if (sep < 0) throw proofInvalid('the checkpoint is not a signed note');
  const note = envelope.slice(0, sep + 1);
  const signed = [...envelope.slice(sep + 2).matchAll(/^\u2014 (\S+) (\S+)$/gm)].some((m) => {
    const bytes = Buffer.from(m[2] ?? '', 'base64');
    return (
      bytes.length > 4 &&
      bytes.subarray(0, 4).equals(log.logID.subarray(0, 4)) &&
      verifySig(log.publicKey, Buffer.from(note, 'utf8'), bytes.subarray(4))
    );
  });
  if (!signed) throw proofInvalid('the checkpoint is not signed by the log');
  const [, size, rootB64] = note.split('\n');
  const rootHash = Buffer.from(ip.rootHash);
  if (!/^\d+$/.test(size ?? '') || BigInt(size as string) !== BigInt(ip.treeSize)) {
    throw proofInvalid('the checkpoint is for another tree size');
  }
  if (!Buffer.from(rootB64 ?? '', 'base64').equals(rootHash)) {
    throw proofInvalid('the checkpoint root differs from the proof root');
  }
  if (BigInt(ip.logIndex) !== BigInt(entry.logIndex)) throw proofInvalid('the proof is for another entry');
  const root = rootFromInclusionProof(BigInt(ip.logIndex), BigInt(ip.treeSize), leafHash(body), ip.hashes);
  if (!root?.equals(rootHash)) throw proofInvalid('the entry is not in the tree the checkpoint signs');
}

/** The log entry must record exactly this bundle's signature (and key): otherwise it proves nothing about it. */
function checkBody(
  entry: TransparencyLogEntry,
  body: Buffer,
  options: { bundle: Bundle; certificate?: Uint8Array },
): string {
  const mismatch = (why: string) =>
    new DroverError('TLOG_BODY_MISMATCH', `the transparency-log entry does not match the bundle: ${why}`, {
      kind: 'integrity',
      hint: 'The log entry belongs to another signature; do not trust this bundle.',
    });
  let parsed: {
    kind?: string;
    apiVersion?: string;
    spec?: {
      data?: { hash?: { algorithm?: string; value?: string } };
      signature?: { content?: string; publicKey?: { content?: string } };
      payloadHash?: { algorithm?: string; value?: string };
      signatures?: { signature?: string; verifier?: string }[];
    };
  };
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw mismatch('the entry body is not JSON');
  }
  if (parsed.kind !== entry.kindVersion?.kind || parsed.apiVersion !== entry.kindVersion?.version) {
    throw mismatch('kind/version differ from the body');
  }
  const content = options.bundle.content;
  const sameKey = (b64pem: string | undefined) => {
    if (!options.certificate) return true;
    try {
      const pem = Buffer.from(b64pem ?? '', 'base64').toString('utf8');
      return new X509Certificate(pem).raw.equals(Buffer.from(options.certificate));
    } catch {
      return false;
    }
  };
  if (
    parsed.kind === 'hashedrekord' &&
    parsed.apiVersion === '0.0.1' &&
    content.$case === 'messageSignature'
  ) {
    const ms = content.messageSignature;
    const spec = parsed.spec;
    if (!Buffer.from(spec?.signature?.content ?? '', 'base64').equals(Buffer.from(ms.signature)))
      throw mismatch('signature differs');
    if (spec?.data?.hash?.value !== Buffer.from(ms.messageDigest?.digest ?? []).toString('hex'))
      throw mismatch('digest differs');
    if (!sameKey(spec?.signature?.publicKey?.content)) throw mismatch('certificate differs');
    return 'hashedrekord';
  }
  if (parsed.kind === 'dsse' && parsed.apiVersion === '0.0.1' && content.$case === 'dsseEnvelope') {
    const env = content.dsseEnvelope;
    const sigs = parsed.spec?.signatures ?? [];
    if (sigs.length !== 1 || env.signatures.length !== 1) throw mismatch('signature count differs');
    if (!Buffer.from(sigs[0]?.signature ?? '', 'base64').equals(Buffer.from(env.signatures[0]?.sig ?? [])))
      throw mismatch('signature differs');
    const payloadHash = createHash('sha256').update(env.payload).digest('hex');
    if (parsed.spec?.payloadHash?.value !== payloadHash) throw mismatch('payload hash differs');
    if (!sameKey(sigs[0]?.verifier)) throw mismatch('certificate differs');
    return 'dsse';
  }
  throw new DroverError(
    'TLOG_ENTRY_UNSUPPORTED',
    `unsupported transparency-log entry ${parsed.kind}/${parsed.apiVersion} for a ${content.$case} bundle`,
    { hint: 'drover verifies hashedrekord 0.0.1 (message signatures) and dsse 0.0.1 (DSSE) entries.' },
  );
}

function verifySig(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    const type = key.asymmetricKeyType;
    return nodeVerify(type === 'ed25519' ? null : 'sha256', data, key, signature);
  } catch {
    return false;
  }
}
