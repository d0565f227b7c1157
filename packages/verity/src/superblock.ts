import { DroverError } from '@drover/core';
import { MAX_BLOCK_SIZE, MAX_SALT_SIZE, MIN_BLOCK_SIZE, SUPERBLOCK_SIZE } from './params.js';

const SIGNATURE = Buffer.from('verity\0\0', 'latin1');

/** The fields of a veritysetup superblock. */
export interface VeritySuperblock {
  version: number;
  hashType: 0 | 1;
  /** Lowercase RFC 4122 text. */
  uuid: string;
  algorithm: string;
  dataBlockSize: number;
  hashBlockSize: number;
  dataBlocks: number;
  /** Hex, `-` for none. */
  salt: string;
}

function uuidToBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

function bytesToUuid(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Serialize a superblock to its 512 on-disk bytes. */
export function encodeSuperblock(sb: {
  hashType: 0 | 1;
  uuid: string;
  algorithm: string;
  dataBlockSize: number;
  hashBlockSize: number;
  dataBlocks: number;
  salt: Uint8Array;
}): Buffer {
  const out = Buffer.alloc(SUPERBLOCK_SIZE);
  SIGNATURE.copy(out, 0);
  out.writeUInt32LE(1, 8);
  out.writeUInt32LE(sb.hashType, 12);
  uuidToBytes(sb.uuid).copy(out, 16);
  out.write(sb.algorithm, 32, 31, 'latin1');
  out.writeUInt32LE(sb.dataBlockSize, 64);
  out.writeUInt32LE(sb.hashBlockSize, 68);
  out.writeBigUInt64LE(BigInt(sb.dataBlocks), 72);
  out.writeUInt16LE(sb.salt.length, 80);
  Buffer.from(sb.salt).copy(out, 88);
  return out;
}

function invalid(field: string, message: string, details: Record<string, unknown> = {}): DroverError {
  return new DroverError('VERITY_SUPERBLOCK_INVALID', `corrupt verity superblock: ${message}`, {
    kind: 'integrity',
    hint: 'The superblock is damaged; pass the parameters and the root hash explicitly with --no-superblock, or re-run format.',
    details: { field, ...details },
  });
}

/** Parse and validate a 512-byte superblock; throws a DroverError naming the first bad field. */
export function decodeSuperblock(bytes: Uint8Array): VeritySuperblock {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < SUPERBLOCK_SIZE) {
    throw new DroverError(
      'VERITY_SUPERBLOCK_MISSING',
      `hash device holds ${b.length} bytes, too few for a superblock`,
      {
        hint: 'Check the hash file and --hash-offset; pass --no-superblock if the tree was made without one.',
      },
    );
  }
  if (!b.subarray(0, 8).equals(SIGNATURE)) {
    throw new DroverError(
      'VERITY_SUPERBLOCK_MISSING',
      'no verity superblock (signature "verity" not found)',
      {
        hint: 'Check the hash file and --hash-offset; pass --no-superblock with the tree parameters if it has none.',
        details: { signature: b.subarray(0, 8).toString('hex') },
      },
    );
  }
  const version = b.readUInt32LE(8);
  if (version !== 1) {
    throw new DroverError(
      'VERITY_SUPERBLOCK_UNSUPPORTED',
      `verity superblock version ${version} is not supported`,
      {
        hint: 'Only version 1 superblocks (every veritysetup so far) are understood.',
        details: { version },
      },
    );
  }
  const hashType = b.readUInt32LE(12);
  if (hashType !== 0 && hashType !== 1) throw invalid('hashType', `hash type ${hashType}`, { hashType });
  const algorithmField = b.subarray(32, 64);
  const nul = algorithmField.indexOf(0);
  const algorithm = algorithmField.subarray(0, nul === -1 ? 32 : nul).toString('latin1');
  if (!/^[a-z0-9][a-z0-9_.\-/]*$/i.test(algorithm))
    throw invalid('algorithm', 'unreadable hash algorithm name');
  if (nul !== -1 && algorithmField.subarray(nul).some((x) => x !== 0)) {
    throw invalid('algorithm', 'garbage after the hash algorithm name');
  }
  const dataBlockSize = b.readUInt32LE(64);
  const hashBlockSize = b.readUInt32LE(68);
  for (const [field, size] of [
    ['dataBlockSize', dataBlockSize],
    ['hashBlockSize', hashBlockSize],
  ] as const) {
    if (size < MIN_BLOCK_SIZE || size > MAX_BLOCK_SIZE || (size & (size - 1)) !== 0) {
      throw invalid(field, `${field} ${size} is not a power of two from 512 to 524288`, { [field]: size });
    }
  }
  const dataBlocksBig = b.readBigUInt64LE(72);
  if (dataBlocksBig === 0n || dataBlocksBig > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalid('dataBlocks', `data block count ${dataBlocksBig}`);
  }
  const saltSize = b.readUInt16LE(80);
  if (saltSize > MAX_SALT_SIZE) throw invalid('saltSize', `salt size ${saltSize} exceeds 256`, { saltSize });
  return {
    version,
    hashType,
    uuid: bytesToUuid(b.subarray(16, 32)),
    algorithm: algorithm.toLowerCase(),
    dataBlockSize,
    hashBlockSize,
    dataBlocks: Number(dataBlocksBig),
    salt: saltSize === 0 ? '-' : b.subarray(88, 88 + saltSize).toString('hex'),
  };
}
