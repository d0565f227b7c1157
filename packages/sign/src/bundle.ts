import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  type Context,
  type DigestString,
  DroverError,
  digestFile,
  isDroverError,
  resolveContext,
  writeAtomically,
} from '@drover/core';
import {
  BUNDLE_V03_MEDIA_TYPE,
  type Bundle,
  bundleFromJSON,
  bundleToJSON,
  type SerializedBundle,
  toDSSEBundle,
  toMessageSignatureBundle,
} from '@sigstore/bundle';
import type { KeyAlgorithm } from './keys.js';
import type { Signature, Signer } from './signer.js';

export type { SerializedBundle };

/** The in-toto payload type DSSE envelopes carry. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** Predicate type of the statement drover signs for an artifact when the key cannot sign a digest (Ed25519). */
export const ARTIFACT_PREDICATE_TYPE = 'https://drover.dev/attestation/artifact/v1';

/** DSSE pre-authentication encoding: "DSSEv1" SP len(type) SP type SP len(body) SP body (byte lengths). */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'ascii'),
    type,
    Buffer.from(` ${payload.length} `, 'ascii'),
    payload,
  ]);
}

export interface SignArtifactOptions {
  /** The file to sign; it is streamed, never read whole. */
  file: string;
  signer: Signer;
  /** Write the Sigstore bundle here (JSON). */
  bundlePath?: string;
  /** Write the raw signature here (DER for ECDSA) for `openssl dgst -sha256 -verify`. */
  signaturePath?: string;
}

export interface SignArtifactResult {
  file: string;
  digest: DigestString;
  size: number;
  algorithm: KeyAlgorithm;
  keyHint: string;
  /** `messageSignature` for ECDSA/RSA, `dsseEnvelope` (in-toto statement over the digest) for Ed25519. */
  content: 'messageSignature' | 'dsseEnvelope';
  mediaType: string;
  bundle: SerializedBundle;
  bundlePath?: string;
  signaturePath?: string;
}

/** Sign a file: stream its SHA-256, sign the digest, and return (and optionally write) a Sigstore v0.3 bundle. */
export async function signArtifact(
  options: SignArtifactOptions,
  ctx: Context = {},
): Promise<SignArtifactResult> {
  const { logger } = resolveContext(ctx);
  const { digest, size } = await digestFile(options.file, {}, ctx);
  const digestBytes = Buffer.from(digest.slice('sha256:'.length), 'hex');
  let bundle: Bundle;
  let signature: Signature;
  let content: SignArtifactResult['content'] = 'messageSignature';
  try {
    signature = await options.signer.sign({ digest: digestBytes });
    bundle = toMessageSignatureBundle({
      digest: digestBytes,
      signature: signature.signature,
      ...verificationMaterial(signature),
    });
  } catch (error) {
    if (!isDroverError(error, 'KEY_TYPE_UNSUPPORTED') && !isDroverError(error, 'SIGNER_NEEDS_PAYLOAD'))
      throw error;
    // Ed25519 cannot sign a prehash (and a signer may sign payloads only): sign an in-toto statement naming the
    // digest instead (cosign attest-blob style).
    content = 'dsseEnvelope';
    const statement = {
      _type: IN_TOTO_STATEMENT_V1,
      subject: [{ name: basename(options.file), digest: { sha256: digestBytes.toString('hex') } }],
      predicateType: ARTIFACT_PREDICATE_TYPE,
      predicate: { size },
    };
    const dsse = await signDsse({ payload: Buffer.from(JSON.stringify(statement)), signer: options.signer });
    bundle = dsse.bundle;
    signature = dsse.signature;
  }
  if (content === 'messageSignature') await addWitness(bundle, signature, options.signer);
  const json = serializeBundle(bundle);
  if (options.bundlePath) await writeJsonFile(options.bundlePath, json);
  if (options.signaturePath) {
    const sig = signature.signature;
    await writeAtomically(options.signaturePath, (tmp) => writeFile(tmp, sig));
  }
  logger.debug(`signed ${options.file}`, { digest, keyHint: signature.keyHint });
  return {
    file: options.file,
    digest,
    size,
    algorithm: signature.algorithm,
    keyHint: signature.keyHint,
    content,
    mediaType: json.mediaType,
    bundle: json,
    ...(options.bundlePath ? { bundlePath: options.bundlePath } : {}),
    ...(options.signaturePath ? { signaturePath: options.signaturePath } : {}),
  };
}

