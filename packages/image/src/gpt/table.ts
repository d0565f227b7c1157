import { DroverError } from '@drover/core';
import { crc32 } from '../crc.js';
import { decodeGptGuid, encodeGptGuid } from './guid.js';

// Pure encoding and decoding of GPT structures (UEFI spec 2.x, chapter 5). No I/O here.

export const SECTOR = 512;
export const ENTRY_SIZE = 128;
export const ENTRY_COUNT = 128;
/** Sectors taken by a 128 × 128-byte entry array. */
export const ENTRY_SECTORS = (ENTRY_COUNT * ENTRY_SIZE) / SECTOR;
const SIGNATURE = Buffer.from('EFI PART', 'latin1');
const REVISION = 0x00010000;
const HEADER_SIZE = 92;

/** One used GPT entry. LBAs are inclusive, as on disk. */
export interface GptEntry {
  /** 1-based entry number (index in the entry array + 1). */
  number: number;
  typeGuid: string;
  uuid: string;
  firstLba: number;
  lastLba: number;
  attributes: bigint;
  name: string;
}

/** A partition table: what the primary and backup headers describe. */
export interface GptTable {
  diskGuid: string;
  /** Total sectors of the disk. */
  sectors: number;
  firstUsableLba: number;
  lastUsableLba: number;
  entries: GptEntry[];
}

/** The geometry of a standard table on a disk of `sectors` sectors. */
export function usableRange(sectors: number): { firstUsableLba: number; lastUsableLba: number } {
  return { firstUsableLba: 2 + ENTRY_SECTORS, lastUsableLba: sectors - 2 - ENTRY_SECTORS };
}

/** Protective MBR: one 0xEE partition from LBA 1 covering the disk (capped at 2^32 − 1 sectors). */
export function encodeProtectiveMbr(sectors: number): Buffer {
  const mbr = Buffer.alloc(SECTOR);
  const p = 446;
  mbr[p] = 0x00; // not bootable
  mbr[p + 1] = 0x00; // CHS of LBA 1: head 0, sector 2, cylinder 0
  mbr[p + 2] = 0x02;
  mbr[p + 3] = 0x00;
  mbr[p + 4] = 0xee;
  mbr[p + 5] = 0xff;
  mbr[p + 6] = 0xff;
  mbr[p + 7] = 0xff;
  mbr.writeUInt32LE(1, p + 8);
  mbr.writeUInt32LE(Math.min(sectors - 1, 0xffffffff), p + 12);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  return mbr;
}

/** Encode a name as at most 36 UTF-16LE code units in a 72-byte field. */
export function encodeName(name: string): Buffer {
  const out = Buffer.alloc(72);
  if (name.length > 36) {
    throw new DroverError(
      'GPT_LABEL_TOO_LONG',
      `partition label ${JSON.stringify(name)} is longer than 36 characters`,
      {
        hint: 'GPT labels hold at most 36 UTF-16 code units; shorten it.',
        details: { label: name },
      },
    );
  }
  out.write(name, 0, 'utf16le');
  return out;
}

function decodeName(bytes: Buffer): string {
  let end = 0;
  while (end + 1 < bytes.length && (bytes[end] !== 0 || bytes[end + 1] !== 0)) end += 2;
  return bytes.subarray(0, end).toString('utf16le');
}

/** The 16 KiB entry array (unused entries all zero). */
export function encodeEntries(entries: readonly GptEntry[]): Buffer {
  const array = Buffer.alloc(ENTRY_COUNT * ENTRY_SIZE);
  for (const e of entries) {
    if (!Number.isInteger(e.number) || e.number < 1 || e.number > ENTRY_COUNT) {
      throw new DroverError(
        'GPT_TOO_MANY_PARTITIONS',
        `partition number ${e.number} is outside 1..${ENTRY_COUNT}`,
        {
          hint: `A GPT holds at most ${ENTRY_COUNT} partitions.`,
        },
      );
    }
    const at = (e.number - 1) * ENTRY_SIZE;
    encodeGptGuid(e.typeGuid, 'partition type GUID').copy(array, at);
    encodeGptGuid(e.uuid, 'partition UUID').copy(array, at + 16);
    array.writeBigUInt64LE(BigInt(e.firstLba), at + 32);
    array.writeBigUInt64LE(BigInt(e.lastLba), at + 40);
    array.writeBigUInt64LE(BigInt.asUintN(64, e.attributes), at + 48);
    encodeName(e.name).copy(array, at + 56);
  }
  return array;
}

