import type { VerityRecord } from '@drover/core';
import { DroverError } from '@drover/core';
import { hashStartBlock, treeGeometry } from './geometry.js';
import { checkBlockSize, digestSizeOf, parseRootHash, resolveSalt, saltText } from './params.js';

/** What the kernel does on a corrupted block (default: return I/O errors). */
export type VerityCorruptionMode = 'eio' | 'ignore' | 'restart' | 'panic';

export interface RenderVerityTableOptions {
  /** The tree's parameters and root hash, as `formatVerity` returns them in `record`. */
  verity: VerityRecord;
  /** Data device as the kernel names it: `/dev/sda3`, `PARTUUID=…`, `PARTUUID=…/PARTNROFF=1`, `8:3`. */
  dataDevice: string;
  /** Hash device, same forms. */
  hashDevice: string;
  onCorruption?: VerityCorruptionMode;
  /** What to do on an I/O error reading the devices. */
  onError?: 'restart' | 'panic';
  ignoreZeroBlocks?: boolean;
  checkAtMostOnce?: boolean;
  /**
   * FEC parity: device, byte offset and roots. The covered block count is given, or derived from the hash device
   * size, or from `offset` (FEC in the hash file), or from the end of the tree.
   */
  fec?: { device: string; offset?: number; roots: number; blocks?: number; hashDeviceSize?: number };
  /** Keyring description of the root-hash signature (`root_hash_sig_key_desc`). */
  signatureKeyDescription?: string;
  /** dm device name for `dm-mod.create=` (default `root`). */
  name?: string;
  /** dm UUID for `dm-mod.create=` (default none). */
  uuid?: string;
}

/** The dm table and the kernel arguments that set it up. */
export interface VerityTable {
  /** `0 <sectors> verity …`, for `dmsetup create --table`. */
  table: string;
  /** `dm-mod.create="name,uuid,minor,ro,table"` (Bottlerocket-style early setup without an initrd). */
  dmModCreate: string;
  /** The optional arguments alone. */
  options: string[];
}

function checkDevice(device: string, what: string): string {
  if (device.length === 0 || /[\s,"]/.test(device)) {
    throw new DroverError('VERITY_DEVICE_NAME_INVALID', `${what} "${device}" cannot appear in a dm table`, {
      hint: 'Name devices without spaces, commas or quotes: /dev/sda3, PARTUUID=…, major:minor.',
    });
  }
  return device;
}

/** Render the kernel dm-verity table line and the matching `dm-mod.create=` argument. */
export function renderVerityTable(options: RenderVerityTableOptions): VerityTable {
  const v = options.verity;
  const dataBlockSize = checkBlockSize(v.dataBlockSize, 'data');
  const hashBlockSize = checkBlockSize(v.hashBlockSize, 'hash');
  parseRootHash(v.rootHash, v.algorithm);
  const salt = saltText(resolveSalt(v.salt));
  const start = hashStartBlock({
    hashOffset: v.hashOffset ?? 0,
    hashBlockSize,
    superblock: v.superblock ?? true,
  });
  const opts: string[] = [];
  const mode = options.onCorruption ?? 'eio';
  if (mode !== 'eio') opts.push(`${mode}_on_corruption`);
  if (options.onError) opts.push(`${options.onError}_on_error`);
  if (options.ignoreZeroBlocks) opts.push('ignore_zero_blocks');
  if (options.checkAtMostOnce) opts.push('check_at_most_once');
  if (options.fec) {
    const fec = options.fec;
    let blocks = fec.blocks;
    if (blocks === undefined) {
      // Data blocks plus the hash device from the first hash block to its end (or to the FEC offset when FEC
      // shares the hash file); by default the end of the tree, where veritysetup ends a hash file it creates.
      const end =
        fec.hashDeviceSize ??
        (fec.offset !== undefined && fec.offset > 0
          ? fec.offset
          : treeGeometry({
              hashType: v.hashType,
              algorithm: v.algorithm,
              dataBlockSize,
              hashBlockSize,
              dataBlocks: v.dataBlocks,
              salt: Buffer.alloc(0),
              hashOffset: v.hashOffset ?? 0,
              superblock: v.superblock ?? true,
            }).hashEnd);
      blocks = v.dataBlocks + Math.ceil((end - start * hashBlockSize) / dataBlockSize);
    }
    opts.push(
      'use_fec_from_device',
      checkDevice(fec.device, 'FEC device'),
      'fec_start',
      String(Math.floor((fec.offset ?? 0) / dataBlockSize)),
      'fec_blocks',
      String(blocks),
      'fec_roots',
      String(fec.roots),
    );
  }
  if (options.signatureKeyDescription !== undefined) {
    opts.push(
      'root_hash_sig_key_desc',
      checkDevice(options.signatureKeyDescription, 'signature key description'),
    );
  }
  digestSizeOf(v.algorithm);
  const sectors = (v.dataBlocks * dataBlockSize) / 512;
  const fields = [
    '0',
    String(sectors),
    'verity',
    String(v.hashType),
    checkDevice(options.dataDevice, 'data device'),
    checkDevice(options.hashDevice, 'hash device'),
    String(dataBlockSize),
    String(hashBlockSize),
    String(v.dataBlocks),
    String(start),
    v.algorithm,
    v.rootHash.toLowerCase(),
    salt,
  ];
  if (opts.length > 0) fields.push(String(opts.length), ...opts);
  const table = fields.join(' ');
  const name = options.name ?? 'root';
  return { table, dmModCreate: `dm-mod.create="${name},${options.uuid ?? ''},,ro,${table}"`, options: opts };
}

/** systemd's `roothash=` (or `usrhash=` for a /usr partition) kernel argument. */
export function verityKernelArgument(options: { rootHash: string; usr?: boolean }): string {
  const hex = options.rootHash.trim().toLowerCase();
  if (!/^[0-9a-f]{64,}$/.test(hex)) {
    throw new DroverError(
      'VERITY_ROOT_HASH_INVALID',
      'root hash must be at least 256 bits of hex for roothash=',
      {
        hint: 'Pass the root hash printed by `drover verity format` (sha256 or longer).',
      },
    );
  }
  return `${options.usr ? 'usrhash' : 'roothash'}=${hex}`;
}

function toUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Discoverable Partitions: the data partition's UUID is the first 128 bits of the root hash, the verity one the last. */
export function verityPartitionUuids(rootHash: string): { data: string; verity: string } {
  const hex = rootHash.trim().toLowerCase();
  if (!/^[0-9a-f]{64,}$/.test(hex)) {
    throw new DroverError(
      'VERITY_ROOT_HASH_INVALID',
      'root hash must be at least 256 bits of hex to derive partition UUIDs',
      {
        hint: 'Use sha256 or a longer hash for Discoverable Partitions images.',
      },
    );
  }
  return { data: toUuid(hex.slice(0, 32)), verity: toUuid(hex.slice(-32)) };
}
