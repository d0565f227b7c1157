import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import {
  type Context,
  type DigestString,
  DroverError,
  fileIdentity,
  type HashSession,
  type PartitionRecord,
  sharedWorkerHasher,
  startProgress,
  throwIfAborted,
  toDroverError,
  WorkerHasher,
  writeAtomically,
} from '@drover/core';
import { crc32 } from '../crc.js';
import {
  type DiskLayout,
  type DiskPlan,
  decodeGptPrio,
  encodeGptPrio,
  type GptPrio,
  planDisk,
  tableOfPlan,
} from './layout.js';
import { decodeEntries, decodeHeader, encodeGpt, type GptHeader, resealHeader, SECTOR } from './table.js';

/** Partition content: a file path, bytes, or a callback opening a stream. */
export type PartitionSource = string | Uint8Array | (() => ChunkSource | Promise<ChunkSource>);

/** A stream of bytes: a Node `Readable`, any async iterable of chunks, or an array of chunks. */
export type ChunkSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface WriteDiskOptions {
  output: string;
  layout: DiskLayout;
  /** Content per partition label; partitions without content stay zero (holes in the file). */
  contents?: Record<string, PartitionSource>;
  /**
   * Also compute the SHA-256 of the whole disk file while writing it (zeros included, on a worker thread, with
   * no read-back): `DiskResult.digest`. A {@link DiskDigest} from {@link startDiskDigest} is continued (or, if
   * the layout or contents differ from what it started with, dropped and started over). Default false.
   */
  digest?: boolean | DiskDigest;
  /**
   * Content digests the caller already knows (per label, e.g. from its own build cache), so that content is
   * not hashed a second time; they are trusted and copied into the result as they are.
   */
  knownDigests?: Record<string, { digest: DigestString; size: number }>;
}

/** What {@link writeDisk} wrote; `partitions` fill `ImageRecord.partitions`. */
export interface DiskResult extends DiskPlan {
  path: string;
  /** SHA-256 of the whole disk file, when `digest` was asked for. */
  digest?: DigestString;
  /** Each partition with content carries the SHA-256 of the content written (not of the zero padding). */
  partitions: (PartitionRecord & { attributes: string; contentSize?: number })[];
}

const CHUNK = 1 << 20;
const ZEROS = Buffer.alloc(CHUNK);

async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

async function openSource(source: PartitionSource): Promise<ChunkSource> {
  if (typeof source === 'string') return createReadStream(source, { highWaterMark: CHUNK });
  if (source instanceof Uint8Array) return [source];
  return source();
}

/**
 * The whole-disk SHA-256 of a planned disk, fed in offset order: the tables, each partition's content (read by
 * the hashing worker from the source file itself) and the gaps as runs of zeros, never read back from a file.
 */
export class DiskDigest {
  readonly plan: DiskPlan;
  readonly #key: string;
  readonly #gpt: ReturnType<typeof encodeGpt>;
  readonly #own: WorkerHasher | undefined;
  readonly #session: HashSession;
  readonly #fed = new Map<string, string | undefined>();
  /** Identity (dev, inode, size, mtime, ctime) of each file hashed, to notice a file changed since. */
  readonly #identities = new Map<string, string>();
  readonly #handles: FileHandle[] = [];
  #hashedTo = 0;
  #done = false;

  /** `worker`: a hasher of its own (closed by {@link dispose}); default: the shared pool. */
  constructor(plan: DiskPlan, worker?: WorkerHasher) {
    this.plan = plan;
    this.#key = JSON.stringify(plan);
    this.#gpt = encodeGpt(tableOfPlan(plan));
    this.#own = worker;
    this.#session = (worker ?? sharedWorkerHasher()).session('sha256');
  }

  /** Bytes hashed so far (the offset the next bytes start at). */
  get hashedTo(): number {
    return this.#hashedTo;
  }

  /** True when `label`'s content was hashed already (from `source`, when one is given). */
  fed(label: string, source?: PartitionSource): boolean {
    return this.#fed.has(label) && (source === undefined || this.#fed.get(label) === source);
  }

