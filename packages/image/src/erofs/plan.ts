import { DroverError } from '@drover/core';
import type { ErofsDirectory, ErofsNode, ErofsNodeType, ErofsTime, ErofsXattrs } from './types.js';

// Planning is pure: walk the tree, validate it, decide every inode's format, layout and position. Nothing here
// reads file contents; sizes are known up front, so nids and block addresses are fixed before writing starts.

export const BLOCK_SIZE = 4096;
/** Inodes start at block 1; block 0 holds only the superblock, so its checksum covers nothing else. */
const META_START = BLOCK_SIZE;
const MAX_XATTR_IBODY = 12 + 4 * (0xffff - 1);

const S_IFMT: Record<ErofsNodeType, number> = {
  file: 0o100000,
  directory: 0o040000,
  symlink: 0o120000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
  socket: 0o140000,
};

/** Dirent file_type codes. */
const FILE_TYPE: Record<ErofsNodeType, number> = {
  file: 1,
  directory: 2,
  char: 3,
  block: 4,
  fifo: 5,
  socket: 6,
  symlink: 7,
};

interface PlannedDirent {
  name: Buffer;
  inode: PlannedInode;
}

/** Everything the writer needs to emit one inode. */
export interface PlannedInode {
  /** Sequential, root = 0; written as i_ino. */
  index: number;
  /** Path of the first name of this inode (`''` for the root), for messages. */
  path: string;
  node: ErofsNode;
  type: ErofsNodeType;
  nlink: number;
  mtimeSec: number;
  mtimeNsec: number;
  extended: boolean;
  /** Encoded xattr ibody (empty when none). */
  xattrs: Buffer;
  /** i_size: content bytes, dirent bytes, or symlink target bytes. */
  size: number;
  /** 0 FLAT_PLAIN, 2 FLAT_INLINE. */
  layout: 0 | 2;
  /** Blocks in the data area. */
  dataBlocks: number;
  startBlock: number;
  /** Byte offset of the inode in the image. */
  offset: number;
  /** Directory entries, sorted, including `.` and `..`. */
  entries?: PlannedDirent[];
  parent?: PlannedInode;
  /** Symlink target bytes. */
  target?: Buffer;
}

export interface ErofsPlan {
  /** In walk order (`index` order). */
  inodes: PlannedInode[];
  /** In on-disk order (by offset): the order the writer emits inodes and file data. */
  order: PlannedInode[];
  root: PlannedInode;
  /** Blocks of metadata (superblock, inodes, xattrs, inline tails); the data area starts here. */
  metaBlocks: number;
  blocks: number;
  buildTimeSec: number;
  buildTimeNsec: number;
  /** Every non-directory node object (hardlink names included) to its inode. */
  byNode: Map<ErofsNode, PlannedInode>;
}

export interface PlanOptions {
  buildTime?: ErofsTime;
  /** File contents come from a tree-level reader, so nodes need no `content`. */
  externalContent?: boolean;
}

function invalid(code: string, message: string, hint: string, path?: string): DroverError {
  return new DroverError(code, message, {
    kind: 'input',
    hint,
    ...(path === undefined ? {} : { details: { path } }),
  });
}

function checkInteger(value: number, min: number, max: number, what: string, path: string): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(
      'EROFS_INVALID_NODE',
      `${path || '/'}: ${what} ${String(value)} is out of range ${min}..${max}`,
      'Fix the tree description passed to writeErofs.',
      path,
    );
  }
}

function checkTime(t: ErofsTime, path: string): { sec: number; nsec: number } {
  const nsec = t.nsec ?? 0;
  checkInteger(t.sec, -(2 ** 53) + 1, 2 ** 53 - 1, 'mtime seconds', path);
  checkInteger(nsec, 0, 999_999_999, 'mtime nanoseconds', path);
  return { sec: t.sec, nsec };
}

