import { open, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import {
  type Context,
  type DigestString,
  DroverError,
  digestFile,
  type ImageRecord,
  throwIfAborted,
  toDroverError,
} from '@drover/core';
import { readVeritySuperblock, type VerityDump } from '@drover/verity';
import { readErofsSuperblock } from '../erofs/superblock.js';
import { readDisk } from '../gpt/disk.js';
import {
  BOTTLEROCKET_TYPES,
  DPS_COMMON_TYPES,
  DPS_TYPES,
  decodeGptPrio,
  type GptPrio,
} from '../gpt/layout.js';

/** Options for {@link inspectImageFile}. */
export interface InspectImageFileOptions {
  /** A disk image, a filesystem image, an `image.json` record or a build output directory. */
  path: string;
  /** For records: also hash every artifact present and compare with the record (sizes are always checked). */
  verify?: boolean;
}

/** A filesystem found by its superblock. */
export interface FilesystemInfo {
  type: 'erofs' | 'squashfs' | 'ext2' | 'ext3' | 'ext4';
  /** Bytes the filesystem occupies (from its superblock). */
  size: number;
  blockSize: number;
  uuid?: string;
  label?: string;
  inodes?: number;
  /** squashfs compression (`gzip`, `xz`, `zstd`, …). */
  compression?: string;
  /** Filesystem creation time recorded in the superblock, RFC 3339. */
  created?: string;
}

/** A dm-verity hash device's superblock (`veritysetup dump`). */
export type VerityInfo = VerityDump;

/** One GPT partition, decoded. */
export interface PartitionInspection {
  number: number;
  label: string;
  typeGuid: string;
  /** What the type GUID means (`bottlerocket-root`, `dps-root-x86-64`, `esp`, …), when known. */
  typeName?: string;
  uuid: string;
  offset: number;
  size: number;
  /** The raw attribute word (decimal string) and the bits drover knows. */
  attributes: string;
  flags: string[];
  /** Bottlerocket/Chrome OS A/B bits (48–51 priority, 52–55 tries, 56 successful), when set or on a boot partition. */
  gptprio?: GptPrio;
  /** What the partition holds, read from its first blocks. */
  content: 'empty' | 'filesystem' | 'verity' | 'unknown';
  filesystem?: FilesystemInfo;
  verity?: VerityInfo;
}

/** A whole disk's GPT and partitions. */
export interface DiskInspection {
  diskGuid: string;
  sectorSize: number;
  tableSource: 'primary' | 'backup';
  primaryValid: boolean;
  backupValid: boolean;
  partitions: PartitionInspection[];
}

/** How an artifact listed in a record compares with the file next to it. */
export interface ArtifactCheck {
  name: string;
  path: string;
  size: number;
  digest: DigestString;
  mediaType: string;
  /** `unchecked`: present with the right size, digest not computed (no `verify`). */
  status: 'ok' | 'unchecked' | 'missing' | 'size-mismatch' | 'digest-mismatch';
  actualSize?: number;
  actualDigest?: DigestString;
}

/** What {@link inspectImageFile} found (shape owned by the report lane; documented in docs/sbom.md). */
export interface ImageInspectionReport {
  kind: 'disk' | 'filesystem' | 'verity' | 'record';
  path: string;
  size: number;
  record?: ImageRecord;
  /** Record summary: the root hash of its verity data. */
  rootHash?: string;
  disk?: DiskInspection;
  filesystem?: FilesystemInfo;
  verity?: VerityInfo;
  /** Records: each artifact's state. */
  artifacts?: ArtifactCheck[];
  /** False when the disk's tables are damaged or an artifact is missing or differs. */
  ok: boolean;
  problems: string[];
}

const TYPE_NAMES = new Map<string, string>();
for (const [k, v] of Object.entries(BOTTLEROCKET_TYPES)) TYPE_NAMES.set(v, `bottlerocket-${k}`);
for (const [arch, types] of Object.entries(DPS_TYPES)) {
  for (const [k, v] of Object.entries(types)) TYPE_NAMES.set(v, `dps-${k}-${arch}`);
}
const COMMON: Record<string, string> = {
  esp: 'esp',
  xbootldr: 'xbootldr',
  var: 'dps-var',
  linuxData: 'linux-data',
  biosBoot: 'bios-boot',
};
for (const [k, v] of Object.entries(DPS_COMMON_TYPES)) TYPE_NAMES.set(v, COMMON[k] ?? k);

const ATTRIBUTE_BITS: [bigint, string][] = [
  [0n, 'required'],
  [1n, 'no-block-io'],
  [2n, 'legacy-bios-bootable'],
  [59n, 'growfs'],
  [60n, 'read-only'],
  [62n, 'hidden'],
  [63n, 'no-auto'],
];

const SQUASHFS_COMPRESSION: Record<number, string> = {
  1: 'gzip',
  2: 'lzma',
  3: 'lzo',
  4: 'xz',
  5: 'lz4',
  6: 'zstd',
};

async function readHead(path: string, offset: number, length: number): Promise<Buffer> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, 'r');
    const buf = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } catch (error) {
    throw toDroverError(error, `reading ${path}`);
  } finally {
    await handle?.close();
  }
}

