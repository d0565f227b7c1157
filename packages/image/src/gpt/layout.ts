import { DroverError, didYouMean, type PartitionRecord } from '@drover/core';
import { deriveGuid, parseGuid } from './guid.js';
import { ENTRY_COUNT, ENTRY_SECTORS, encodeName, type GptTable, SECTOR, usableRange } from './table.js';

/** One partition as a layout asks for it. Sizes and offsets in bytes. */
export interface PartitionSpec {
  label: string;
  typeGuid: string;
  /** Unique partition GUID. Default: derived from the disk GUID, the entry number and the label. */
  uuid?: string;
  /** Bytes, a multiple of 512. */
  size: number;
  /** Byte offset; default: the end of the previous partition rounded up to the alignment. */
  offset?: number;
  /** GPT attribute bits (u64). */
  attributes?: bigint | number | string;
}

/** A whole disk: partitions in entry order (entry number = index + 1). */
export interface DiskLayout {
  partitions: PartitionSpec[];
  /** Disk size in bytes. Default: just large enough (aligned) for the partitions and the backup table. */
  size?: number;
  /** Default: derived from the partitions, so the same layout gives the same GUID. */
  diskGuid?: string;
  /** Partition start alignment in bytes; default 1 MiB. */
  alignment?: number;
}

/** A layout with every offset, GUID and the disk size fixed. */
export interface DiskPlan {
  size: number;
  sectorSize: 512;
  diskGuid: string;
  firstUsableLba: number;
  lastUsableLba: number;
  /** `attributes` always present, as a decimal string. */
  partitions: (PartitionRecord & { attributes: string })[];
}

export const MIB = 1024 * 1024;

function fail(code: string, message: string, hint: string, details?: Record<string, unknown>): DroverError {
  return new DroverError(code, message, { hint, ...(details ? { details } : {}) });
}