function childrenOf(dir: ErofsDirectory, path: string): [Buffer, string, ErofsNode][] {
  const out: [Buffer, string, ErofsNode][] = [];
  const seen = new Set<string>();
  for (const [name, node] of dir.children) {
    const bytes = Buffer.from(name, 'utf8');
    const childPath = `${path}/${name}`;
    if (
      bytes.length === 0 ||
      bytes.length > 255 ||
      name === '.' ||
      name === '..' ||
      name.includes('/') ||
      name.includes('\0')
    ) {
      throw invalid(
        'EROFS_INVALID_NAME',
        `invalid file name ${JSON.stringify(name)} in ${path || '/'}`,
        'Names must be 1..255 UTF-8 bytes without "/" or NUL, and not "." or "..".',
        childPath,
      );
    }
    if (seen.has(name)) {
      throw invalid(
        'EROFS_DUPLICATE_NAME',
        `duplicate name ${JSON.stringify(name)} in ${path || '/'}`,
        'Each name may appear once per directory.',
        childPath,
      );
    }
    seen.add(name);
    out.push([bytes, name, node]);
  }
  out.sort((a, b) => Buffer.compare(a[0], b[0]));
  return out;
}

const XATTR_PREFIXES: [string, number][] = [
  ['user.', 1],
  ['trusted.', 4],
  ['security.', 6],
];

