import { open } from 'node:fs/promises';
import { type Context, DroverError, throwIfAborted, toDroverError } from '@drover/core';
import { erofsChecksum } from '../crc.js';
import { formatGuid } from '../gpt/guid.js';

export interface ReadErofsSuperblockOptions {
  /** An EROFS image, or a disk holding one. */
  path: string;
  /** Byte offset of the filesystem in the file (a partition's offset); default 0. */
  offset?: number;
}

/** The facts an EROFS superblock records, for `drover image inspect`. */
export interface ErofsSuperblockInfo {
  blockSize: number;
  blocks: number;
  /** blocks × blockSize. */
  size: number;
  inodes: number;
  uuid: string;
  volumeName: string;
  buildTime: { sec: number; nsec: number };
  rootNid: number;
  featureCompat: number;
  featureIncompat: number;
  /** Present when the image carries a superblock checksum (compat bit 0x1). */
  checksumValid?: boolean;
}

const MAGIC = 0xe0f5e1e2;

/** Read and check the superblock of an EROFS filesystem (at `offset` in `path`). */
export async function readErofsSuperblock(
  options: ReadErofsSuperblockOptions,
  ctx: Context = {},
): Promise<ErofsSuperblockInfo> {
  throwIfAborted(ctx);
  const offset = options.offset ?? 0;
  const head = Buffer.alloc(4096);
  let read = 0;
  try {
    const handle = await open(options.path, 'r');
    try {
      read = (await handle.read(head, 0, head.length, offset)).bytesRead;
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw toDroverError(error, `reading ${options.path}`);
  }
  const sb = head.subarray(1024, 1024 + 128);
  if (read < 1024 + 128 || sb.readUInt32LE(0) !== MAGIC) {
    throw new DroverError('EROFS_NOT_FOUND', `no EROFS superblock in ${options.path} at offset ${offset}`, {
      kind: 'input',
      hint: 'Pass an EROFS image, or the byte offset of the partition that holds one.',
      details: { path: options.path, offset },
    });
  }
  const blkszbits = sb[0x0c]!;
  const blockSize = 2 ** blkszbits;
  const blocks = sb.readUInt32LE(0x24);
  const featureCompat = sb.readUInt32LE(0x08);
  const nameEnd = sb.subarray(0x40, 0x50).indexOf(0);
  const info: ErofsSuperblockInfo = {
    blockSize,
    blocks,
    size: blocks * blockSize,
    inodes: Number(sb.readBigUInt64LE(0x10)),
    uuid: formatGuid(sb.subarray(0x30, 0x40)),
    volumeName: sb.subarray(0x40, nameEnd < 0 ? 0x50 : 0x40 + nameEnd).toString('utf8'),
    buildTime: { sec: Number(sb.readBigUInt64LE(0x18)), nsec: sb.readUInt32LE(0x20) },
    rootNid: sb.readUInt16LE(0x0e),
    featureCompat,
    featureIncompat: sb.readUInt32LE(0x50),
  };
  if (featureCompat & 0x1 && blockSize > 1024 && read >= blockSize) {
    // CRC32C over [1024, blockSize) with the checksum field zeroed, no final XOR.
    const block = Buffer.from(head.subarray(1024, blockSize));
    const stored = block.readUInt32LE(4);
    block.writeUInt32LE(0, 4);
    info.checksumValid = erofsChecksum(block) === stored;
  }
  return info;
}
