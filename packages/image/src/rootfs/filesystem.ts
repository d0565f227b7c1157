import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import {
  chmod,
  lchown,
  link,
  lutimes,
  mkdir,
  mkdtemp,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  type Context,
  type DigestString,
  DroverError,
  digestFile,
  resolveContext,
  startProgress,
  throwIfAborted,
  toDroverError,
  writeAtomically,
} from '@drover/core';
import { type RootfsTree, type TreeInode, writeTar } from '@drover/oci';
import type { ErofsDirectory, ErofsFile, ErofsNode } from '../erofs/types.js';
import { writeErofs } from '../erofs/write.js';
import { FileHasher, hashing, recordEmpty } from './digests.js';
import { requireTools, runTool } from './tools.js';
import { treeTarEntries } from './tree-tar.js';
import type { FileDigests } from './types.js';

/** Options for {@link writeFilesystem}. */
export interface WriteFilesystemOptions {
  tree: RootfsTree;
  type: 'erofs' | 'squashfs' | 'ext4';
  /** Output file; written under a temporary name and renamed when complete. */
  output: string;
  /** Build time and the upper bound of every timestamp. */
  sourceDateEpoch: number;
  /** Filesystem block size (erofs and ext4: 4096 default; squashfs: 131072 default). */
  blockSize?: number;
  label?: string;
  /** Filesystem UUID; default derived from the content so the same tree gives the same bytes. */
  uuid?: string;
  /** ext4 only: image size in bytes (default: content plus headroom). */
  size?: number;
  /** squashfs only: compressor (`gzip`, `xz`, `zstd`, `lz4`, `lzo`, `none`; default `gzip`). */
  compression?: string;
  compressionLevel?: number;
  /** Extra arguments passed to sqfstar/mke2fs. */
  extraArgs?: readonly string[];
  /** Where ext4 stages the tree (default: the system temp directory). */
  tempDir?: string;
}

/** What {@link writeFilesystem} produced. */
export interface FilesystemResult {
  path: string;
  type: 'erofs' | 'squashfs' | 'ext4';
  /** Bytes (a multiple of `blockSize` for erofs/ext4; squashfs is padded to 4096). */
  size: number;
  blockSize: number;
  digest: DigestString;
  uuid?: string;
  /** Content digests of every file, for the SBOM and the file manifest. */
  files: FileDigests;
}

/** Write a tree as an EROFS (in TypeScript), squashfs (`sqfstar`) or ext4 (`mke2fs -d`) image, reproducibly. */
export async function writeFilesystem(
  options: WriteFilesystemOptions,
  ctx: Context = {},
): Promise<FilesystemResult> {
  throwIfAborted(ctx);
  if (!Number.isSafeInteger(options.sourceDateEpoch) || options.sourceDateEpoch < 0) {
    throw new DroverError('ROOTFS_EPOCH_INVALID', `sourceDateEpoch must be a non-negative integer`, {
      kind: 'usage',
      hint: 'Pass the lockfile’s sourceDateEpoch (seconds since 1970).',
    });
  }
  switch (options.type) {
    case 'erofs':
      return writeErofsFilesystem(options, ctx);
    case 'squashfs':
      return writeSquashfs(options, ctx);
    case 'ext4':
      return writeExt4(options, ctx);
    default:
      throw new DroverError('ROOTFS_FS_TYPE', `unknown filesystem type ${String(options.type)}`, {
        kind: 'usage',
        hint: 'Use erofs, squashfs or ext4.',
      });
  }
}

// ---------------------------------------------------------------------------------------------------------
// EROFS: the tree adapted to the writer's input; contents read once per layer through forEachContent.

