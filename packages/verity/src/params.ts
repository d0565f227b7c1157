import { getHashes, hash as oneShotHash, randomBytes, randomUUID } from 'node:crypto';
import { DroverError } from '@drover/core';

/** Size of the on-disk superblock. */
export const SUPERBLOCK_SIZE = 512;
/** Longest salt the superblock can hold. */
export const MAX_SALT_SIZE = 256;
/** Smallest and largest block sizes veritysetup accepts. */
export const MIN_BLOCK_SIZE = 512;
export const MAX_BLOCK_SIZE = 512 * 1024;
/** Salt length veritysetup picks when none is given. */
export const DEFAULT_SALT_SIZE = 32;

/** Everything that determines a hash tree, fully resolved. */
export interface VerityParams {
  /** 1 = normal, 0 = Chrome OS (salt after the data, digests packed). */
  hashType: 0 | 1;
  algorithm: string;
  dataBlockSize: number;
  hashBlockSize: number;
  dataBlocks: number;
  salt: Buffer;
  /** Byte offset of the superblock (or of the tree with `superblock: false`) in the hash file. */
  hashOffset: number;
  superblock: boolean;
  /** Lowercase RFC 4122 text; absent without a superblock. */
  uuid?: string;
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Hash names OpenSSL offers that cannot build a tree (XOFs, combined or signature names). */
function isTreeHash(name: string): boolean {
  return !/^(shake|rsa-|md5-sha1|ssl3-|id-)/i.test(name) && !/with/i.test(name);
}

const digestSizes = new Map<string, number>();

/** Digest size of `algorithm`, or a VERITY_HASH_UNSUPPORTED error naming the closest ones. */
export function digestSizeOf(algorithm: string): number {
  const known = digestSizes.get(algorithm);
  if (known !== undefined) return known;
  const available = getHashes().filter(isTreeHash);
  if (!available.includes(algorithm)) {
    const close = available.filter((h) => h.startsWith(algorithm.slice(0, 3))).slice(0, 6);
    throw new DroverError('VERITY_HASH_UNSUPPORTED', `unknown or unsupported hash algorithm "${algorithm}"`, {
      hint: `Use one of ${(close.length > 0 ? close : ['sha256', 'sha1', 'sha512']).join(', ')} (default sha256).`,
      details: { algorithm },
    });
  }
  const size = oneShotHash(algorithm, '', 'buffer').length;
  digestSizes.set(algorithm, size);
  return size;
}

/** Validate a data or hash block size (power of two, 512 B .. 512 KiB). */
export function checkBlockSize(size: number, what: 'data' | 'hash'): number {
  if (
    !Number.isSafeInteger(size) ||
    size < MIN_BLOCK_SIZE ||
    size > MAX_BLOCK_SIZE ||
    (size & (size - 1)) !== 0
  ) {
    throw new DroverError(
      'VERITY_BLOCK_SIZE_INVALID',
      `${what} block size ${size} is not a power of two from 512 to 524288`,
      {
        hint: `Pass --${what}-block-size as a power of two such as 4096 (the default).`,
        details: { what, size },
      },
    );
  }
  return size;
}

/** Parse a salt given as hex, `-`/empty for none, or bytes; undefined means 32 random bytes. */
export function resolveSalt(salt: string | Uint8Array | undefined): Buffer {
  if (salt === undefined) return randomBytes(DEFAULT_SALT_SIZE);
  let bytes: Buffer;
  if (typeof salt === 'string') {
    if (salt === '-' || salt === '') return Buffer.alloc(0);
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(salt)) {
      throw new DroverError(
        'VERITY_SALT_INVALID',
        'salt must be an even number of hex digits, or "-" for none',
        {
          hint: 'Pass --salt as hex (e.g. --salt=e48da609…) or --salt=- for no salt.',
        },
      );
    }
    bytes = Buffer.from(salt, 'hex');
  } else {
    bytes = Buffer.from(salt);
  }
  if (bytes.length > MAX_SALT_SIZE) {
    throw new DroverError(
      'VERITY_SALT_TOO_LONG',
      `salt is ${bytes.length} bytes; at most ${MAX_SALT_SIZE} fit the superblock`,
      {
        hint: 'Use a salt of at most 256 bytes (512 hex digits); 32 random bytes is the default.',
        details: { saltSize: bytes.length },
      },
    );
  }
  return bytes;
}

/** Validate a textual UUID or make a random one. */
export function resolveUuid(uuid: string | undefined): string {
  if (uuid === undefined) return randomUUID();
  if (!UUID_PATTERN.test(uuid)) {
    throw new DroverError('VERITY_UUID_INVALID', `"${uuid}" is not a UUID`, {
      hint: 'Pass --uuid in the form 01234567-89ab-cdef-0123-456789abcdef, or leave it out for a random one.',
    });
  }
  return uuid.toLowerCase();
}

/** Validate the hash type (format) option. */
export function checkHashType(type: number): 0 | 1 {
  if (type !== 0 && type !== 1) {
    throw new DroverError(
      'VERITY_HASH_TYPE_INVALID',
      `hash type ${type} is not 0 (Chrome OS) or 1 (normal)`,
      {
        hint: 'Pass --format=1 (the default) or --format=0.',
      },
    );
  }
  return type;
}

/** Validate a root hash given as hex for `algorithm` and return its bytes. */
export function parseRootHash(rootHash: string, algorithm: string): Buffer {
  const size = digestSizeOf(algorithm);
  const text = rootHash.trim();
  if (!/^[0-9a-fA-F]*$/.test(text) || text.length !== size * 2) {
    throw new DroverError(
      'VERITY_ROOT_HASH_INVALID',
      `root hash must be ${size * 2} hex digits for ${algorithm}, got ${text.length} characters`,
      {
        hint: 'Pass the "Root hash" printed by format (or --root-hash-file), and check --hash matches the tree.',
        details: { length: text.length, expected: size * 2, algorithm },
      },
    );
  }
  return Buffer.from(text, 'hex');
}

/** `-` for no salt, hex otherwise: how veritysetup and the dm table spell a salt. */
export function saltText(salt: Uint8Array): string {
  return salt.length === 0 ? '-' : Buffer.from(salt).toString('hex');
}
