import { type DigestString, DroverError } from '@drover/core';
import type { RootfsTree, TreeNodeType } from '@drover/oci';
import type { FileDigests } from '../rootfs/types.js';

/** One entry of an image's file manifest (`files.json`): what `drover image diff` compares. */
export interface FileEntry {
  /** Absolute path in the image, `/` for the root. */
  path: string;
  type: TreeNodeType;
  /** Permission bits (`& 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes for regular files, 0 otherwise. */
  size: number;
  /** Regular files (empty files carry the digests of no bytes). */
  sha256?: DigestString;
  sha1?: string;
  /** Symlinks. */
  target?: string;
  /** Hardlinks after the first name: the path of the first name. */
  linkTo?: string;
  /** Character and block devices: `major:minor`. */
  device?: string;
  /** Names of the extended attributes, sorted (values are not listed). */
  xattrs?: string[];
}

/** The file manifest document written as `files.json`. */
export interface FileManifest {
  schemaVersion: 1;
  files: FileEntry[];
}

/** Options for {@link fileManifest}. */
export interface FileManifestOptions {
  tree: RootfsTree;
  digests: FileDigests;
}

/** The media type of `files.json` in an image record. */
export const FILE_MANIFEST_MEDIA_TYPE = 'application/vnd.drover.files.v1+json';

/** Digests of zero bytes (empty regular files have no entry in {@link FileDigests}). */
export const EMPTY_SHA256: DigestString =
  'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
export const EMPTY_SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';

/** List every entry of a tree sorted by the bytes of its path, with content digests; hardlinks noted. */
export function fileManifest(options: FileManifestOptions): FileManifest {
  const { tree, digests } = options;
  const firstName = new Map<number, string>();
  const files: FileEntry[] = [];
  const linked = new Map<FileEntry, number>();
  for (const { path: rel, node } of tree.walk()) {
    const inode = node.inode;
    const path = `/${rel}`;
    const entry: FileEntry = {
      path,
      type: inode.type,
      mode: inode.mode & 0o7777,
      uid: inode.uid,
      gid: inode.gid,
      size: inode.type === 'file' ? inode.size : 0,
    };
    if (inode.type === 'file') {
      if (inode.size === 0) {
        entry.sha256 = EMPTY_SHA256;
        entry.sha1 = EMPTY_SHA1;
      } else {
        const digest = digests.get(inode.id);
        if (!digest) {
          throw new DroverError('SBOM_DIGEST_MISSING', `no content digest for ${path} (inode ${inode.id})`, {
            kind: 'internal',
            hint: 'The filesystem writer must report the digests of every regular file with data.',
            details: { path, inode: inode.id },
          });
        }
        entry.sha256 = digest.sha256;
        entry.sha1 = digest.sha1;
      }
    }
    if (inode.type === 'symlink') entry.target = inode.target ?? '';
    if (inode.type === 'char' || inode.type === 'block') {
      entry.device = `${inode.devMajor ?? 0}:${inode.devMinor ?? 0}`;
    }
    if (inode.xattrs.size > 0) {
      entry.xattrs = [...inode.xattrs.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    }
    files.push(entry);
    if (inode.type !== 'dir' && inode.nlink > 1) linked.set(entry, inode.id);
  }
  // Sorted by the bytes of the whole path (walk order sorts per directory: `a/b` before `a-c`).
  const keyed = files.map((entry) => ({ entry, key: Buffer.from(entry.path) }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  const sorted = keyed.map((k) => k.entry);
  for (const entry of sorted) {
    const id = linked.get(entry);
    if (id === undefined) continue;
    const first = firstName.get(id);
    if (first === undefined) firstName.set(id, entry.path);
    else entry.linkTo = first;
  }
  return { schemaVersion: 1, files: sorted };
}