function plainUuid(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const cstring = (bytes: Buffer): string => {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8');
};

/** Identify what starts at `offset` of `path` from its first 4 KiB: a filesystem, a verity superblock, zeros. */
async function probe(
  path: string,
  offset: number,
  ctx: Context,
): Promise<{ content: PartitionInspection['content']; filesystem?: FilesystemInfo; verity?: VerityInfo }> {
  const head = await readHead(path, offset, 4096);
  if (head.length >= 1024 + 128 && head.readUInt32LE(1024) === 0xe0f5e1e2) {
    const sb = await readErofsSuperblock({ path, offset }, ctx);
    return {
      content: 'filesystem',
      filesystem: {
        type: 'erofs',
        size: sb.size,
        blockSize: sb.blockSize,
        uuid: sb.uuid,
        ...(sb.volumeName ? { label: sb.volumeName } : {}),
        inodes: sb.inodes,
        created: new Date(sb.buildTime.sec * 1000).toISOString(),
      },
    };
  }
  if (head.length >= 96 && head.subarray(0, 4).toString('latin1') === 'hsqs') {
    const compression = head.readUInt16LE(20);
    return {
      content: 'filesystem',
      filesystem: {
        type: 'squashfs',
        size: Number(head.readBigUInt64LE(40)),
        blockSize: head.readUInt32LE(12),
        inodes: head.readUInt32LE(4),
        compression: SQUASHFS_COMPRESSION[compression] ?? `unknown (${compression})`,
        created: new Date(head.readUInt32LE(8) * 1000).toISOString(),
      },
    };
  }
  if (head.length >= 2048 && head.readUInt16LE(1024 + 0x38) === 0xef53) {
    const sb = head.subarray(1024, 2048);
    const blockSize = 1024 << sb.readUInt32LE(0x18);
    const compat = sb.readUInt32LE(0x5c);
    const incompat = sb.readUInt32LE(0x60);
    const blocks = sb.readUInt32LE(0x04) + (incompat & 0x80 ? sb.readUInt32LE(0x150) * 2 ** 32 : 0);
    const type = incompat & (0x40 | 0x80 | 0x200) ? 'ext4' : compat & 0x4 ? 'ext3' : 'ext2';
    const label = cstring(sb.subarray(0x78, 0x88));
    const mkfsTime = sb.readUInt32LE(0x108);
    return {
      content: 'filesystem',
      filesystem: {
        type,
        size: blocks * blockSize,
        blockSize,
        uuid: plainUuid(sb.subarray(0x68, 0x78)),
        ...(label ? { label } : {}),
        inodes: sb.readUInt32LE(0x00),
        ...(mkfsTime ? { created: new Date(mkfsTime * 1000).toISOString() } : {}),
      },
    };
  }
  if (head.length >= 8 && head.subarray(0, 8).equals(Buffer.from('verity\0\0', 'latin1'))) {
    return {
      content: 'verity',
      verity: await readVeritySuperblock({ hashPath: path, hashOffset: offset }, ctx),
    };
  }
  if (head.every((b) => b === 0)) return { content: 'empty' };
  return { content: 'unknown' };
}

async function inspectDisk(
  path: string,
  ctx: Context,
): Promise<{ disk: DiskInspection; problems: string[] }> {
  const info = await readDisk({ path }, ctx);
  const partitions: PartitionInspection[] = [];
  for (const p of info.partitions) {
    throwIfAborted(ctx);
    const attrs = BigInt(p.attributes);
    const flags = ATTRIBUTE_BITS.filter(([bit]) => (attrs >> bit) & 1n).map(([, name]) => name);
    const typeName = TYPE_NAMES.get(p.typeGuid);
    const prioBits = (attrs >> 48n) & 0x1ffn;
    const found = await probe(path, p.offset, ctx);
    partitions.push({
      number: p.number,
      label: p.label,
      typeGuid: p.typeGuid,
      ...(typeName ? { typeName } : {}),
      uuid: p.uuid,
      offset: p.offset,
      size: p.size,
      attributes: p.attributes,
      flags,
      ...(prioBits !== 0n || typeName === 'bottlerocket-boot' ? { gptprio: decodeGptPrio(attrs) } : {}),
      ...found,
    });
  }
  return {
    disk: {
      diskGuid: info.diskGuid,
      sectorSize: info.sectorSize,
      tableSource: info.source,
      primaryValid: info.primaryValid,
      backupValid: info.backupValid,
      partitions,
    },
    problems: info.problems,
  };
}

function badRecord(path: string, why: string, cause?: unknown): DroverError {
  return new DroverError('IMAGE_RECORD_INVALID', `${path} is not a drover image record: ${why}`, {
    kind: 'input',
    hint: 'Pass the image.json a `drover build` wrote (or its output directory).',
    details: { path },
    ...(cause ? { cause } : {}),
  });
}

/** Read and check the shape of an `image.json`. */
export async function readImageRecord(path: string): Promise<ImageRecord> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DroverError('IMAGE_RECORD_NOT_FOUND', `no image record at ${path}`, {
        kind: 'not-found',
        hint: 'Pass a build output directory (it holds image.json) or the path of an image.json.',
        details: { path },
      });
    }
    throw toDroverError(error, `reading ${path}`);
  }
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (error) {
    throw badRecord(path, 'it is not valid JSON', error);
  }
  const r = record as Partial<ImageRecord> | null;
  if (!r || typeof r !== 'object') throw badRecord(path, 'not a JSON object');
  if (r.schemaVersion !== 1) {
    throw new DroverError(
      'IMAGE_RECORD_VERSION',
      `${path} has schemaVersion ${JSON.stringify(r.schemaVersion)}; this drover reads version 1`,
      {
        kind: 'input',
        hint: 'Use the drover version that built the image, or rebuild it.',
        details: { path },
      },
    );
  }
  if (typeof r.name !== 'string' || typeof r.version !== 'string')
    throw badRecord(path, 'name/version missing');
  if (!Array.isArray(r.artifacts)) throw badRecord(path, '`artifacts` is not a list');
  for (const a of r.artifacts) {
    if (!a || typeof a.name !== 'string' || typeof a.path !== 'string' || typeof a.digest !== 'string') {
      throw badRecord(path, 'an artifact lacks name, path or digest');
    }
  }
  return r as ImageRecord;
}