/** The EROFS writer's view of a tree: one node object per inode (hardlinks share it), files by inode id. */
export function erofsTreeOf(tree: RootfsTree): { root: ErofsDirectory; files: Map<number, ErofsFile> } {
  const files = new Map<number, ErofsFile>();
  const nodes = new Map<number, ErofsNode>();
  const convert = (node: import('@drover/oci').TreeNode): ErofsNode => {
    const inode = node.inode;
    const known = inode.type === 'dir' ? undefined : nodes.get(inode.id);
    if (known) return known;
    const base = {
      mode: inode.mode & 0o7777,
      uid: inode.uid,
      gid: inode.gid,
      mtime: { sec: inode.mtime.sec, nsec: inode.mtime.nsec },
      ...(inode.xattrs.size > 0 ? { xattrs: inode.xattrs } : {}),
    };
    let out: ErofsNode;
    switch (inode.type) {
      case 'dir':
        out = {
          type: 'directory',
          ...base,
          children: new Map(tree.children(node).map((c) => [c.name, convert(c)] as const)),
        };
        return out;
      case 'file': {
        const file: ErofsFile = { type: 'file', ...base, size: inode.size, linkId: inode.id };
        files.set(inode.id, file);
        out = file;
        break;
      }
      case 'symlink':
        out = { type: 'symlink', ...base, target: inode.target ?? '', linkId: inode.id };
        break;
      case 'char':
      case 'block':
        out = {
          type: inode.type,
          ...base,
          rdev: { major: inode.devMajor ?? 0, minor: inode.devMinor ?? 0 },
          linkId: inode.id,
        };
        break;
      default:
        out = { type: 'fifo', ...base, linkId: inode.id };
    }
    nodes.set(inode.id, out);
    return out;
  };
  return { root: convert(tree.root) as ErofsDirectory, files };
}

async function writeErofsFilesystem(
  options: WriteFilesystemOptions,
  ctx: Context,
): Promise<FilesystemResult> {
  if (options.blockSize !== undefined && options.blockSize !== 4096) {
    throw new DroverError(
      'ROOTFS_BLOCK_SIZE',
      `EROFS images use 4096-byte blocks, not ${options.blockSize}`,
      {
        kind: 'usage',
        hint: 'Leave filesystem.blockSize at 4096 for erofs.',
      },
    );
  }
  if (options.compression !== undefined && options.compression !== 'none') {
    throw new DroverError(
      'ROOTFS_EROFS_COMPRESSION',
      `EROFS compression ${options.compression} is not supported yet: drover writes uncompressed EROFS`,
      {
        kind: 'unavailable',
        hint: 'Set filesystem.compression to none for erofs, or use squashfs for a compressed root filesystem.',
      },
    );
  }
  const { tree } = options;
  const { root, files } = erofsTreeOf(tree);
  const digests: FileDigests = new Map();
  for (const [id, file] of files) if (file.size === 0) recordEmpty(digests, { id } as TreeInode);
  const hasher = new FileHasher();
  let result: Awaited<ReturnType<typeof writeErofs>>;
  try {
    result = await writeErofs(
      {
        root,
        output: options.output,
        digest: false, // hashed below, on a worker, while the per-file hashes finish on another
        buildTime: { sec: options.sourceDateEpoch, nsec: 0 },
        ...(options.uuid ? { uuid: options.uuid } : {}),
        ...(options.label !== undefined ? { volumeName: options.label } : {}),
        readContents: async (_files, write) => {
          await tree.forEachContent(async (inode, data) => {
            const file = files.get(inode.id);
            if (!file) return;
            await write(file, hasher.pass(inode, data));
          }, ctx);
        },
      },
      ctx,
    );
  } catch (error) {
    await hasher.cancel();
    throw error;
  }
  const [{ digest }] = await Promise.all([
    digestFile(result.path, { progress: false }, ctx),
    hasher.finish(digests),
  ]);
  return {
    path: result.path,
    type: 'erofs',
    size: result.size,
    blockSize: result.blockSize,
    digest,
    uuid: result.uuid,
    files: digests,
  };
}

// ---------------------------------------------------------------------------------------------------------
// squashfs: sqfstar reading a tar stream of the tree.

const SQUASHFS_COMPRESSORS = ['gzip', 'xz', 'zstd', 'lz4', 'lzo', 'lzma', 'none'];

