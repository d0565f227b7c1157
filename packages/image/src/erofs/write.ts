import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import {
  type Context,
  type DigestString,
  DroverError,
  digestFile,
  startProgress,
  throwIfAborted,
  toDroverError,
  writeAtomically,
} from '@drover/core';
import { erofsChecksum } from '../crc.js';
import { parseGuid } from '../gpt/guid.js';
import {
  BLOCK_SIZE,
  type ErofsPlan,
  encodeDirectory,
  encodeInode,
  encodeSuperblock,
  type PlannedInode,
  planErofs,
} from './plan.js';
import type { ErofsContentSource, ErofsDirectory, ErofsFile, ErofsHostFile, ErofsTime } from './types.js';

export interface WriteErofsOptions {
  /** The tree to write; its root must be a directory. */
  root: ErofsDirectory;
  /** Output file; written under a temporary name and renamed when complete. */
  output: string;
  /**
   * Superblock build time. Inodes whose mtime equals it are stored compact (32 bytes); the others extended.
   * Default: the most common mtime in the tree. Pass `{ sec: sourceDateEpoch }` for reproducible builds.
   */
  buildTime?: ErofsTime;
  /** Filesystem UUID. Default: derived from the image metadata, so the same tree gives the same UUID. */
  uuid?: string;
  /** Volume label, at most 15 bytes. */
  volumeName?: string;
  /** Compute the SHA-256 of the finished image (one extra read pass). Default true. */
  digest?: boolean;
  /**
   * Read file contents in your own order (for example one pass over each layer of an image) instead of
   * calling each file's `content`. The writer lays out the metadata first, then calls this once; it must
   * hand every listed file to `write` exactly once.
   */
  readContents?: ErofsContentReader;
}

/**
 * A tree-level content source: receives the regular files with data (one node per inode) and a `write`
 * callback taking any of a file's node objects and a stream of its bytes. Calls may overlap; they are
 * written one at a time.
 */
export type ErofsContentReader = (
  files: readonly ErofsFile[],
  write: (file: ErofsFile, source: ErofsContentSource) => Promise<void>,
) => Promise<void>;

/** What {@link writeErofs} produced. */
export interface ErofsResult {
  path: string;
  /** Image size in bytes (blocks × blockSize). */
  size: number;
  blockSize: number;
  blocks: number;
  /** Number of inodes (hardlinks count once). */
  inodes: number;
  uuid: string;
  buildTime: { sec: number; nsec: number };
  digest?: DigestString;
  /** Shaped for `ImageRecord.filesystem`. */
  filesystem: { type: 'erofs'; size: number; digest?: DigestString };
}

const CHUNK = 1 << 20;
const PREFETCH_FILES = 32;
const PREFETCH_BYTES = 8 << 20;

/**
 * Buffers sequential writes to one region of the output file and flushes them with positional writes.
 * Writes are synchronous: on a busy machine the thread-pool round trips of async writes cost more than the
 * writes themselves; the caller yields to the event loop regularly instead (see `yieldSometimes`).
 * Skipping ahead leaves a hole (the file was truncated to its final size, so holes read as zeros).
 */
class RegionWriter {
  private readonly buffer = Buffer.alloc(CHUNK);
  private used = 0;
  private base: number;

  constructor(
    private readonly fd: number,
    start: number,
    private readonly onWritten: (n: number) => void,
  ) {
    this.base = start;
  }

  get position(): number {
    return this.base + this.used;
  }

  write(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(bytes.length - off, CHUNK - this.used);
      this.buffer.set(bytes.subarray(off, off + n), this.used);
      this.used += n;
      off += n;
      if (this.used === CHUNK) this.flush();
    }
  }

  /** Advance to `position` (>= the current one), leaving zeros behind. */
  seek(position: number): void {
    const gap = position - this.position;
    if (gap < 0) throw new DroverError('EROFS_INTERNAL', 'writer moved backwards', { kind: 'internal' });
    if (gap === 0) return;
    if (this.used + gap <= CHUNK && gap < BLOCK_SIZE) {
      this.buffer.fill(0, this.used, this.used + gap);
      this.used += gap;
      if (this.used === CHUNK) this.flush();
      return;
    }
    this.flush();
    this.base = position;
    this.onWritten(gap);
  }

  /**
   * Read `length` bytes of `fd` from `position` straight into the buffer (no intermediate copy).
   * Returns the bytes read, fewer only at end of file.
   */
  fill(fd: number, length: number, position: number): number {
    let done = 0;
    while (done < length) {
      const got = readSync(
        fd,
        this.buffer,
        this.used,
        Math.min(length - done, CHUNK - this.used),
        position + done,
      );
      if (got === 0) break;
      this.used += got;
      done += got;
      if (this.used === CHUNK) this.flush();
    }
    return done;
  }

  /** Flush, then continue writing at `position` (anywhere; used for the out-of-order content pass). */
  moveTo(position: number): void {
    this.flush();
    this.base = position;
  }

  flush(): void {
    let done = 0;
    while (done < this.used)
      done += writeSync(this.fd, this.buffer, done, this.used - done, this.base + done);
    this.onWritten(this.used);
    this.base += this.used;
    this.used = 0;
  }
}