/** One 512-byte header sector. */
export function encodeHeader(table: GptTable, which: 'primary' | 'backup', entriesCrc: number): Buffer {
  const last = table.sectors - 1;
  const h = Buffer.alloc(SECTOR);
  SIGNATURE.copy(h, 0);
  h.writeUInt32LE(REVISION, 8);
  h.writeUInt32LE(HEADER_SIZE, 12);
  h.writeBigUInt64LE(BigInt(which === 'primary' ? 1 : last), 24);
  h.writeBigUInt64LE(BigInt(which === 'primary' ? last : 1), 32);
  h.writeBigUInt64LE(BigInt(table.firstUsableLba), 40);
  h.writeBigUInt64LE(BigInt(table.lastUsableLba), 48);
  encodeGptGuid(table.diskGuid, 'disk GUID').copy(h, 56);
  h.writeBigUInt64LE(BigInt(which === 'primary' ? 2 : last - ENTRY_SECTORS), 72);
  h.writeUInt32LE(ENTRY_COUNT, 80);
  h.writeUInt32LE(ENTRY_SIZE, 84);
  h.writeUInt32LE(entriesCrc, 88);
  h.writeUInt32LE(crc32(h.subarray(0, HEADER_SIZE)), 16);
  return h;
}

/** Everything written for a table: the MBR, LBA 1..33 and the last 33 sectors. */
export interface EncodedGpt {
  mbr: Buffer;
  /** Primary header sector followed by the entry array (write at byte 512). */
  primary: Buffer;
  /** Backup entry array followed by the backup header (write at `backupOffset`). */
  backup: Buffer;
  backupOffset: number;
}

/** Encode the protective MBR and both copies of a table. */
export function encodeGpt(table: GptTable): EncodedGpt {
  const entries = encodeEntries(table.entries);
  const crc = crc32(entries);
  return {
    mbr: encodeProtectiveMbr(table.sectors),
    primary: Buffer.concat([encodeHeader(table, 'primary', crc), entries]),
    backup: Buffer.concat([entries, encodeHeader(table, 'backup', crc)]),
    backupOffset: (table.sectors - 1 - ENTRY_SECTORS) * SECTOR,
  };
}

/** A header as read from disk, with the fields needed to find and check its entry array. */
export interface GptHeader {
  myLba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  entriesLba: number;
  entryCount: number;
  entrySize: number;
  entriesCrc: number;
  headerSize: number;
}

/** Parse and check one header sector; returns a reason string instead when it is not a valid header. */
export function decodeHeader(sector: Buffer): GptHeader | string {
  if (sector.length < SECTOR || !sector.subarray(0, 8).equals(SIGNATURE)) return 'no "EFI PART" signature';
  const headerSize = sector.readUInt32LE(12);
  if (headerSize < HEADER_SIZE || headerSize > SECTOR) return `bad header size ${headerSize}`;
  const copy = Buffer.from(sector.subarray(0, headerSize));
  const stored = copy.readUInt32LE(16);
  copy.writeUInt32LE(0, 16);
  if (crc32(copy) !== stored) return 'header CRC32 mismatch';
  const entrySize = sector.readUInt32LE(84);
  const entryCount = sector.readUInt32LE(80);
  if (entrySize < 128 || entrySize % 8 !== 0 || entryCount === 0 || entryCount * entrySize > 1 << 24) {
    return `unsupported entry array (${entryCount} × ${entrySize} bytes)`;
  }
  return {
    myLba: Number(sector.readBigUInt64LE(24)),
    alternateLba: Number(sector.readBigUInt64LE(32)),
    firstUsableLba: Number(sector.readBigUInt64LE(40)),
    lastUsableLba: Number(sector.readBigUInt64LE(48)),
    diskGuid: decodeGptGuid(sector.subarray(56, 72)),
    entriesLba: Number(sector.readBigUInt64LE(72)),
    entryCount,
    entrySize,
    entriesCrc: sector.readUInt32LE(88),
    headerSize,
  };
}

/** Decode the used entries of an entry array (type GUID not all zero). */
export function decodeEntries(array: Buffer, entryCount: number, entrySize: number): GptEntry[] {
  const out: GptEntry[] = [];
  for (let i = 0; i < entryCount; i++) {
    const at = i * entrySize;
    const type = array.subarray(at, at + 16);
    if (type.every((b) => b === 0)) continue;
    out.push({
      number: i + 1,
      typeGuid: decodeGptGuid(type),
      uuid: decodeGptGuid(array.subarray(at + 16, at + 32)),
      firstLba: Number(array.readBigUInt64LE(at + 32)),
      lastLba: Number(array.readBigUInt64LE(at + 40)),
      attributes: array.readBigUInt64LE(at + 48),
      name: decodeName(array.subarray(at + 56, at + Math.min(entrySize, 128))),
    });
  }
  return out;
}

/** Recompute the header CRC of a header sector in place (after patching a field). */
export function resealHeader(sector: Buffer): void {
  const size = sector.readUInt32LE(12);
  sector.writeUInt32LE(0, 16);
  sector.writeUInt32LE(crc32(sector.subarray(0, size)), 16);
}