/** Where an artifact lives: relative to the record's directory; absolute paths and `..` escapes are refused. */
export function artifactPath(recordDir: string, relative: string): string {
  if (isAbsolute(relative) || relative.split(/[\\/]/).includes('..')) {
    throw new DroverError('IMAGE_ARTIFACT_PATH', `artifact path ${relative} leaves the output directory`, {
      kind: 'integrity',
      hint: 'Image records list artifacts relative to the directory of image.json.',
      details: { path: relative },
    });
  }
  return join(recordDir, relative);
}

/** Resolve a build output directory or an image.json path to the record's path. */
export async function recordPathOf(path: string): Promise<string> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DroverError('IMAGE_NOT_FOUND', `${path} does not exist`, {
        kind: 'not-found',
        hint: 'Pass a build output directory, its image.json, a disk image or a filesystem image.',
        details: { path },
      });
    }
    throw toDroverError(error, `reading ${path}`);
  }
  return st.isDirectory() ? join(path, 'image.json') : path;
}

async function checkArtifacts(
  record: ImageRecord,
  dir: string,
  verify: boolean,
  ctx: Context,
): Promise<ArtifactCheck[]> {
  const out: ArtifactCheck[] = [];
  for (const a of record.artifacts) {
    throwIfAborted(ctx);
    const base = { name: a.name, path: a.path, size: a.size, digest: a.digest, mediaType: a.mediaType };
    const file = artifactPath(dir, a.path);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch {
      out.push({ ...base, status: 'missing' });
      continue;
    }
    if (size !== a.size) {
      out.push({ ...base, status: 'size-mismatch', actualSize: size });
      continue;
    }
    if (!verify) {
      out.push({ ...base, status: 'unchecked' });
      continue;
    }
    const algorithm = a.digest.startsWith('sha512:') ? 'sha512' : 'sha256';
    const actual = (await digestFile(file, { algorithm }, ctx)).digest;
    out.push(
      actual === a.digest
        ? { ...base, status: 'ok' }
        : { ...base, status: 'digest-mismatch', actualDigest: actual },
    );
  }
  return out;
}

