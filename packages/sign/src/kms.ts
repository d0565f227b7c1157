import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
// Type-only at module load: the AWS SDK is large and loaded on first use, so plain key-file signing stays lean.
import type { KMSClient, SigningAlgorithmSpec } from '@aws-sdk/client-kms';
import { DroverError } from '@drover/core';
import { type KeyAlgorithm, keyAlgorithmOf, publicKeyHint } from './keys.js';
import type { Signature, Signer } from './signer.js';

export interface KmsSignerOptions {
  /** Key id, ARN or alias (`alias/drover-release`). */
  keyId: string;
  /** A configured client (tests pass one mocked with aws-sdk-client-mock); defaults to `new KMSClient({ region })`. */
  client?: KMSClient;
  region?: string;
}

/** A signer backed by an AWS KMS asymmetric key (ECC_NIST_P256 or RSA); digests are sent, never the data. */
export function kmsSigner(options: KmsSignerOptions): Signer {
  let client: KMSClient | undefined = options.client;
  const sdk = () => import('@aws-sdk/client-kms');
  const kms = async (): Promise<KMSClient> => {
    if (!client) {
      const { KMSClient } = await sdk();
      client = new KMSClient(options.region ? { region: options.region } : {});
    }
    return client;
  };
  let info:
    | Promise<{
        key: KeyObject;
        algorithm: KeyAlgorithm;
        spec: SigningAlgorithmSpec;
        pem: string;
        hint: string;
      }>
    | undefined;
  const load = () => {
    info ??= (async () => {
      const { GetPublicKeyCommand } = await sdk();
      const c = await kms();
      const out = await call(() => c.send(new GetPublicKeyCommand({ KeyId: options.keyId })), options.keyId);
      if (out.KeyUsage && out.KeyUsage !== 'SIGN_VERIFY') {
        throw new DroverError(
          'KMS_KEY_USAGE',
          `KMS key ${options.keyId} is for ${out.KeyUsage}, not SIGN_VERIFY`,
          {
            hint: 'Create the KMS key with key usage SIGN_VERIFY.',
          },
        );
      }
      if (!out.PublicKey) throw kmsError(new Error('GetPublicKey returned no key'), options.keyId);
      const key = createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' });
      const algorithm = keyAlgorithmOf(key, `KMS key ${options.keyId}`);
      if (algorithm === 'ed25519') {
        throw new DroverError(
          'KEY_TYPE_UNSUPPORTED',
          `KMS key ${options.keyId} is Ed25519, which KMS cannot sign digests with`,
          {
            hint: 'Use an ECC_NIST_P256 (recommended) or RSA KMS key.',
          },
        );
      }
      const spec: SigningAlgorithmSpec = algorithm === 'ecdsa-p256' ? 'ECDSA_SHA_256' : 'RSASSA_PSS_SHA_256';
      return {
        key,
        algorithm,
        spec,
        pem: key.export({ type: 'spki', format: 'pem' }) as string,
        hint: publicKeyHint(key),
      };
    })();
    return info;
  };
  return {
    async sign(input): Promise<Signature> {
      const k = await load();
      const digest = 'digest' in input ? input.digest : createHash('sha256').update(input.payload).digest();
      const { SignCommand } = await sdk();
      const c = await kms();
      const out = await call(
        () =>
          c.send(
            new SignCommand({
              KeyId: options.keyId,
              Message: digest,
              MessageType: 'DIGEST',
              SigningAlgorithm: k.spec,
            }),
          ),
        options.keyId,
      );
      if (!out.Signature) throw kmsError(new Error('Sign returned no signature'), options.keyId);
      return {
        signature: Buffer.from(out.Signature),
        algorithm: k.algorithm,
        publicKey: k.pem,
        keyHint: k.hint,
      };
    },
  };
}

async function call<T>(fn: () => Promise<T>, keyId: string): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw kmsError(error, keyId);
  }
}

function kmsError(error: unknown, keyId: string): DroverError {
  if (error instanceof DroverError) return error;
  const name = (error as { name?: string }).name ?? '';
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'NotFoundException') {
    return new DroverError('KMS_KEY_NOT_FOUND', `KMS key ${keyId} was not found`, {
      kind: 'not-found',
      hint: 'Check the key id/alias and the AWS region (AWS_REGION).',
      cause: error,
    });
  }
  if (
    name === 'AccessDeniedException' ||
    name === 'KMSInvalidStateException' ||
    name === 'DisabledException'
  ) {
    return new DroverError('KMS_ACCESS_DENIED', `KMS refused to use key ${keyId}: ${message}`, {
      kind: 'denied',
      hint: 'Grant kms:Sign and kms:GetPublicKey on the key to this identity, and check the key is enabled.',
      cause: error,
    });
  }
  return new DroverError('KMS_UNAVAILABLE', `KMS request for key ${keyId} failed: ${message}`, {
    kind: 'unavailable',
    hint: 'Check AWS credentials, region and network access to KMS.',
    cause: error,
  });
}
