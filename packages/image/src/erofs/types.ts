/**
 * The input of the EROFS writer: a small, self-contained description of a directory tree.
 *
 * - Every node carries its own metadata (`mode` holds permission bits only, `0o7777`; the type is `type`).
 * - Hardlinks: the same node object reachable under several names, or several non-directory nodes with the
 *   same `linkId`, become one inode (the first one met in sorted walk order supplies the metadata and content).
 * - File data is never held by the writer: `content` is either bytes or a callback opening a stream, called
 *   once, when the writer reaches the file.
 */
export type ErofsNode = ErofsDirectory | ErofsFile | ErofsSymlink | ErofsDevice | ErofsSpecial;

/** Node types the writer supports (all Linux file types). */
export type ErofsNodeType = ErofsNode['type'];

/** Seconds since the epoch plus nanoseconds (0..999999999). */
export interface ErofsTime {
  sec: number;
  nsec?: number;
}

/**
 * Extended attributes by full name (`user.*`, `trusted.*`, `security.*` such as `security.capability` and
 * `security.selinux`, `system.posix_acl_access`, `system.posix_acl_default`), raw values.
 */
export type ErofsXattrs = Readonly<Record<string, Uint8Array>> | ReadonlyMap<string, Uint8Array>;

/** What every node has. */
export interface ErofsNodeBase {
  /** Permission bits including setuid, setgid and sticky: `0..0o7777`. */
  mode: number;
  uid: number;
  gid: number;
  mtime: ErofsTime;
  xattrs?: ErofsXattrs;
}

/** A stream of file bytes: a Node `Readable`, any async iterable of chunks, or a promise of one. */
export type ErofsContentSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** A file on this machine whose bytes become the file's data (read directly into the writer's buffers). */
export interface ErofsHostFile {
  path: string;
}

/**
 * File data: bytes in memory, a host file (the fastest: no intermediate buffers), or a callback the writer
 * calls once to stream them.
 */
export type ErofsContent =
  | Uint8Array
  | ErofsHostFile
  | (() => ErofsContentSource | Promise<ErofsContentSource>);

/** A directory; children by name (names are UTF-8, 1..255 bytes, no `/`, not `.` or `..`). */
export interface ErofsDirectory extends ErofsNodeBase {
  type: 'directory';
  children: ReadonlyMap<string, ErofsNode> | Iterable<readonly [string, ErofsNode]>;
}

/** A regular file of exactly `size` bytes. */
export interface ErofsFile extends ErofsNodeBase {
  type: 'file';
  size: number;
  /** Absent means the file is empty (`size` must then be 0). */
  content?: ErofsContent;
  /** Hardlink identity: files with the same `linkId` share one inode. */
  linkId?: string | number;
}

/** A symbolic link (target up to 4095 bytes). */
export interface ErofsSymlink extends ErofsNodeBase {
  type: 'symlink';
  target: string;
  linkId?: string | number;
}

/** A character or block device. */
export interface ErofsDevice extends ErofsNodeBase {
  type: 'char' | 'block';
  /** major 0..4095, minor 0..1048575. */
  rdev: { major: number; minor: number };
  linkId?: string | number;
}

/** A named pipe or a socket. */
export interface ErofsSpecial extends ErofsNodeBase {
  type: 'fifo' | 'socket';
  linkId?: string | number;
}