async function isJsonFile(path: string): Promise<boolean> {
  if (path.endsWith('.json')) return true;
  const head = await readHead(path, 0, 64);
  return /^\s*\{/.test(head.toString('latin1'));
}

/** Describe an image from the disk itself (partitions, filesystem, verity) or from its record. */
export async function inspectImageFile(
  options: InspectImageFileOptions,
  ctx: Context = {},
): Promise<ImageInspectionReport> {
  throwIfAborted(ctx);
  const path = resolve(options.path);
  const target = await recordPathOf(path);
  const size = (await stat(target).catch(() => ({ size: 0 }))).size;

  if (target !== path || (await isJsonFile(path))) {
    const record = await readImageRecord(target);
    const dir = dirname(target);
    const artifacts = await checkArtifacts(record, dir, options.verify ?? false, ctx);
    const problems = artifacts
      .filter((a) => a.status !== 'ok' && a.status !== 'unchecked')
      .map((a) =>
        a.status === 'missing'
          ? `artifact ${a.name} (${a.path}) is missing`
          : a.status === 'size-mismatch'
            ? `artifact ${a.name} (${a.path}) is ${a.actualSize} bytes, the record says ${a.size}`
            : `artifact ${a.name} (${a.path}) has digest ${a.actualDigest}, the record says ${a.digest}`,
      );
    const report: ImageInspectionReport = {
      kind: 'record',
      path: target,
      size,
      record,
      ...(record.verity?.rootHash ? { rootHash: record.verity.rootHash } : {}),
      artifacts,
      ok: problems.length === 0,
      problems,
    };
    const present = (name: string) => artifacts.find((a) => a.name === name && a.status !== 'missing');
    // The artifacts' own superblocks; a failure to read one is reported, not thrown (the record still inspects).
    const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await fn();
      } catch (error) {
        report.problems.push(`${what}: ${(error as Error).message}`);
        return undefined;
      }
    };
    const disk = present('disk');
    if (disk) {
      const inspected = await attempt(`disk artifact ${disk.path}`, () =>
        inspectDisk(artifactPath(dir, disk.path), ctx),
      );
      if (inspected) {
        report.disk = inspected.disk;
        report.problems.push(...inspected.problems);
      }
    }
    const root = present('root');
    if (root) {
      const found = await attempt(`root artifact ${root.path}`, () =>
        probe(artifactPath(dir, root.path), 0, ctx),
      );
      if (found?.filesystem) report.filesystem = found.filesystem;
    }
    const hash = present('root-verity');
    if (hash && record.verity?.superblock !== false) {
      const found = await attempt(`root-verity artifact ${hash.path}`, () =>
        probe(artifactPath(dir, hash.path), record.verity?.hashOffset ?? 0, ctx),
      );
      if (found?.verity) report.verity = found.verity;
    }
    report.ok = report.problems.length === 0;
    return report;
  }

  const head = await readHead(path, 512, 8);
  if (head.toString('latin1') === 'EFI PART') {
    const { disk, problems } = await inspectDisk(path, ctx);
    return { kind: 'disk', path, size, disk, ok: problems.length === 0, problems };
  }
  const found = await probe(path, 0, ctx);
  if (found.filesystem)
    return { kind: 'filesystem', path, size, filesystem: found.filesystem, ok: true, problems: [] };
  if (found.verity) return { kind: 'verity', path, size, verity: found.verity, ok: true, problems: [] };
  // A disk whose primary header is damaged: readDisk falls back to the backup copy.
  const disk = await inspectDisk(path, ctx).catch(() => undefined);
  if (disk) return { kind: 'disk', path, size, disk: disk.disk, ok: false, problems: disk.problems };
  throw new DroverError(
    'IMAGE_UNKNOWN_FORMAT',
    `${path} is not a disk image, filesystem image or image record`,
    {
      kind: 'input',
      hint: 'drover recognizes GPT disks, EROFS/squashfs/ext4 filesystems, dm-verity hash files and image.json.',
      details: { path },
    },
  );
}