function toAttributes(value: PartitionSpec['attributes'], label: string): bigint {
  if (value === undefined) return 0n;
  let v: bigint;
  try {
    v = BigInt(value);
  } catch {
    throw fail(
      'GPT_BAD_ATTRIBUTES',
      `attributes of ${label} are not an integer: ${String(value)}`,
      'Pass a u64.',
    );
  }
  if (v < 0n || v >= 1n << 64n) {
    throw fail('GPT_BAD_ATTRIBUTES', `attributes of ${label} do not fit 64 bits`, 'Pass a u64.');
  }
  return v;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Fix offsets, GUIDs and the disk size of a layout; throws on overlap, misfit or bad GUIDs. */
export function planDisk(layout: DiskLayout): DiskPlan {
  const alignment = layout.alignment ?? MIB;
  if (!Number.isSafeInteger(alignment) || alignment < SECTOR || alignment % SECTOR !== 0) {
    throw fail('GPT_BAD_ALIGNMENT', `alignment ${alignment} is not a positive multiple of 512`, 'Use 1 MiB.');
  }
  if (layout.partitions.length > ENTRY_COUNT) {
    throw fail(
      'GPT_TOO_MANY_PARTITIONS',
      `${layout.partitions.length} partitions, a GPT holds ${ENTRY_COUNT}`,
      'Use fewer partitions.',
    );
  }
  const firstUsable = (2 + ENTRY_SECTORS) * SECTOR;
  const placed: { spec: PartitionSpec; offset: number; size: number; attributes: bigint }[] = [];
  let cursor = firstUsable;
  const labels = new Set<string>();
  for (const spec of layout.partitions) {
    if (labels.has(spec.label)) {
      throw fail(
        'GPT_DUPLICATE_LABEL',
        `two partitions are labelled ${JSON.stringify(spec.label)}`,
        'Make labels unique.',
      );
    }
    labels.add(spec.label);
    encodeName(spec.label);
    parseGuid(spec.typeGuid, `type GUID of ${spec.label}`);
    if (spec.uuid !== undefined) parseGuid(spec.uuid, `UUID of ${spec.label}`);
    if (!Number.isSafeInteger(spec.size) || spec.size <= 0 || spec.size % SECTOR !== 0) {
      throw fail(
        'GPT_BAD_SIZE',
        `partition ${spec.label}: size ${spec.size} is not a positive multiple of 512 bytes`,
        'Round the size up to whole 512-byte sectors (1 MiB multiples are best).',
        { label: spec.label, size: spec.size },
      );
    }
    let offset: number;
    if (spec.offset === undefined) {
      offset = alignUp(cursor, alignment);
    } else {
      offset = spec.offset;
      if (!Number.isSafeInteger(offset) || offset % SECTOR !== 0 || offset < firstUsable) {
        throw fail(
          'GPT_BAD_OFFSET',
          `partition ${spec.label}: offset ${offset} is not a sector boundary at or after ${firstUsable}`,
          'Omit the offset to place partitions automatically at 1 MiB boundaries.',
          { label: spec.label, offset },
        );
      }
    }
    placed.push({ spec, offset, size: spec.size, attributes: toAttributes(spec.attributes, spec.label) });
    cursor = Math.max(cursor, offset + spec.size);
  }
  const sorted = [...placed].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.offset < prev.offset + prev.size) {
      throw fail(
        'GPT_PARTITIONS_OVERLAP',
        `partitions ${prev.spec.label} [${prev.offset}, ${prev.offset + prev.size}) and ${cur.spec.label} [${cur.offset}, ${cur.offset + cur.size}) overlap`,
        'Move one of them or omit offsets to place partitions automatically.',
        { a: prev.spec.label, b: cur.spec.label },
      );
    }
  }
  const end = sorted.length > 0 ? Math.max(...sorted.map((p) => p.offset + p.size)) : firstUsable;
  const minimum = alignUp(end + (1 + ENTRY_SECTORS) * SECTOR, alignment);
  const size = layout.size ?? minimum;
  if (!Number.isSafeInteger(size) || size % SECTOR !== 0) {
    throw fail(
      'GPT_BAD_SIZE',
      `disk size ${size} is not a multiple of 512`,
      'Give the disk size in whole sectors.',
    );
  }
  if (size < end + (1 + ENTRY_SECTORS) * SECTOR) {
    throw fail(
      'GPT_PARTITIONS_DO_NOT_FIT',
      `the partitions end at byte ${end} but a ${size}-byte disk can use only up to ${size - (1 + ENTRY_SECTORS) * SECTOR}`,
      `Make the disk at least ${minimum} bytes, or the partitions smaller.`,
      { size, required: minimum },
    );
  }
  const seed = JSON.stringify(placed.map((p) => [p.spec.label, p.spec.typeGuid, p.offset, p.size]));
  const diskGuid = (layout.diskGuid ?? deriveGuid(`drover-disk:${size}:${seed}`)).toLowerCase();
  parseGuid(diskGuid, 'disk GUID');
  const sectors = size / SECTOR;
  return {
    size,
    sectorSize: SECTOR,
    diskGuid,
    ...usableRange(sectors),
    partitions: placed.map((p, i) => ({
      number: i + 1,
      label: p.spec.label,
      typeGuid: p.spec.typeGuid.toLowerCase(),
      uuid: (
        p.spec.uuid ?? deriveGuid(`drover-partition:${diskGuid}:${i + 1}:${p.spec.label}`)
      ).toLowerCase(),
      offset: p.offset,
      size: p.size,
      attributes: p.attributes.toString(),
    })),
  };
}

/** The GPT table of a plan. */
export function tableOfPlan(plan: DiskPlan): GptTable {
  return {
    diskGuid: plan.diskGuid,
    sectors: plan.size / SECTOR,
    firstUsableLba: plan.firstUsableLba,
    lastUsableLba: plan.lastUsableLba,
    entries: plan.partitions.map((p) => ({
      number: p.number,
      typeGuid: p.typeGuid,
      uuid: p.uuid,
      firstLba: p.offset / SECTOR,
      lastLba: (p.offset + p.size) / SECTOR - 1,
      attributes: BigInt(p.attributes),
      name: p.label,
    })),
  };
}