async function writeSquashfs(options: WriteFilesystemOptions, ctx: Context): Promise<FilesystemResult> {
  const { tree } = options;
  const compression = options.compression ?? 'gzip';
  if (!SQUASHFS_COMPRESSORS.includes(compression)) {
    throw new DroverError('ROOTFS_SQUASHFS_COMPRESSION', `squashfs has no compressor ${compression}`, {
      kind: 'usage',
      hint: `Use one of ${SQUASHFS_COMPRESSORS.join(', ')}.`,
    });
  }
  const blockSize = options.blockSize ?? 131072;
  const root = tree.root.inode;
  // sqfstar 4.5.1 takes the root's mode from -root-mode but ignores -root-uid/-gid/-time and has no way to
  // give it xattrs: the root is root-owned with the build time.
  if (root.xattrs.size > 0 || root.uid !== 0 || root.gid !== 0) {
    resolveContext(ctx).logger.warn(
      'squashfs: the root directory is stored as root:root without xattrs (sqfstar 4.5)',
      {
        uid: root.uid,
        gid: root.gid,
        xattrs: [...root.xattrs.keys()],
      },
    );
  }
  const args = [
    '-reproducible',
    '-exit-on-error',
    '-b',
    String(blockSize),
    '-root-mode',
    (root.mode & 0o7777).toString(8).padStart(4, '0'),
    '-quiet',
    '-no-progress',
  ];
  if (compression === 'none') args.push('-noI', '-noId', '-noD', '-noF', '-noX');
  else {
    args.push('-comp', compression);
    if (options.compressionLevel !== undefined) {
      if (compression === 'lz4') {
        if (options.compressionLevel > 0) args.push('-Xhc');
      } else args.push('-Xcompression-level', String(options.compressionLevel));
    }
  }
  args.push(...(options.extraArgs ?? []));
  await requireTools(['sqfstar'], `writing squashfs image ${options.output}`);
  const digests: FileDigests = new Map();
  const progress = startProgress(ctx, {
    task: `image.squashfs:${options.output}`,
    label: 'writing squashfs image',
    unit: 'bytes',
    total: tree.summary().bytes,
  });
  try {
    const digest = await writeAtomically(options.output, async (temporary) => {
      const tar = counted(
        writeTar(treeTarEntries(tree, { includeRoot: false, digests }, ctx)),
        progress.advance,
      );
      await runTool(
        {
          command: 'sqfstar',
          args: [...args, temporary],
          input: tar,
          // sets the creation time and the root directory's mtime (4.5.1 ignores -root-time)
          env: { SOURCE_DATE_EPOCH: String(options.sourceDateEpoch) },
          code: 'ROOTFS_SQUASHFS_FAILED',
          what: `writing squashfs image ${options.output}`,
        },
        ctx,
      );
      return (await digestFile(temporary, { progress: false }, ctx)).digest;
    });
    progress.done(true);
    const size = (await stat(options.output)).size;
    return { path: options.output, type: 'squashfs', size, blockSize, digest, files: digests };
  } catch (error) {
    progress.done(false);
    throw error;
  }
}

async function* counted(source: AsyncIterable<Buffer>, advance: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    advance(chunk.length);
    yield chunk;
  }
}

// ---------------------------------------------------------------------------------------------------------
// ext4: the tree staged in a temporary directory, then mke2fs -d with fixed times, UUID and hash seed.

/** Features written regardless of the machine's /etc/mke2fs.conf (the config is replaced by ours). */
const MKE2FS_CONF = `[defaults]
	base_features = sparse_super,large_file,filetype,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
	reserved_ratio = 0
	lazy_itable_init = false
	lazy_journal_init = false
	hash_alg = half_md4

[fs_types]
	ext4 = {
		features = extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
`;

