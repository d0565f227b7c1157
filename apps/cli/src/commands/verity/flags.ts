import { readFile } from 'node:fs/promises';
import { DroverError, toDroverError } from '@drover/core';
import { Flags } from '@oclif/core';

/** Tree parameters, named as veritysetup names them. */
export const treeFlags = {
  hash: Flags.string({ summary: 'Hash algorithm (veritysetup --hash).', default: 'sha256' }),
  format: Flags.integer({ summary: 'Hash type: 1 (normal) or 0 (Chrome OS).', default: 1, min: 0, max: 1 }),
  'data-block-size': Flags.integer({
    summary: 'Data block size in bytes (power of two, 512..524288).',
    default: 4096,
  }),
  'hash-block-size': Flags.integer({
    summary: 'Hash block size in bytes (power of two, 512..524288).',
    default: 4096,
  }),
  salt: Flags.string({ summary: 'Salt as hex, or "-" for none (default: 32 random bytes).' }),
  'data-blocks': Flags.integer({
    summary: 'Number of data blocks to protect (default: the whole data file).',
  }),
  'hash-offset': Flags.integer({
    summary: 'Byte offset of the superblock/tree in the hash file.',
    default: 0,
  }),
  superblock: Flags.boolean({
    summary: 'Write/read the 512-byte superblock (--no-superblock to go without).',
    default: true,
    allowNo: true,
  }),
};

/** FEC parameters, named as veritysetup names them. */
export const fecFlags = {
  'fec-device': Flags.string({
    summary: 'File or device holding Reed-Solomon parity (may be the hash file).',
  }),
  'fec-roots': Flags.integer({ summary: 'Parity bytes per 255-byte codeword, 2..24.', default: 2 }),
  'fec-offset': Flags.integer({ summary: 'Byte offset of the parity in the FEC device.', default: 0 }),
};

/** Data inside a larger file (a partition in a disk image). */
export const dataOffsetFlag = {
  'data-offset': Flags.integer({
    summary: 'Byte offset of the data inside DATA (e.g. a partition in a disk image); default 0.',
    min: 0,
  }),
};

export const threadsFlag = {
  threads: Flags.integer({ summary: 'Worker threads for hashing (default: by size and cores; 0 = none).' }),
};

export const rootHashFileFlag = {
  'root-hash-file': Flags.string({ summary: 'Read the root hash from this file instead of the argument.' }),
};

/** The root hash from the positional argument or --root-hash-file. */
export async function rootHashFrom(arg: string | undefined, file: string | undefined): Promise<string> {
  if (file !== undefined) {
    try {
      return (await readFile(file, 'utf8')).trim();
    } catch (error) {
      throw toDroverError(error, 'reading --root-hash-file');
    }
  }
  if (arg === undefined) {
    throw new DroverError('VERITY_ROOT_HASH_REQUIRED', 'no root hash given', {
      kind: 'usage',
      hint: 'Pass the root hash as the last argument or with --root-hash-file.',
    });
  }
  return arg;
}