export interface SignDsseOptions {
  payload: Uint8Array;
  /** Defaults to the in-toto payload type. */
  payloadType?: string;
  signer: Signer;
}

/** Sign a payload as a DSSE envelope (over its PAE) inside a Sigstore v0.3 bundle. */
export async function signDsse(options: SignDsseOptions): Promise<{ bundle: Bundle; signature: Signature }> {
  const payloadType = options.payloadType ?? IN_TOTO_PAYLOAD_TYPE;
  const payload = Buffer.from(options.payload);
  const signature = await options.signer.sign({ payload: preAuthEncoding(payloadType, payload) });
  const bundle = toDSSEBundle({
    artifact: payload,
    artifactType: payloadType,
    signature: signature.signature,
    ...verificationMaterial(signature),
  });
  await addWitness(bundle, signature, options.signer);
  return { bundle, signature };
}

/** Let the signer's witness (keyless: Rekor) testify to the bundle content and record what it returns. */
async function addWitness(bundle: Bundle, signature: Signature, signer: Signer): Promise<void> {
  if (!signer.witness) return;
  const witnessed = await signer.witness({ content: bundle.content, signature });
  const vm = bundle.verificationMaterial;
  vm.tlogEntries = [...vm.tlogEntries, ...(witnessed.tlogEntries ?? [])];
  if (witnessed.rfc3161Timestamps?.length) {
    vm.timestampVerificationData = {
      rfc3161Timestamps: [
        ...(vm.timestampVerificationData?.rfc3161Timestamps ?? []),
        ...witnessed.rfc3161Timestamps,
      ],
    };
  }
}

function verificationMaterial(
  signature: Signature,
): { keyHint: string } | { certificate: Buffer; keyHint: string } {
  // With a certificate, toMessageSignatureBundle/toDSSEBundle emit the v0.3 single-certificate form.
  return signature.certificate
    ? { certificate: signature.certificate, keyHint: '' }
    : { keyHint: signature.keyHint };
}

/** Parse and validate a Sigstore bundle (any JSON value); BUNDLE_INVALID on anything malformed. */
export function parseBundle(json: unknown, where = 'bundle'): Bundle {
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (error) {
    throw new DroverError(
      'BUNDLE_INVALID',
      `${where} is not a valid Sigstore bundle: ${(error as Error).message}`,
      {
        hint: 'Pass the .sigstore.json file written by `drover sign`, unmodified.',
        cause: error,
      },
    );
  }
  if (!bundle.mediaType.startsWith('application/vnd.dev.sigstore.bundle')) {
    throw new DroverError('BUNDLE_INVALID', `${where} has unknown media type ${bundle.mediaType}`, {
      hint: `Expected ${BUNDLE_V03_MEDIA_TYPE}.`,
    });
  }
  return bundle;
}

/**
 * Serialize a bundle the way it is stored on disk. Protobuf JSON drops empty lists; the documented v0.3 form
 * (and what cosign writes for a key with no log) keeps `tlogEntries: []` and `rfc3161Timestamps: []`.
 */
export function serializeBundle(bundle: Bundle): SerializedBundle {
  const json = bundleToJSON(bundle);
  const vm = json.verificationMaterial as Record<string, unknown>;
  vm.tlogEntries ??= [];
  vm.timestampVerificationData ??= {};
  const tvd = vm.timestampVerificationData as Record<string, unknown>;
  tvd.rfc3161Timestamps ??= [];
  return json;
}

async function writeJsonFile(path: string, value: unknown): Promise<void> {
  await writeAtomically(path, (tmp) => writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`));
}

export { BUNDLE_V03_MEDIA_TYPE };