async function writeExt4(options: WriteFilesystemOptions, ctx: Context): Promise<FilesystemResult> {
  const { tree } = options;
  const epoch = options.sourceDateEpoch;
  const blockSize = options.blockSize ?? 4096;
  if (![1024, 2048, 4096, 65536].includes(blockSize)) {
    throw new DroverError('ROOTFS_BLOCK_SIZE', `ext4 block size ${blockSize} is not supported`, {
      kind: 'usage',
      hint: 'Use 1024, 2048 or 4096.',
    });
  }
  await requireTools(['mke2fs', 'debugfs'], `writing ext4 image ${options.output}`);
  const work = await mkdtemp(join(options.tempDir ?? tmpdir(), 'drover-ext4-'));
  const progress = startProgress(ctx, {
    task: `image.ext4:${options.output}`,
    label: 'writing ext4 image',
    unit: 'bytes',
    total: tree.summary().bytes,
  });
  try {
    const stage = join(work, 'root');
    const digests: FileDigests = new Map();
    const isRoot = process.getuid?.() === 0;
    const { debugfs, estimate } = await stageTree(tree, stage, work, digests, isRoot, progress.advance, ctx);
    const uuid = options.uuid ?? deriveUuid(tree, digests, options);
    const size = options.size ?? defaultExt4Size(estimate, blockSize);
    if (size % blockSize !== 0) {
      throw new DroverError('ROOTFS_EXT4_SIZE', `ext4 size ${size} is not a multiple of the block size`, {
        kind: 'usage',
        hint: `Give filesystem.size as a multiple of ${blockSize} bytes.`,
      });
    }
    const conf = join(work, 'mke2fs.conf');
    await writeFile(conf, MKE2FS_CONF);
    const root = tree.root.inode;
    const env = { MKE2FS_CONFIG: conf, E2FSPROGS_FAKE_TIME: String(epoch), TZ: 'UTC' };
    const digest = await writeAtomically(options.output, async (temporary) => {
      await writeFile(temporary, '');
      await truncate(temporary, size);
      await runTool(
        {
          command: 'mke2fs',
          args: [
            '-q',
            '-F',
            '-t',
            'ext4',
            '-b',
            String(blockSize),
            '-N',
            String(estimate.inodes + 16),
            '-m',
            '0',
            '-U',
            uuid,
            '-E',
            `hash_seed=${uuid},root_owner=${root.uid}:${root.gid},nodiscard`,
            ...(options.label ? ['-L', options.label] : []),
            ...(options.extraArgs ?? []),
            '-d',
            stage,
            temporary,
          ],
          env,
          code: 'ROOTFS_EXT4_FAILED',
          what: `writing ext4 image ${options.output}`,
          hint: 'If the image is full, give a larger filesystem.size.',
        },
        ctx,
      );
      // what mke2fs -d cannot take from the staging directory: change times, xattrs, owners (without root)
      const script = join(work, 'debugfs.cmd');
      await writeFile(script, debugfs.join('\n'));
      await runTool(
        {
          command: 'debugfs',
          args: ['-w', '-f', script, temporary],
          env,
          code: 'ROOTFS_EXT4_FAILED',
          what: `setting inode fields of ${options.output}`,
        },
        ctx,
      );
      return (await digestFile(temporary, { progress: false }, ctx)).digest;
    });
    progress.done(true);
    return { path: options.output, type: 'ext4', size, blockSize, digest, uuid, files: digests };
  } catch (error) {
    progress.done(false);
    throw error;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

interface Estimate {
  inodes: number;
  /** Data blocks of 4 KiB (files, long symlinks, directories). */
  blocks: number;
}

function defaultExt4Size(estimate: Estimate, blockSize: number): number {
  const data = estimate.blocks * 4096;
  const inodes = (estimate.inodes + 16) * 256;
  const raw = data * 1.1 + inodes * 1.1 + 4 * 1024 * 1024 + estimate.inodes * 64;
  const mib = 1024 * 1024;
  const size = Math.max(8 * mib, Math.ceil(raw / mib) * mib);
  return Math.ceil(size / blockSize) * blockSize;
}

function deriveUuid(tree: RootfsTree, digests: FileDigests, options: WriteFilesystemOptions): string {
  const h = createHash('sha256');
  h.update(`drover-ext4\0${options.sourceDateEpoch}\0${options.label ?? ''}\0`);
  for (const { path, node } of tree.walk()) {
    const i = node.inode;
    h.update(
      JSON.stringify([
        path,
        i.id,
        i.type,
        i.mode,
        i.uid,
        i.gid,
        i.mtime.sec,
        i.mtime.nsec,
        i.size,
        i.target ?? '',
        i.devMajor ?? 0,
        i.devMinor ?? 0,
        digests.get(i.id)?.sha256 ?? '',
        [...i.xattrs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, v.toString('hex')]),
      ]),
    );
  }
  const b = h.digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const x = b.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The `*_extra` field of a large ext4 inode: nanoseconds << 2, plus the epoch bits of times past 2038. */
function timeExtra(sec: number, nsec: number): number {
  const epochBits = Math.floor((sec + 2 ** 31) / 2 ** 32) & 3;
  return ((nsec << 2) | epochBits) >>> 0;
}

/** debugfs quotes: names with spaces or quotes go in double quotes with escapes. */
function dq(path: string): string {
  return `"${path.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * Write the tree into `stage` (directories, links, devices, then file contents in forEachContent order), set
 * owners, modes and times bottom-up, and return the debugfs commands that finish the job in the image.
 */
async function stageTree(
  tree: RootfsTree,
  stage: string,
  work: string,
  digests: FileDigests,
  isRoot: boolean,
  advance: (n: number) => void,
  ctx: Context,
): Promise<{ debugfs: string[]; estimate: Estimate }> {
  const debugfs: string[] = [];
  const estimate: Estimate = { inodes: 0, blocks: 0 };
  const first = new Map<number, string>();
  const withContent = new Map<number, string[]>();
  const attrs: Array<{ path: string; rel: string; inode: TreeInode }> = [];
  const xattrDir = join(work, 'xattrs');
  let xattrCount = 0;
  await mkdir(stage);
  for (const { path: rel, node } of tree.walk()) {
    throwIfAborted(ctx);
    const inode = node.inode;
    const path = rel === '' ? stage : join(stage, rel);
    const imagePath = `/${rel}`;
    if (inode.type === 'dir') {
      if (rel !== '') await mkdir(path);
      estimate.blocks += 1 + Math.ceil(((node.children?.size ?? 0) * 40) / 4096);
    } else {
      const seen = first.get(inode.id);
      if (seen !== undefined) {
        if (!withContent.has(inode.id)) await link(join(stage, seen), path);
        else withContent.get(inode.id)!.push(rel);
        continue;
      }
      first.set(inode.id, rel);
      if (inode.type === 'file') {
        if (inode.content && inode.size > 0) withContent.set(inode.id, [rel]);
        else {
          await writeFile(path, '');
          recordEmpty(digests, inode);
        }
        estimate.blocks += Math.ceil(inode.size / 4096) + (inode.size > 48 * 4096 ? 2 : 0);
      } else if (inode.type === 'symlink') {
        await symlink(inode.target ?? '', path);
        if (Buffer.byteLength(inode.target ?? '') >= 60) estimate.blocks++;
      } else {
        const kind =
          inode.type === 'fifo'
            ? ['p']
            : [inode.type === 'char' ? 'c' : 'b', String(inode.devMajor ?? 0), String(inode.devMinor ?? 0)];
        await runTool(
          {
            command: 'mknod',
            args: [path, ...kind],
            code: 'ROOTFS_EXT4_STAGE',
            what: `staging ${imagePath}`,
          },
          ctx,
        );
      }
    }
    estimate.inodes++;
    attrs.push({ path, rel, inode });
    // mke2fs -d copies whole-second atime/mtime from the staged file (set below), takes crtime from
    // E2FSPROGS_FAKE_TIME and ctime from the clock: pin ctime, and add the nanoseconds. (Path lookups cost
    // about a millisecond each in debugfs, so only what is needed is set.)
    const at = dq(imagePath);
    const { sec, nsec } = inode.mtime;
    debugfs.push(`sif ${at} ctime @${sec}`);
    // (the root directory's times come from the clock, not from the staged directory)
    if (rel === '') debugfs.push(`sif ${at} mtime @${sec}`, `sif ${at} atime @${sec}`);
    if (sec < 0 || sec >= 2 ** 31) debugfs.push(`sif ${at} ctime_extra ${timeExtra(sec, 0)}`);
    if (nsec !== 0 || sec < 0 || sec >= 2 ** 31) {
      debugfs.push(
        `sif ${at} mtime_extra ${timeExtra(sec, nsec)}`,
        `sif ${at} atime_extra ${timeExtra(sec, nsec)}`,
      );
    }
    if (!isRoot) debugfs.push(`sif ${at} uid ${inode.uid}`, `sif ${at} gid ${inode.gid}`);
    // mke2fs -d leaves the root directory's mode at 0755
    if (rel === '') debugfs.push(`sif ${at} mode 0${(0o40000 | (inode.mode & 0o7777)).toString(8)}`);
    for (const [name, value] of [...inode.xattrs].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (xattrCount === 0) await mkdir(xattrDir);
      const file = join(xattrDir, String(xattrCount++));
      await writeFile(file, value);
      debugfs.push(`ea_set -f ${dq(file)} ${at} ${dq(name)}`);
    }
  }
  if (withContent.size > 0) {
    await tree.forEachContent(async (inode, data) => {
      const paths = withContent.get(inode.id);
      if (!paths) return;
      const target = join(stage, paths[0]!);
      await pipeline(counting(hashing(inode, data, digests), advance), createWriteStream(target));
      for (const other of paths.slice(1)) await link(target, join(stage, other));
    }, ctx);
  }
  // owners before modes (chown clears setuid), children before parents (so directory times stick)
  for (const { path, inode } of attrs.reverse()) {
    try {
      if (isRoot) await lchown(path, inode.uid, inode.gid);
      if (inode.type !== 'symlink') await chmod(path, inode.mode & 0o7777);
      await lutimes(path, inode.mtime.sec, inode.mtime.sec); // whole seconds; nanoseconds via debugfs
    } catch (error) {
      throw toDroverError(error, `staging ${path}`);
    }
  }
  return { debugfs, estimate };
}

async function* counting(
  source: AsyncIterable<Buffer>,
  advance: (n: number) => void,
): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    advance(chunk.length);
    yield chunk;
  }
}