// ---- A/B (Bottlerocket-style) ----

/** Bottlerocket's partition type GUIDs. */
export const BOTTLEROCKET_TYPES = {
  boot: '6b636168-7420-6568-2070-6c616e657421',
  root: '5526016a-1a97-4ea4-b39a-b7c8c6ca4502',
  hash: '598f10af-c955-4456-6a99-7720068a6cea',
  reserved: '0c5d99a5-d331-4147-baef-08e2b855bdc9',
  private: '440408bb-eb0b-4328-a6e5-a29038fad706',
  data: '626f7474-6c65-6474-6861-726d61726b73',
} as const;

/** The A/B selection bits of a bank's boot partition (as in Chrome OS and Bottlerocket's signpost). */
export interface GptPrio {
  /** 0..15; the highest bootable priority wins. */
  priority: number;
  /** 0..15 boot attempts left. */
  tries: number;
  successful: boolean;
}

const PRIO_MASK = (0xfn << 48n) | (0xfn << 52n) | (1n << 56n);

/** Read the gptprio bits (48–51 priority, 52–55 tries, 56 successful) of an attribute word. */
export function decodeGptPrio(attributes: bigint | string): GptPrio {
  const a = BigInt(attributes);
  return {
    priority: Number((a >> 48n) & 0xfn),
    tries: Number((a >> 52n) & 0xfn),
    successful: ((a >> 56n) & 1n) === 1n,
  };
}

/** Set the gptprio bits of an attribute word, keeping every other bit. */
export function encodeGptPrio(attributes: bigint | string, prio: GptPrio): bigint {
  for (const [k, v] of [
    ['priority', prio.priority],
    ['tries', prio.tries],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 15) {
      throw fail('GPT_BAD_PRIO', `${k} ${v} is outside 0..15`, 'Priorities and tries are 4-bit values.');
    }
  }
  return (
    (BigInt(attributes) & ~PRIO_MASK) |
    (BigInt(prio.priority) << 48n) |
    (BigInt(prio.tries) << 52n) |
    (prio.successful ? 1n << 56n : 0n)
  );
}

export interface AbLayoutOptions {
  /** Size of each bank's root (filesystem) partition. */
  rootSize: number;
  /** Size of each bank's verity hash partition. */
  hashSize: number;
  /** Each bank's boot partition; default 40 MiB. */
  bootSize?: number;
  /** Each bank's reserved partition; default 30 MiB. */
  reservedSize?: number;
  /** Shared private partition; default 20 MiB. */
  privateSize?: number;
  /** Shared data partition; default 64 MiB. */
  dataSize?: number;
  /** Label prefix; labels are `<PREFIX>-BOOT-A`, …, `<PREFIX>-PRIVATE`, `<PREFIX>-DATA`. Default `DROVER`. */
  labelPrefix?: string;
  /** Bank A's selection bits; default priority 1, tries 0, successful (filled and preferred). */
  bankA?: GptPrio;
  /** Bank B's selection bits; default all zero (empty, never picked). */
  bankB?: GptPrio;
  diskSize?: number;
  diskGuid?: string;
}

/** Labels of an A/B layout by role. */
export function abLabels(prefix = 'DROVER'): {
  boot: { a: string; b: string };
  root: { a: string; b: string };
  hash: { a: string; b: string };
  reserved: { a: string; b: string };
  private: string;
  data: string;
} {
  const bank = (role: string) => ({ a: `${prefix}-${role}-A`, b: `${prefix}-${role}-B` });
  return {
    boot: bank('BOOT'),
    root: bank('ROOT'),
    hash: bank('HASH'),
    reserved: bank('RESERVED'),
    private: `${prefix}-PRIVATE`,
    data: `${prefix}-DATA`,
  };
}