/** Encode the inline xattr body: 12-byte header then entries padded to 4 bytes, sorted by (index, name). */
export function encodeXattrs(xattrs: ErofsXattrs | undefined, path: string): Buffer {
  if (!xattrs) return Buffer.alloc(0);
  const pairs =
    xattrs instanceof Map ? [...xattrs.entries()] : Object.entries(xattrs as Record<string, Uint8Array>);
  if (pairs.length === 0) return Buffer.alloc(0);
  const entries: { index: number; suffix: Buffer; value: Uint8Array }[] = [];
  for (const [name, value] of pairs) {
    let index = 0;
    let suffix = '';
    if (name === 'system.posix_acl_access') index = 2;
    else if (name === 'system.posix_acl_default') index = 3;
    else {
      for (const [prefix, i] of XATTR_PREFIXES) {
        if (name.startsWith(prefix) && name.length > prefix.length) {
          index = i;
          suffix = name.slice(prefix.length);
          break;
        }
      }
    }
    if (index === 0) {
      throw invalid(
        'EROFS_XATTR_UNSUPPORTED',
        `${path || '/'}: extended attribute ${JSON.stringify(name)} cannot be stored in EROFS`,
        'Only user.*, trusted.*, security.* and the system.posix_acl_access/default attributes are supported; drop the others.',
        path,
      );
    }
    const suffixBytes = Buffer.from(suffix, 'utf8');
    if (suffixBytes.length > 255 || value.length > 0xffff) {
      throw invalid(
        'EROFS_XATTR_TOO_LARGE',
        `${path || '/'}: extended attribute ${JSON.stringify(name)} is too large (name ${suffixBytes.length} B, value ${value.length} B)`,
        'Names are limited to 255 bytes after the prefix and values to 65535 bytes.',
        path,
      );
    }
    entries.push({ index, suffix: suffixBytes, value });
  }
  entries.sort((a, b) => a.index - b.index || Buffer.compare(a.suffix, b.suffix));
  let size = 12;
  for (const e of entries) size += align(4 + e.suffix.length + e.value.length, 4);
  if (size > MAX_XATTR_IBODY) {
    throw invalid(
      'EROFS_XATTR_TOO_LARGE',
      `${path || '/'}: extended attributes take ${size} bytes, more than the ${MAX_XATTR_IBODY} an inode can hold`,
      'Reduce the number or size of extended attributes on this file.',
      path,
    );
  }
  const body = Buffer.alloc(size);
  let off = 12;
  for (const e of entries) {
    body[off] = e.suffix.length;
    body[off + 1] = e.index;
    body.writeUInt16LE(e.value.length, off + 2);
    e.suffix.copy(body, off + 4);
    body.set(e.value, off + 4 + e.suffix.length);
    off += align(4 + e.suffix.length + e.value.length, 4);
  }
  return body;
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** i_size of a directory whose sorted entries have these name lengths (dirents never straddle a block). */
export function directorySize(nameLengths: readonly number[]): number {
  let size = 0;
  for (const len of nameLengths) {
    const entry = 12 + len;
    if ((size % BLOCK_SIZE) + entry > BLOCK_SIZE) size = align(size, BLOCK_SIZE);
    size += entry;
  }
  return size;
}

const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

/** Walk and validate the tree, then fix every inode's format, layout, nid and data blocks. */
export function planErofs(root: ErofsNode, options: PlanOptions = {}): ErofsPlan {
  if (root.type !== 'directory') {
    throw invalid(
      'EROFS_ROOT_NOT_DIRECTORY',
      `the root of the tree is a ${root.type}`,
      'Pass a directory as the root.',
    );
  }
  const inodes: PlannedInode[] = [];
  const byLink = new Map<unknown, PlannedInode>();
  const byNode = new Map<ErofsNode, PlannedInode>();
  const paths = new Map<PlannedInode, string>();
  const seenDirs = new Set<ErofsNode>();

  const makeInode = (node: ErofsNode, path: string, parent?: PlannedInode): PlannedInode => {
    checkInteger(node.mode, 0, 0o7777, 'mode', path);
    checkInteger(node.uid, 0, 0xffffffff, 'uid', path);
    checkInteger(node.gid, 0, 0xffffffff, 'gid', path);
    const t = checkTime(node.mtime, path);
    const inode: PlannedInode = {
      index: inodes.length,
      path,
      node,
      type: node.type,
      nlink: node.type === 'directory' ? 2 : 1,
      mtimeSec: t.sec,
      mtimeNsec: t.nsec,
      extended: false,
      xattrs: encodeXattrs(node.xattrs, path),
      size: 0,
      layout: 0,
      dataBlocks: 0,
      startBlock: 0,
      offset: 0,
    };
    if (parent) inode.parent = parent;
    switch (node.type) {
      case 'file':
        checkInteger(node.size, 0, Number.MAX_SAFE_INTEGER, 'size', path);
        if (node.content instanceof Uint8Array && node.content.length !== node.size) {
          throw invalid(
            'EROFS_SIZE_MISMATCH',
            `${path}: size is ${node.size} but the content has ${node.content.length} bytes`,
            'Make `size` match the content.',
            path,
          );
        }
        if (node.content === undefined && node.size !== 0 && !options.externalContent) {
          throw invalid(
            'EROFS_MISSING_CONTENT',
            `${path}: file of ${node.size} bytes has no content`,
            'Give the file a `content` (bytes or a stream callback), or size 0.',
            path,
          );
        }
        inode.size = node.size;
        break;
      case 'symlink': {
        const target = Buffer.from(node.target, 'utf8');
        if (target.length === 0 || target.length >= BLOCK_SIZE || target.includes(0)) {
          throw invalid(
            'EROFS_INVALID_NODE',
            `${path}: symlink target must be 1..4095 bytes without NUL (got ${target.length})`,
            'Fix the link target.',
            path,
          );
        }
        inode.target = target;
        inode.size = target.length;
        break;
      }
      case 'char':
      case 'block':
        checkInteger(node.rdev.major, 0, 0xfff, 'device major', path);
        checkInteger(node.rdev.minor, 0, 0xfffff, 'device minor', path);
        break;
      case 'directory':
      case 'fifo':
      case 'socket':
        break;
      default:
        throw invalid(
          'EROFS_INVALID_NODE',
          `${path}: unknown node type ${JSON.stringify((node as { type: unknown }).type)}`,
          'Use one of file, directory, symlink, char, block, fifo, socket.',
          path,
        );
    }
    inodes.push(inode);
    paths.set(inode, path);
    return inode;
  };

  const rootInode = makeInode(root, '');
  seenDirs.add(root);
  rootInode.parent = rootInode;
  // Iterative walk (deep trees must not overflow the stack): a directory's children get consecutive inodes,
  // then its subdirectories are visited in name order.
  const stack: PlannedInode[] = [rootInode];
  while (stack.length > 0) {
    const dirInode = stack.pop()!;
    const dir = dirInode.node as ErofsDirectory;
    const dirPath = paths.get(dirInode)!;
    const entries: PlannedDirent[] = [
      { name: DOT, inode: dirInode },
      { name: DOTDOT, inode: dirInode.parent! },
    ];
    const subdirs: PlannedInode[] = [];
    for (const [bytes, name, child] of childrenOf(dir, dirPath)) {
      const childPath = `${dirPath}/${name}`;
      let inode: PlannedInode;
      if (child.type === 'directory') {
        if (seenDirs.has(child)) {
          throw invalid(
            'EROFS_DIRECTORY_HARDLINK',
            `${childPath}: a directory appears twice in the tree`,
            'Directories cannot be hardlinked; give each directory its own node.',
            childPath,
          );
        }
        seenDirs.add(child);
        inode = makeInode(child, childPath, dirInode);
        dirInode.nlink++;
        subdirs.push(inode);
      } else {
        const key =
          'linkId' in child && child.linkId !== undefined
            ? `link:${typeof child.linkId}:${child.linkId}`
            : child;
        const existing = byLink.get(key);
        if (existing) {
          if (existing.type !== child.type) {
            throw invalid(
              'EROFS_HARDLINK_MISMATCH',
              `${childPath}: hardlink to ${paths.get(existing)} has type ${child.type}, not ${existing.type}`,
              'Nodes sharing a linkId must describe the same file.',
              childPath,
            );
          }
          existing.nlink++;
          inode = existing;
        } else {
          inode = makeInode(child, childPath, dirInode);
          byLink.set(key, inode);
        }
      }
      if (child.type !== 'directory') byNode.set(child, inode);
      entries.push({ name: bytes, inode });
    }
    entries.sort((a, b) => Buffer.compare(a.name, b.name));
    dirInode.entries = entries;
    dirInode.size = directorySize(entries.map((e) => e.name.length));
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }

  // Build time: the option, else the most common mtime (ties: the earliest), so most inodes stay compact.
  let buildSec: number;
  let buildNsec: number;
  if (options.buildTime) {
    const t = checkTime(options.buildTime, 'buildTime');
    if (t.sec < 0) {
      throw invalid(
        'EROFS_INVALID_OPTION',
        'buildTime must not be negative',
        'Pass seconds since the epoch.',
      );
    }
    buildSec = t.sec;
    buildNsec = t.nsec;
  } else {
    const counts = new Map<string, { sec: number; nsec: number; n: number }>();
    for (const inode of inodes) {
      if (inode.mtimeSec < 0) continue;
      const k = `${inode.mtimeSec}.${inode.mtimeNsec}`;
      const c = counts.get(k);
      if (c) c.n++;
      else counts.set(k, { sec: inode.mtimeSec, nsec: inode.mtimeNsec, n: 1 });
    }
    let best = { sec: 0, nsec: 0, n: 0 };
    for (const c of counts.values()) {
      if (
        c.n > best.n ||
        (c.n === best.n && (c.sec < best.sec || (c.sec === best.sec && c.nsec < best.nsec)))
      ) {
        best = c;
      }
    }
    buildSec = best.sec;
    buildNsec = best.nsec;
  }

  // Formats and sizes.
  for (const inode of inodes) {
    checkInteger(inode.nlink, 1, 0xffffffff, 'link count', paths.get(inode)!);
    inode.extended =
      inode.node.uid > 0xffff ||
      inode.node.gid > 0xffff ||
      inode.nlink > 0xffff ||
      inode.size >= 2 ** 32 ||
      inode.mtimeSec !== buildSec ||
      inode.mtimeNsec !== buildNsec;
    const head = (inode.extended ? 64 : 32) + inode.xattrs.length;
    const hasData = inode.type === 'file' || inode.type === 'directory' || inode.type === 'symlink';
    const tail = hasData ? inode.size % BLOCK_SIZE : 0;
    const inline = tail > 0 && head + tail <= BLOCK_SIZE;
    inode.layout = inline ? 2 : 0;
    inode.dataBlocks = hasData
      ? inline
        ? Math.floor(inode.size / BLOCK_SIZE)
        : Math.ceil(inode.size / BLOCK_SIZE)
      : 0;
  }

  // Positions: inode + xattrs + inline tail never cross a block (a tail must not; the rest is simpler so).
  // Best fit into the metadata blocks opened so far (as mkfs.erofs does), so tails waste little space.
  const metaBlocks = placeInodes(inodes) + META_START / BLOCK_SIZE;
  const order = [...inodes].sort((a, b) => a.offset - b.offset);
  // Data blocks in the same order as the inodes, so both regions are written front to back.
  let block = metaBlocks;
  for (const inode of order) {
    if (inode.dataBlocks > 0) {
      inode.startBlock = block;
      block += inode.dataBlocks;
    } else {
      inode.startBlock = inode.layout === 2 ? 0xffffffff : 0;
    }
  }
  if (block > 0xffffffff) {
    throw invalid(
      'EROFS_TOO_LARGE',
      `the image would need ${block} blocks, more than EROFS can address with 4 KiB blocks`,
      'Split the tree; EROFS images are limited to 16 TiB.',
    );
  }
  if (rootInode.offset / 32 > 0xffff) {
    throw new DroverError('EROFS_INTERNAL', 'root inode is beyond nid 65535', { kind: 'internal' });
  }
  return {
    inodes,
    order,
    root: rootInode,
    metaBlocks,
    blocks: block,
    buildTimeSec: buildSec,
    buildTimeNsec: buildNsec,
    byNode,
  };
}

/**
 * Give every inode its byte offset (from META_START) and return the number of metadata blocks used.
 * Inodes up to a block long go best-fit into a block with room (free space kept in 32-byte buckets);
 * longer ones (huge xattr bodies) start a fresh run of blocks.
 */
function placeInodes(inodes: readonly PlannedInode[]): number {
  const SLOTS = BLOCK_SIZE / 32;
  // buckets[n]: blocks with exactly n free 32-byte slots; values are [block, usedBytes].
  const buckets: [number, number][][] = Array.from({ length: SLOTS + 1 }, () => []);
  let blocks = 0;
  const release = (block: number, used: number): void => {
    const free = (BLOCK_SIZE - used) / 32;
    if (free > 0) buckets[free]!.push([block, used]);
  };
  for (const inode of inodes) {
    const total = align(
      (inode.extended ? 64 : 32) + inode.xattrs.length + (inode.layout === 2 ? inode.size % BLOCK_SIZE : 0),
      32,
    );
    if (total > BLOCK_SIZE) {
      inode.offset = META_START + blocks * BLOCK_SIZE;
      const span = Math.ceil(total / BLOCK_SIZE);
      blocks += span;
      release(blocks - 1, total - (span - 1) * BLOCK_SIZE);
      continue;
    }
    let found: [number, number] | undefined;
    for (let n = total / 32; n <= SLOTS && !found; n++) found = buckets[n]!.pop();
    const [block, used] = found ?? [blocks++, 0];
    inode.offset = META_START + block * BLOCK_SIZE + used;
    release(block, used + total);
  }
  return blocks;
}

/** The i_mode of an inode: type bits plus permission bits. */
export function inodeMode(inode: PlannedInode): number {
  return S_IFMT[inode.type] | inode.node.mode;
}

/** The 32- or 64-byte on-disk inode. */
export function encodeInode(inode: PlannedInode): Buffer {
  const icount = inode.xattrs.length === 0 ? 0 : (inode.xattrs.length - 12) / 4 + 1;
  let iu = inode.startBlock;
  if (inode.node.type === 'char' || inode.node.type === 'block') {
    const { major, minor } = inode.node.rdev;
    iu = ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
  } else if (inode.type === 'fifo' || inode.type === 'socket') {
    iu = 0;
  }
  const { uid, gid } = inode.node;
  if (!inode.extended) {
    const b = Buffer.alloc(32);
    b.writeUInt16LE(inode.layout << 1, 0);
    b.writeUInt16LE(icount, 2);
    b.writeUInt16LE(inodeMode(inode), 4);
    b.writeUInt16LE(inode.nlink, 6);
    b.writeUInt32LE(inode.size, 8);
    b.writeUInt32LE(iu, 16);
    b.writeUInt32LE(inode.index, 20);
    b.writeUInt16LE(uid, 24);
    b.writeUInt16LE(gid, 26);
    return b;
  }
  const b = Buffer.alloc(64);
  b.writeUInt16LE(1 | (inode.layout << 1), 0);
  b.writeUInt16LE(icount, 2);
  b.writeUInt16LE(inodeMode(inode), 4);
  b.writeBigUInt64LE(BigInt(inode.size), 8);
  b.writeUInt32LE(iu, 16);
  b.writeUInt32LE(inode.index, 20);
  b.writeUInt32LE(uid, 24);
  b.writeUInt32LE(gid, 28);
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(inode.mtimeSec)), 32);
  b.writeUInt32LE(inode.mtimeNsec, 40);
  b.writeUInt32LE(inode.nlink, 44);
  return b;
}