/**
 * Opens the contents of the next few small files ahead of the writer, so their reads overlap earlier work.
 * Bounded by count and bytes; large files are opened only when the writer reaches them.
 */
class ContentPrefetcher {
  private readonly opened = new Map<PlannedInode, Promise<ErofsContentSource>>();
  private next = 0;
  private bytes = 0;

  constructor(private readonly files: PlannedInode[]) {}

  /** The source of `inode`, prefetching the ones after it. */
  take(inode: PlannedInode): Promise<ErofsContentSource> {
    const ready = this.opened.get(inode);
    if (ready) {
      this.opened.delete(inode);
      this.bytes -= inode.size;
    }
    while (this.next < this.files.length && this.files[this.next]!.offset <= inode.offset) this.next++;
    while (
      this.next < this.files.length &&
      this.opened.size < PREFETCH_FILES &&
      this.bytes + this.files[this.next]!.size <= PREFETCH_BYTES
    ) {
      const f = this.files[this.next++]!;
      const p = openContent(f);
      p.catch(() => {}); // reported when the writer reaches the file
      this.opened.set(f, p);
      this.bytes += f.size;
    }
    return ready ?? openContent(inode);
  }

  /** Close sources opened ahead but never read (after a failure), so no file descriptors linger. */
  dispose(): void {
    for (const p of this.opened.values()) {
      p.then(
        (source) => {
          const s = source as { destroy?: () => void; return?: () => unknown };
          if (typeof s.destroy === 'function') s.destroy();
          else if (typeof s.return === 'function') s.return();
        },
        () => {},
      );
    }
    this.opened.clear();
  }
}

async function openContent(inode: PlannedInode): Promise<ErofsContentSource> {
  const content = (inode.node as ErofsFile).content!;
  if (content instanceof Uint8Array) return [content];
  if (isHostFile(content)) return createReadStream(content.path);
  try {
    return await content();
  } catch (error) {
    throw toDroverError(error, `opening content of ${inode.path}`);
  }
}

async function* chunksOf(source: ErofsContentSource): AsyncGenerator<Uint8Array> {
  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    if (typeof chunk === 'string') {
      throw new DroverError('EROFS_CONTENT_INVALID', 'file content stream yielded a string, not bytes', {
        kind: 'internal',
        hint: 'Open content streams without an encoding so they yield Buffers.',
      });
    }
    yield chunk;
  }
}