  /**
   * Whether this digest can continue for `plan` with these contents: the same table, the same files (unchanged
   * since they were hashed), and nothing hashed yet where the contents put something else.
   */
  async fits(plan: DiskPlan, contents: Record<string, PartitionSource>): Promise<boolean> {
    if (this.#done || JSON.stringify(plan) !== this.#key) return false;
    for (const label of this.#fed.keys()) if (contents[label] !== this.#fed.get(label)) return false;
    for (const [label, identity] of this.#identities) {
      const now = await stat(contents[label] as string, { bigint: true }).catch(() => undefined);
      if (!now || fileIdentity(now) !== identity) return false;
    }
    return plan.partitions.every(
      (p) => contents[p.label] === undefined || this.#fed.has(p.label) || p.offset >= this.#hashedTo,
    );
  }

  /** Hash the protective MBR and the primary table. */
  async tables(): Promise<void> {
    await this.#session.update(Uint8Array.from(this.#gpt.mbr));
    this.#hashedTo = this.#gpt.mbr.length;
    this.zerosTo(SECTOR);
    await this.#session.update(Uint8Array.from(this.#gpt.primary));
    this.#hashedTo = SECTOR + this.#gpt.primary.length;
  }

  /** Hash zeros up to `offset`. */
  zerosTo(offset: number): void {
    this.#session.updateZeros(offset - this.#hashedTo);
    this.#hashedTo = Math.max(this.#hashedTo, offset);
  }

  /** Hash a partition's content from the open file `handle` (kept open until the digest is done). */
  fromFile(
    label: string,
    source: string,
    handle: FileHandle,
    size: number,
    own = false,
    identity?: string,
  ): void {
    const part = this.plan.partitions.find((p) => p.label === label)!;
    if (identity !== undefined) this.#identities.set(label, identity);
    this.zerosTo(part.offset);
    this.#session.updateFromFile(handle.fd, 0, size);
    this.#hashedTo += size;
    this.#fed.set(label, source);
    if (own) this.#handles.push(handle);
  }

  /** Hash the next bytes of a partition's content (copied). */
  async bytes(chunk: Uint8Array): Promise<void> {
    await this.#session.update(Uint8Array.from(chunk));
    this.#hashedTo += chunk.length;
  }

  /** Mark `label` as fed (its bytes went through {@link bytes}). */
  markFed(label: string): void {
    this.#fed.set(label, undefined);
  }

  /** Hash the backup table and the zeros around it; the digest of the whole disk. */
  async finish(): Promise<DigestString> {
    this.zerosTo(this.#gpt.backupOffset);
    await this.#session.update(Uint8Array.from(this.#gpt.backup));
    this.#hashedTo = this.#gpt.backupOffset + this.#gpt.backup.length;
    this.zerosTo(this.plan.size);
    this.#done = true;
    return `sha256:${await this.#session.digest()}`;
  }

  /** Stop (if not finished) and release the files and the worker of its own. */
  async dispose(): Promise<void> {
    if (this.#own)
      await this.#own.close(); // a worker of its own just stops, even mid-file
    else if (!this.#done) await this.#session.cancel();
    this.#done = true;
    await Promise.all(this.#handles.splice(0).map((h) => h.close()));
  }
}

export interface StartDiskDigestOptions {
  layout: DiskLayout;
  /** The partition contents that exist already (file paths). */
  contents: Record<string, string>;
  /** Stop before the first of these partitions: their content comes later, to `writeDisk`. */
  until?: string[];
}

/**
 * Start the whole-disk digest of a disk before all of its content exists (e.g. while the hash tree is still
 * being computed), on a worker of its own. Pass the result to `writeDisk` as `digest`: it continues from
 * where this got to when the layout and contents match, and starts over otherwise.
 */
export async function startDiskDigest(options: StartDiskDigestOptions): Promise<DiskDigest> {
  const plan = planDisk(options.layout);
  const digest = new DiskDigest(plan, new WorkerHasher());
  try {
    await digest.tables();
    const until = new Set(options.until ?? []);
    for (const part of [...plan.partitions].sort((a, b) => a.offset - b.offset)) {
      if (until.has(part.label)) {
        digest.zerosTo(part.offset);
        break;
      }
      const source = options.contents[part.label];
      if (source === undefined) continue;
      const handle = await open(source, 'r');
      const stats = await handle.stat({ bigint: true }).catch(async (error) => {
        await handle.close();
        throw error;
      });
      const size = Number(stats.size);
      digest.fromFile(part.label, source, handle, Math.min(size, part.size), true, fileIdentity(stats));
    }
    return digest;
  } catch (error) {
    await digest.dispose();
    throw toDroverError(error, 'starting the disk digest');
  }
}

/**
 * Write a GPT disk image: protective MBR, both tables, and each partition's content at its offset.
 * Sparse-friendly: the file is sized with ftruncate and all-zero chunks are skipped.
 */
export async function writeDisk(options: WriteDiskOptions, ctx: Context = {}): Promise<DiskResult> {
  throwIfAborted(ctx);
  const plan = planDisk(options.layout);
  const contents = options.contents ?? {};
  const byLabel = new Map(plan.partitions.map((p) => [p.label, p]));
  for (const label of Object.keys(contents)) {
    if (!byLabel.has(label)) {
      throw new DroverError(
        'GPT_UNKNOWN_PARTITION',
        `content given for ${JSON.stringify(label)}, which the layout does not have`,
        {
          hint: `Partitions: ${[...byLabel.keys()].join(', ')}.`,
          kind: 'usage',
        },
      );
    }
  }
  let total = 0;
  for (const [label, source] of Object.entries(contents)) {
    const part = byLabel.get(label)!;
    let size: number | undefined;
    if (typeof source === 'string')
      size = (await stat(source).catch((e) => Promise.reject(toDroverError(e, 'partition content')))).size;
    else if (source instanceof Uint8Array) size = source.length;
    if (size !== undefined) {
      if (size > part.size) throw tooLarge(label, size, part.size);
      total += size;
    }
  }
  const progress = startProgress(ctx, {
    task: `image.disk:${options.output}`,
    label: 'writing disk image',
    unit: 'bytes',
    total,
  });
  try {
    const digests = new Map<string, { digest: DigestString; size: number }>();
    // The whole-disk digest is fed in offset order as the disk is written (see DiskDigest), or continued from
    // one started earlier with startDiskDigest.
    let feed: DiskDigest | undefined;
    const given = options.digest instanceof DiskDigest ? options.digest : undefined;
    if (given && (await given.fits(plan, contents))) feed = given;
    else {
      await given?.dispose();
      if (options.digest) feed = new DiskDigest(plan);
    }
    const sourceHandles: FileHandle[] = [];
    let diskDigest: DigestString | undefined;
    try {
      if (feed && feed !== given) await feed.tables();
      await writeAtomically(options.output, async (temporary) => {
        const handle = await open(temporary, 'w');
        try {
          await handle.truncate(plan.size);
          const gpt = encodeGpt(tableOfPlan(plan));
          await writeAll(handle, gpt.mbr, 0);
          await writeAll(handle, gpt.primary, SECTOR);
          const ordered = [...plan.partitions].sort((a, b) => a.offset - b.offset);
          for (const part of ordered) {
            const source = contents[part.label];
            if (source === undefined) continue;
            throwIfAborted(ctx);
            let known = options.knownDigests?.[part.label];
            const hashHere = feed !== undefined && !feed.fed(part.label, source);
            let chunks: ChunkSource;
            let onChunk: ((chunk: Uint8Array) => Promise<void>) | undefined;
            let expectSize: number | undefined;
            if (typeof source === 'string') {
              const file = await open(source, 'r').catch((e) =>
                Promise.reject(toDroverError(e, 'partition content')),
              );
              sourceHandles.push(file);
              const { size } = await file.stat();
              if (size > part.size) throw tooLarge(part.label, size, part.size);
              if (known !== undefined && known.size !== size) known = undefined; // not what it claims: hash it
              if (hashHere) feed!.fromFile(part.label, source, file, size);
              expectSize = size;
              // exactly the bytes the digest covers, even if the file grew since
              chunks =
                size === 0
                  ? []
                  : file.createReadStream({
                      start: 0,
                      end: size - 1,
                      highWaterMark: CHUNK,
                      autoClose: false,
                    });
            } else {
              chunks = await openSource(source);
              if (hashHere) {
                feed!.zerosTo(part.offset);
                onChunk = (chunk) => feed!.bytes(chunk);
              }
            }
            const copied = await copyInto(
              handle,
              part,
              chunks,
              known === undefined,
              onChunk,
              (n) => progress.advance(n),
              ctx,
            );
            if (onChunk) feed!.markFed(part.label);
            if (expectSize !== undefined && copied.size !== expectSize) {
              throw new DroverError(
                'GPT_CONTENT_CHANGED',
                `${source as string} shrank from ${expectSize} to ${copied.size} bytes while it was copied`,
                {
                  kind: 'io',
                  hint: 'Make sure nothing else writes to the partition content files, and retry.',
                },
              );
            }
            digests.set(part.label, known ?? copied);
          }
          await writeAll(handle, gpt.backup, gpt.backupOffset);
          if (feed) diskDigest = await feed.finish();
        } finally {
          await handle.close();
        }
      });
    } finally {
      await feed?.dispose();
      await Promise.all(sourceHandles.map((h) => h.close()));
    }
    progress.done(true);
    return {
      ...plan,
      path: options.output,
      ...(diskDigest === undefined ? {} : { digest: diskDigest }),
      partitions: plan.partitions.map((p) => {
        const d = digests.get(p.label);
        return d ? { ...p, digest: d.digest, contentSize: d.size } : { ...p };
      }),
    };
  } catch (error) {
    progress.done(false);
    throwIfAborted(ctx);
    throw toDroverError(error, `writing disk ${options.output}`);
  }
}

function tooLarge(label: string, size: number, capacity: number): DroverError {
  return new DroverError(
    'GPT_CONTENT_TOO_LARGE',
    `content for ${label} is ${size} bytes; the partition holds ${capacity}`,
    {
      hint: 'Make the partition larger in the layout.',
      details: { label, size, capacity },
    },
  );
}

async function copyInto(
  handle: FileHandle,
  part: PartitionRecord,
  source: ChunkSource,
  hashContent: boolean,
  onChunk: ((chunk: Uint8Array) => Promise<void>) | undefined,
  advance: (n: number) => void,
  ctx: Context,
): Promise<{ digest: DigestString; size: number }> {
  const hash = hashContent ? createHash('sha256') : undefined;
  let written = 0;
  for await (const chunk of source) {
    throwIfAborted(ctx);
    if (written + chunk.length > part.size) throw tooLarge(part.label, written + chunk.length, part.size);
    hash?.update(chunk);
    await onChunk?.(chunk);
    // Skip all-zero stretches: the file was truncated to size, so holes already read as zeros.
    for (let off = 0; off < chunk.length; off += CHUNK) {
      const piece = chunk.subarray(off, Math.min(chunk.length, off + CHUNK));
      if (
        !Buffer.from(piece.buffer, piece.byteOffset, piece.length).equals(ZEROS.subarray(0, piece.length))
      ) {
        await writeAll(handle, piece, part.offset + written + off);
      }
    }
    written += chunk.length;
    advance(chunk.length);
  }
  return { digest: `sha256:${hash?.digest('hex') ?? ''}`, size: written };
}

// ---- Reading ----

/** A disk's partition table as read back. */
export interface DiskInfo {
  path: string;
  size: number;
  sectorSize: 512;
  diskGuid: string;
  firstUsableLba: number;
  lastUsableLba: number;
  partitions: (PartitionRecord & { attributes: string })[];
  /** Which copy the partitions were read from. */
  source: 'primary' | 'backup';
  primaryValid: boolean;
  backupValid: boolean;
  /** Human-readable problems (damaged copy, disk size mismatch); empty when all is well. */
  problems: string[];
}

export interface ReadDiskOptions {
  path: string;
}

interface LoadedCopy {
  header: GptHeader;
  headerSector: Buffer;
  headerOffset: number;
  entries: Buffer;
  entriesOffset: number;
}

async function readAt(handle: FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buf.subarray(0, done);
}

async function loadCopy(handle: FileHandle, lba: number, size: number): Promise<LoadedCopy | string> {
  if ((lba + 1) * SECTOR > size) return 'header beyond the end of the disk';
  const sector = await readAt(handle, SECTOR, lba * SECTOR);
  const header = decodeHeader(sector);
  if (typeof header === 'string') return header;
  if (header.myLba !== lba) return `header says it is at LBA ${header.myLba}, found at ${lba}`;
  const length = header.entryCount * header.entrySize;
  const entriesOffset = header.entriesLba * SECTOR;
  if (entriesOffset + length > size) return 'entry array beyond the end of the disk';
  const entries = await readAt(handle, length, entriesOffset);
  if (crc32(entries) !== header.entriesCrc) return 'entry array CRC32 mismatch';
  return { header, headerSector: sector, headerOffset: lba * SECTOR, entries, entriesOffset };
}

async function loadTables(
  path: string,
  mode: 'r' | 'r+',
): Promise<{ handle: FileHandle; size: number; primary: LoadedCopy | string; backup: LoadedCopy | string }> {
  let handle: FileHandle;
  try {
    handle = await open(path, mode);
  } catch (error) {
    throw toDroverError(error, `opening disk ${path}`);
  }
  try {
    const { size } = await handle.stat();
    const primary = await loadCopy(handle, 1, size);
    const backupLba =
      typeof primary === 'string' ? Math.floor(size / SECTOR) - 1 : primary.header.alternateLba;
    let backup = await loadCopy(handle, backupLba, size);
    if (typeof backup === 'string' && backupLba !== Math.floor(size / SECTOR) - 1) {
      backup = await loadCopy(handle, Math.floor(size / SECTOR) - 1, size);
    }
    return { handle, size, primary, backup };
  } catch (error) {
    await handle.close();
    throw toDroverError(error, `reading disk ${path}`);
  }
}

function noGpt(path: string, primary: string, backup: string): DroverError {
  return new DroverError(
    'GPT_NOT_FOUND',
    `${path} has no valid GPT (primary: ${primary}; backup: ${backup})`,
    {
      kind: 'integrity',
      hint: 'Check that this is a whole-disk image written by drover or a GPT tool; `sgdisk -v` shows details.',
      details: { path, primary, backup },
    },
  );
}

function infoOf(
  path: string,
  size: number,
  primary: LoadedCopy | string,
  backup: LoadedCopy | string,
): DiskInfo {
  const use = typeof primary !== 'string' ? primary : typeof backup !== 'string' ? backup : undefined;
  if (!use) throw noGpt(path, primary as string, backup as string);
  const problems: string[] = [];
  if (typeof primary === 'string') problems.push(`primary GPT is damaged: ${primary}`);
  if (typeof backup === 'string') problems.push(`backup GPT is damaged: ${backup}`);
  if (typeof primary !== 'string' && typeof backup !== 'string' && !primary.entries.equals(backup.entries)) {
    problems.push('primary and backup entry arrays differ');
  }
  const lastLba = Math.floor(size / SECTOR) - 1;
  if (use.header.myLba === 1 && use.header.alternateLba !== lastLba) {
    problems.push(
      `backup header expected at LBA ${lastLba} but the primary points to ${use.header.alternateLba}`,
    );
  }
  const h = use.header;
  return {
    path,
    size,
    sectorSize: SECTOR,
    diskGuid: h.diskGuid,
    firstUsableLba: h.firstUsableLba,
    lastUsableLba: h.lastUsableLba,
    partitions: decodeEntries(use.entries, h.entryCount, h.entrySize).map((e) => ({
      number: e.number,
      label: e.name,
      typeGuid: e.typeGuid,
      uuid: e.uuid,
      offset: e.firstLba * SECTOR,
      size: (e.lastLba - e.firstLba + 1) * SECTOR,
      attributes: e.attributes.toString(),
    })),
    source: use === primary ? 'primary' : 'backup',
    primaryValid: typeof primary !== 'string',
    backupValid: typeof backup !== 'string',
    problems,
  };
}

/** Read a disk image's GPT back into partitions (offsets and sizes in bytes). */
export async function readDisk(options: ReadDiskOptions, ctx: Context = {}): Promise<DiskInfo> {
  throwIfAborted(ctx);
  const { handle, size, primary, backup } = await loadTables(options.path, 'r');
  try {
    return infoOf(options.path, size, primary, backup);
  } finally {
    await handle.close();
  }
}

/**
 * The layout a disk was read as: planning it again ({@link planDisk}) gives back the same partitions,
 * GUIDs and size, so a disk can be rewritten or compared with a layout.
 */
export function diskLayoutOf(info: DiskInfo): DiskLayout {
  const partitions = [...info.partitions].sort((a, b) => a.number - b.number);
  if (partitions.some((p, i) => p.number !== i + 1)) {
    throw new DroverError('GPT_SPARSE_ENTRIES', `${info.path} has unused entries between partitions`, {
      hint: 'drover layouts number partitions 1..n without gaps; renumber the disk with `sgdisk -s`.',
      details: { numbers: partitions.map((p) => p.number) },
    });
  }
  return {
    size: info.size,
    diskGuid: info.diskGuid,
    alignment: SECTOR,
    partitions: partitions.map((p) => ({
      label: p.label,
      typeGuid: p.typeGuid,
      uuid: p.uuid,
      size: p.size,
      offset: p.offset,
      attributes: p.attributes,
    })),
  };
}

/** A partition chosen by 1-based number or by label. */
export type PartitionSelector = number | string;

function select(info: DiskInfo, partition: PartitionSelector): PartitionRecord & { attributes: string } {
  const found = info.partitions.find((p) =>
    typeof partition === 'number' ? p.number === partition : p.label === partition,
  );
  if (!found) {
    throw new DroverError(
      'GPT_UNKNOWN_PARTITION',
      `${info.path} has no partition ${JSON.stringify(partition)}`,
      {
        kind: 'not-found',
        hint: `Partitions: ${info.partitions.map((p) => `${p.number} ${p.label}`).join(', ')}.`,
      },
    );
  }
  return found;
}

export interface ReadGptPrioOptions {
  path: string;
  partition: PartitionSelector;
}

/** Read the A/B selection bits (priority, tries, successful) of one partition of a disk file. */
export async function readGptPrio(
  options: ReadGptPrioOptions,
  ctx: Context = {},
): Promise<GptPrio & { number: number; label: string }> {
  const info = await readDisk({ path: options.path }, ctx);
  const part = select(info, options.partition);
  return { number: part.number, label: part.label, ...decodeGptPrio(part.attributes) };
}

export interface WriteGptPrioOptions extends Partial<GptPrio> {
  path: string;
  partition: PartitionSelector;
}

/**
 * Change the A/B selection bits of one partition in place, in both the primary and the backup table, with
 * fresh CRCs (a damaged copy is rebuilt from the good one). Fields left out keep their value.
 */
export async function writeGptPrio(
  options: WriteGptPrioOptions,
  ctx: Context = {},
): Promise<GptPrio & { number: number; label: string }> {
  throwIfAborted(ctx);
  const { handle, size, primary, backup } = await loadTables(options.path, 'r+');
  try {
    const info = infoOf(options.path, size, primary, backup);
    const part = select(info, options.partition);
    const current = decodeGptPrio(part.attributes);
    const next: GptPrio = {
      priority: options.priority ?? current.priority,
      tries: options.tries ?? current.tries,
      successful: options.successful ?? current.successful,
    };
    const attributes = encodeGptPrio(part.attributes, next);
    const good = (typeof primary !== 'string' ? primary : backup) as LoadedCopy;
    const entries = Buffer.from(good.entries);
    entries.writeBigUInt64LE(attributes, (part.number - 1) * good.header.entrySize + 48);
    const entriesCrc = crc32(entries);
    const lastLba = Math.floor(size / SECTOR) - 1;
    const entryBytes = good.header.entryCount * good.header.entrySize;
    const entrySectors = Math.ceil(entryBytes / SECTOR);
    // Rebuild each header from the good one: same geometry, own location fields.
    const copies: { lba: number; alternate: number; entriesLba: number }[] = [
      { lba: 1, alternate: lastLba, entriesLba: typeof primary !== 'string' ? primary.header.entriesLba : 2 },
      {
        lba: lastLba,
        alternate: 1,
        entriesLba: typeof backup !== 'string' ? backup.header.entriesLba : lastLba - entrySectors,
      },
    ];
    // Backup first, primary last: an interrupted update leaves the primary (read first) consistent.
    for (const copy of copies.reverse()) {
      const sector = Buffer.from(good.headerSector);
      sector.writeBigUInt64LE(BigInt(copy.lba), 24);
      sector.writeBigUInt64LE(BigInt(copy.alternate), 32);
      sector.writeBigUInt64LE(BigInt(copy.entriesLba), 72);
      sector.writeUInt32LE(entriesCrc, 88);
      resealHeader(sector);
      await writeAll(handle, entries, copy.entriesLba * SECTOR);
      await writeAll(handle, sector, copy.lba * SECTOR);
    }
    await handle.sync();
    return { number: part.number, label: part.label, ...next };
  } catch (error) {
    throw toDroverError(error, `updating ${options.path}`);
  } finally {
    await handle.close();
  }
}
