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
  /** Regular files with data. */
  sha256?: DigestString;
  sha1?: string;
  /** Symlinks. */
  target?: string;
  /** Hardlinks after the first name: the path of the first name. */
  linkTo?: string;
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

/** List every entry of a tree in walk order (sorted by path bytes), with content digests. */
export function fileManifest(_options: FileManifestOptions): FileManifest {
  throw new DroverError('NOT_IMPLEMENTED', 'fileManifest is not implemented yet', { kind: 'internal' });
}