/** Bottlerocket-style A/B layout: banks A and B (boot, root, hash, reserved), then private and data. */
export function abLayout(options: AbLayoutOptions): DiskLayout {
  const labels = abLabels(options.labelPrefix);
  const bankA = options.bankA ?? { priority: 1, tries: 0, successful: true };
  const bankB = options.bankB ?? { priority: 0, tries: 0, successful: false };
  const bank = (b: 'a' | 'b', prio: GptPrio): PartitionSpec[] => [
    {
      label: labels.boot[b],
      typeGuid: BOTTLEROCKET_TYPES.boot,
      size: options.bootSize ?? 40 * MIB,
      attributes: encodeGptPrio(0n, prio),
    },
    { label: labels.root[b], typeGuid: BOTTLEROCKET_TYPES.root, size: options.rootSize },
    { label: labels.hash[b], typeGuid: BOTTLEROCKET_TYPES.hash, size: options.hashSize },
    {
      label: labels.reserved[b],
      typeGuid: BOTTLEROCKET_TYPES.reserved,
      size: options.reservedSize ?? 30 * MIB,
    },
  ];
  const layout: DiskLayout = {
    partitions: [
      ...bank('a', bankA),
      ...bank('b', bankB),
      { label: labels.private, typeGuid: BOTTLEROCKET_TYPES.private, size: options.privateSize ?? 20 * MIB },
      { label: labels.data, typeGuid: BOTTLEROCKET_TYPES.data, size: options.dataSize ?? 64 * MIB },
    ],
  };
  if (options.diskSize !== undefined) layout.size = options.diskSize;
  if (options.diskGuid !== undefined) layout.diskGuid = options.diskGuid;
  return layout;
}

// ---- Discoverable Partitions Specification ----

/** DPS architectures drover knows. */
export type DpsArch = 'x86-64' | 'arm64';

/** DPS type GUIDs per architecture. */
export const DPS_TYPES: Record<
  DpsArch,
  Record<'root' | 'root-verity' | 'root-verity-sig' | 'usr' | 'usr-verity' | 'usr-verity-sig', string>
> = {
  'x86-64': {
    root: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709',
    'root-verity': '2c7357ed-ebd2-46d9-aec1-23d437ec2bf5',
    'root-verity-sig': '41092b05-9fc8-4523-994f-2def0408b176',
    usr: '8484680c-9521-48c6-9c11-b0720656f69e',
    'usr-verity': '77ff5f63-e7b6-4633-acf4-1565b864c0e6',
    'usr-verity-sig': 'e7bb33fb-06cf-4e81-8273-e543b413e2e2',
  },
  arm64: {
    root: 'b921b045-1df0-41c3-af44-4c6f280d3fae',
    'root-verity': 'df3300ce-d69f-4c92-978c-9bfb0f38d820',
    'root-verity-sig': '6db69de6-29f4-4758-a7a5-962190f00ce3',
    usr: 'b0e01050-ee5f-4390-949a-9101b17104e9',
    'usr-verity': '6e11a4e7-fbca-4ded-b9e9-e1a512bb664e',
    'usr-verity-sig': 'c23ce4ff-44bd-4b00-b2d4-b41b3419e02a',
  },
};

/** Architecture-independent DPS type GUIDs. */
export const DPS_COMMON_TYPES = {
  esp: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
  xbootldr: 'bc13c2ff-59e6-4262-a352-b275fd6f7172',
  var: '4d21b016-b534-45c2-a9fb-5c16e091fd2d',
  linuxData: '0fc63daf-8483-4772-8e79-3d69d8477de4',
  biosBoot: '21686148-6449-6e6f-744e-656564454649',
} as const;

/** GPT attribute bit 60: mount read-only. */
export const GPT_ATTR_READ_ONLY = 1n << 60n;
/** GPT attribute bit 59: grow the filesystem to the partition. */
export const GPT_ATTR_GROWFS = 1n << 59n;
/** GPT attribute bit 63: do not mount automatically. */
export const GPT_ATTR_NO_AUTO = 1n << 63n;

const ARCH_ALIASES: Record<string, DpsArch> = {
  'x86-64': 'x86-64',
  x86_64: 'x86-64',
  amd64: 'x86-64',
  arm64: 'arm64',
  aarch64: 'arm64',
};