function formatUuid(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Write a tree as an uncompressed EROFS image (4 KiB blocks), streaming file contents; deterministic. */
export async function writeErofs(options: WriteErofsOptions, ctx: Context = {}): Promise<ErofsResult> {
  throwIfAborted(ctx);
  const external = options.readContents !== undefined;
  const plan = planErofs(options.root, {
    ...(options.buildTime ? { buildTime: options.buildTime } : {}),
    externalContent: external,
  });
  const volumeName = Buffer.from(options.volumeName ?? '', 'utf8');
  if (volumeName.length > 15) {
    throw new DroverError(
      'EROFS_INVALID_OPTION',
      `volume name is ${volumeName.length} bytes; at most 15 fit`,
      {
        hint: 'Use a shorter volume name.',
      },
    );
  }
  const explicitUuid = options.uuid === undefined ? undefined : uuidBytes(options.uuid);
  const size = plan.blocks * BLOCK_SIZE;
  const progress = startProgress(ctx, {
    task: `image.erofs:${options.output}`,
    label: 'writing EROFS image',
    unit: 'bytes',
    total: size,
  });
  let uuid = '';
  try {
    const digest = await writeAtomically(options.output, async (temporary) => {
      const handle = await open(temporary, 'w');
      try {
        await handle.truncate(size);
        const onWritten = (n: number): void => progress.advance(n);
        const meta = new RegionWriter(handle.fd, BLOCK_SIZE, onWritten);
        const data = new RegionWriter(handle.fd, plan.metaBlocks * BLOCK_SIZE, onWritten);
        const metaHash = createHash('sha256');
        const prefetch = new ContentPrefetcher(
          plan.order.filter(
            (i) =>
              i.type === 'file' &&
              i.size > 0 &&
              i.size <= PREFETCH_BYTES &&
              !isHostFile((i.node as ErofsFile).content),
          ),
        );
        let lastYield = performance.now();
        try {
          for (const inode of plan.order) {
            // Synchronous writes: let timers, progress rendering and abort signals run every ~20 ms.
            if (performance.now() - lastYield > 20) {
              await new Promise<void>((resolve) => setImmediate(resolve));
              lastYield = performance.now();
            }
            throwIfAborted(ctx);
            await writeInode(inode, meta, data, metaHash, external ? undefined : prefetch, ctx);
          }
        } finally {
          prefetch.dispose();
        }
        meta.flush();
        data.flush();
        if (options.readContents) await readExternalContents(plan, options.readContents, meta, data, ctx);
        const uuidBuf = explicitUuid ?? uuidFromHash(metaHash);
        uuid = formatUuid(uuidBuf);
        const block0 = Buffer.alloc(BLOCK_SIZE - 1024);
        encodeSuperblock({
          rootNid: plan.root.offset / 32,
          inodes: plan.inodes.length,
          buildTimeSec: plan.buildTimeSec,
          buildTimeNsec: plan.buildTimeNsec,
          blocks: plan.blocks,
          uuid: uuidBuf,
          volumeName,
        }).copy(block0, 0);
        block0.writeUInt32LE(erofsChecksum(block0), 4);
        await handle.write(block0, 0, block0.length, 1024);
      } finally {
        await handle.close();
      }
      throwIfAborted(ctx);
      if (options.digest === false) return undefined;
      return (await digestFile(temporary, { progress: false }, ctx)).digest;
    });
    progress.update(size);
    progress.done(true);
    const result: ErofsResult = {
      path: options.output,
      size,
      blockSize: BLOCK_SIZE,
      blocks: plan.blocks,
      inodes: plan.inodes.length,
      uuid,
      buildTime: { sec: plan.buildTimeSec, nsec: plan.buildTimeNsec },
      filesystem: { type: 'erofs', size },
    };
    if (digest) {
      result.digest = digest;
      result.filesystem.digest = digest;
    }
    return result;
  } catch (error) {
    progress.done(false);
    throwIfAborted(ctx);
    throw toDroverError(error, `writing EROFS image ${options.output}`);
  }
}

function uuidBytes(uuid: string): Buffer {
  // parseGuid validates and returns the RFC 4122 (big-endian) byte order, which is what EROFS stores.
  return parseGuid(uuid, 'uuid');
}

function uuidFromHash(hash: Hash): Buffer {
  const b = hash.digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x40; // version 4 layout (random-looking, but derived)
  b[8] = (b[8]! & 0x3f) | 0x80;
  return Buffer.from(b);
}

async function writeInode(
  inode: PlannedInode,
  meta: RegionWriter,
  data: RegionWriter,
  metaHash: Hash,
  prefetch: ContentPrefetcher | undefined,
  ctx: Context,
): Promise<void> {
  meta.seek(inode.offset);
  const head = encodeInode(inode);
  metaHash.update(head);
  metaHash.update(inode.xattrs);
  meta.write(head);
  meta.write(inode.xattrs);
  if (inode.dataBlocks > 0) data.seek(inode.startBlock * BLOCK_SIZE);
  const inlineFrom = inode.layout === 2 ? Math.floor(inode.size / BLOCK_SIZE) * BLOCK_SIZE : inode.size;
  switch (inode.type) {
    case 'directory':
    case 'symlink': {
      const bytes = inode.type === 'directory' ? encodeDirectory(inode) : inode.target!;
      metaHash.update(bytes);
      data.write(bytes.subarray(0, inlineFrom));
      meta.write(bytes.subarray(inlineFrom));
      break;
    }
    case 'file': {
      // With a tree-level reader, file data is written afterwards (readExternalContents).
      if (!prefetch || inode.size === 0) break;
      const content = (inode.node as ErofsFile).content;
      if (isHostFile(content)) copyHostFile(inode, content.path, inlineFrom, meta, data);
      else await writeFileContent(inode, inlineFrom, meta, data, await prefetch.take(inode), ctx);
      break;
    }
    default:
      break;
  }
  // Plain layout: the last block is zero-padded; the next file's seek leaves the padding as a hole.
}

async function writeFileContent(
  inode: PlannedInode,
  inlineFrom: number,
  meta: RegionWriter,
  data: RegionWriter,
  source: ErofsContentSource,
  ctx: Context,
): Promise<void> {
  let received = 0;
  const put = (chunk: Uint8Array): void => {
    const end = received + chunk.length;
    if (end > inode.size) throw sizeMismatch(inode, `more than ${inode.size}`);
    if (end <= inlineFrom) data.write(chunk);
    else if (received >= inlineFrom) meta.write(chunk);
    else {
      data.write(chunk.subarray(0, inlineFrom - received));
      meta.write(chunk.subarray(inlineFrom - received));
    }
    received = end;
  };
  for await (const chunk of chunksOf(source)) {
    throwIfAborted(ctx);
    put(chunk);
  }
  if (received !== inode.size) throw sizeMismatch(inode, String(received));
}

/** Second pass for {@link ErofsContentReader}: each file's blocks and inline tail go to their fixed places. */
async function readExternalContents(
  plan: ErofsPlan,
  reader: ErofsContentReader,
  meta: RegionWriter,
  data: RegionWriter,
  ctx: Context,
): Promise<void> {
  const wanted = plan.order.filter((i) => i.type === 'file' && i.size > 0);
  const done = new Set<PlannedInode>();
  let chain: Promise<void> = Promise.resolve();
  const write = (file: ErofsFile, source: ErofsContentSource): Promise<void> => {
    const run = chain.then(async () => {
      throwIfAborted(ctx);
      const inode = plan.byNode.get(file);
      if (!inode || inode.type !== 'file' || inode.size === 0) {
        throw new DroverError(
          'EROFS_CONTENT_UNKNOWN',
          'readContents delivered a file that is not in the tree',
          {
            kind: 'internal',
            hint: 'Pass the file node objects from the list readContents received.',
          },
        );
      }
      if (done.has(inode)) {
        throw new DroverError('EROFS_CONTENT_TWICE', `${inode.path}: content delivered twice`, {
          kind: 'internal',
          hint: 'Deliver each file (each hardlinked inode) once.',
        });
      }
      done.add(inode);
      const inlineFrom = inode.layout === 2 ? Math.floor(inode.size / BLOCK_SIZE) * BLOCK_SIZE : inode.size;
      data.moveTo(inode.startBlock * BLOCK_SIZE);
      meta.moveTo(inode.offset + (inode.extended ? 64 : 32) + inode.xattrs.length);
      await writeFileContent(inode, inlineFrom, meta, data, source, ctx);
    });
    chain = run.catch(() => {});
    return run;
  };
  await reader(
    wanted.map((i) => i.node as ErofsFile),
    write,
  );
  await chain;
  meta.flush();
  data.flush();
  const missing = wanted.filter((i) => !done.has(i));
  if (missing.length > 0) {
    throw new DroverError(
      'EROFS_MISSING_CONTENT',
      `readContents did not deliver ${missing.length} file(s), e.g. ${missing[0]!.path}`,
      {
        hint: 'Deliver every file readContents receives.',
        details: { missing: missing.slice(0, 10).map((i) => i.path) },
      },
    );
  }
}

function isHostFile(content: ErofsFile['content']): content is ErofsHostFile {
  return typeof content === 'object' && !(content instanceof Uint8Array);
}

/** Copy a host file: full blocks into the data region, the tail into the metadata region, read in place. */
function copyHostFile(
  inode: PlannedInode,
  path: string,
  inlineFrom: number,
  meta: RegionWriter,
  data: RegionWriter,
): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw toDroverError(error, `opening content of ${inode.path}`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size !== inode.size) throw sizeMismatch(inode, String(size));
    const got = data.fill(fd, inlineFrom, 0) + meta.fill(fd, inode.size - inlineFrom, inlineFrom);
    if (got !== inode.size) throw sizeMismatch(inode, String(got));
  } finally {
    closeSync(fd);
  }
}

function sizeMismatch(inode: PlannedInode, got: string): DroverError {
  return new DroverError(
    'EROFS_SIZE_MISMATCH',
    `${inode.path}: declared ${inode.size} bytes but its content stream gave ${got}`,
    {
      hint: 'The file changed while the image was written, or the tree gives a wrong size; rebuild the tree.',
      details: { path: inode.path, size: inode.size },
    },
  );
}