/** A directory's data: per block, dirents then packed names; the nids are final by now. */
export function encodeDirectory(inode: PlannedInode): Buffer {
  const data = Buffer.alloc(inode.size);
  const entries = inode.entries!;
  let i = 0;
  let blockStart = 0;
  while (i < entries.length) {
    // Collect the entries of this block with the same packing rule as directorySize().
    let used = 0;
    let j = i;
    while (j < entries.length && used + 12 + entries[j]!.name.length <= BLOCK_SIZE) {
      used += 12 + entries[j]!.name.length;
      j++;
    }
    const n = j - i;
    let nameOff = 12 * n;
    for (let k = 0; k < n; k++) {
      const e = entries[i + k]!;
      const at = blockStart + 12 * k;
      data.writeBigUInt64LE(BigInt(e.inode.offset / 32), at);
      data.writeUInt16LE(nameOff, at + 8);
      data[at + 10] = FILE_TYPE[e.inode.type];
      e.name.copy(data, blockStart + nameOff);
      nameOff += e.name.length;
    }
    i = j;
    blockStart += BLOCK_SIZE;
  }
  return data;
}

export interface SuperblockFields {
  rootNid: number;
  inodes: number;
  buildTimeSec: number;
  buildTimeNsec: number;
  blocks: number;
  uuid: Buffer;
  volumeName: Buffer;
}

/** The 128-byte superblock with a zero checksum field (filled in by the caller over the whole block 0). */
export function encodeSuperblock(f: SuperblockFields): Buffer {
  const sb = Buffer.alloc(128);
  sb.writeUInt32LE(0xe0f5e1e2, 0);
  sb.writeUInt32LE(0x3, 8); // SB_CHKSUM | MTIME, as mkfs.erofs writes
  sb[0x0c] = 12;
  sb.writeUInt16LE(f.rootNid, 0x0e);
  sb.writeBigUInt64LE(BigInt(f.inodes), 0x10);
  sb.writeBigUInt64LE(BigInt(f.buildTimeSec), 0x18);
  sb.writeUInt32LE(f.buildTimeNsec, 0x20);
  sb.writeUInt32LE(f.blocks, 0x24);
  f.uuid.copy(sb, 0x30);
  f.volumeName.copy(sb, 0x40);
  return sb;
}