/** Map `amd64`, `x86_64`, `aarch64`, … to a DPS architecture; throws `GPT_UNKNOWN_ARCH`. */
export function dpsArch(arch: string): DpsArch {
  const found = ARCH_ALIASES[arch];
  if (!found) {
    const suggestion = didYouMean(arch, Object.keys(ARCH_ALIASES));
    throw new DroverError(
      'GPT_UNKNOWN_ARCH',
      `no Discoverable Partitions type GUIDs for architecture ${JSON.stringify(arch)}`,
      {
        hint: `${suggestion ? `Did you mean ${suggestion}? ` : ''}Supported: x86-64 (amd64, x86_64) and arm64 (aarch64).`,
        details: { arch },
      },
    );
  }
  return found;
}

export interface DpsLayoutOptions {
  arch: string;
  /** dm-verity root hash (hex, at least 32 bytes): partition UUIDs derive from it. */
  rootHash: string;
  /** Version for the labels `name_version`. */
  version: string;
  /** `root` (default) or `usr`. */
  kind?: 'root' | 'usr';
  /** Label base; default the kind (`root_1.2`, `root-verity_1.2`, `root-verity-sig_1.2`). */
  name?: string;
  dataSize: number;
  veritySize: number;
  /** Adds a `-verity-sig` partition of this size (e.g. 16 KiB for a signature JSON). */
  signatureSize?: number;
  /** Adds an EFI system partition first. */
  espSize?: number;
  diskSize?: number;
  diskGuid?: string;
}

/** Discoverable Partitions layout: data, verity and optional signature partitions named by version. */
export function dpsLayout(options: DpsLayoutOptions): DiskLayout {
  const arch = dpsArch(options.arch);
  const kind = options.kind ?? 'root';
  const hash = options.rootHash.toLowerCase();
  if (!/^[0-9a-f]+$/.test(hash) || hash.length < 64 || hash.length % 2 !== 0) {
    throw fail(
      'GPT_BAD_ROOT_HASH',
      `root hash ${JSON.stringify(options.rootHash)} is not a hex hash of at least 256 bits`,
      'Pass the dm-verity root hash as printed by veritysetup format (hex).',
    );
  }
  if (options.version.length === 0 || /[\s_]/.test(options.version)) {
    throw fail(
      'GPT_BAD_VERSION',
      `version ${JSON.stringify(options.version)} cannot go into a label`,
      'Use a non-empty version without spaces or underscores, e.g. 1.4.2.',
    );
  }
  const asGuid = (hex: string): string =>
    `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
  const name = options.name ?? kind;
  const types = DPS_TYPES[arch];
  const partitions: PartitionSpec[] = [];
  if (options.espSize !== undefined) {
    partitions.push({ label: 'esp', typeGuid: DPS_COMMON_TYPES.esp, size: options.espSize });
  }
  partitions.push(
    {
      label: `${name}_${options.version}`,
      typeGuid: types[kind],
      uuid: asGuid(hash.slice(0, 32)),
      size: options.dataSize,
      attributes: GPT_ATTR_READ_ONLY,
    },
    {
      label: `${name}-verity_${options.version}`,
      typeGuid: types[`${kind}-verity`],
      uuid: asGuid(hash.slice(-32)),
      size: options.veritySize,
      attributes: GPT_ATTR_READ_ONLY,
    },
  );
  if (options.signatureSize !== undefined) {
    partitions.push({
      label: `${name}-verity-sig_${options.version}`,
      typeGuid: types[`${kind}-verity-sig`],
      uuid: deriveGuid(`drover-verity-sig:${hash}`),
      size: options.signatureSize,
      attributes: GPT_ATTR_READ_ONLY,
    });
  }
  const layout: DiskLayout = { partitions };
  if (options.diskSize !== undefined) layout.size = options.diskSize;
  if (options.diskGuid !== undefined) layout.diskGuid = options.diskGuid;
  return layout;
}
