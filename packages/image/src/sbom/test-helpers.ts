// Test helpers for the sbom and report modules (not exported from the package).
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Artifact, digestBytes, type ImageRecord } from '@drover/core';
import { RootfsTree, type TreeNode } from '@drover/oci';
import type { FileDigests } from '../rootfs/types.js';
import { fileManifest } from './files.js';
import { findPackages } from './packages.js';
import { generateSbom } from './spdx.js';

export interface FixtureEntry {
  type?: 'file' | 'dir' | 'symlink' | 'char' | 'fifo';
  content?: string;
  target?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Another path of the fixture this entry is a hardlink of. */
  link?: string;
}

/** Build a RootfsTree from `{ 'path': entry }` (parents created as 0755 dirs; inline contents). */
export function fixtureTree(entries: Record<string, FixtureEntry | string>): RootfsTree {
  const tree = new RootfsTree();
  const mtime = { sec: 1_700_000_000, nsec: 0 };
  const dirOf = (path: string): TreeNode => {
    let node = tree.root;
    for (const part of path.split('/').filter(Boolean)) {
      let next = node.children!.get(part);
      if (!next) {
        next = tree.link(node, part, tree.newInode({ type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime }), -1);
      }
      node = next;
    }
    return node;
  };
  for (const [path, raw] of Object.entries(entries)) {
    const e: FixtureEntry = typeof raw === 'string' ? { content: raw } : raw;
    const parts = path.split('/').filter(Boolean);
    const name = parts.pop()!;
    const parent = dirOf(parts.join('/'));
    if (e.link) {
      tree.link(parent, name, tree.get(e.link)!.inode, -1);
      continue;
    }
    const type = e.type ?? (e.target !== undefined ? 'symlink' : 'file');
    if (type === 'dir') {
      const node = dirOf(path);
      node.inode.mode = e.mode ?? 0o755;
      continue;
    }
    const data = Buffer.from(e.content ?? '');
    const inode = tree.newInode({
      type,
      mode: e.mode ?? (type === 'symlink' ? 0o777 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime,
      size: type === 'file' ? data.length : 0,
      ...(type === 'symlink' ? { target: e.target ?? '' } : {}),
      ...(type === 'char' ? { devMajor: 1, devMinor: 3 } : {}),
      ...(type === 'file' && data.length > 0 ? { content: { kind: 'inline' as const, data } } : {}),
    });
    tree.link(parent, name, inode, -1);
  }
  return tree;
}

/** Digests of every regular file with data, computed by reading the tree (what the filesystem writer reports). */
export async function treeDigests(tree: RootfsTree): Promise<FileDigests> {
  const out: FileDigests = new Map();
  await tree.forEachContent(async (inode, data) => {
    const sha256 = createHash('sha256');
    const sha1 = createHash('sha1');
    for await (const chunk of data) {
      sha256.update(chunk);
      sha1.update(chunk);
    }
    out.set(inode.id, { sha256: `sha256:${sha256.digest('hex')}`, sha1: sha1.digest('hex') });
  });
  return out;
}

/** A small Debian-like tree: os-release, a dpkg status database with .list files, merged /usr. */
export function debianTree(overrides: Record<string, FixtureEntry | string> = {}): RootfsTree {
  return fixtureTree({
    bin: { target: 'usr/bin' },
    lib: { target: 'usr/lib' },
    'etc/os-release': { target: '../usr/lib/os-release' },
    'usr/lib/os-release': 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
    'usr/bin/busybox': { content: 'ELF busybox', mode: 0o755 },
    'usr/bin/sh': { link: 'usr/bin/busybox' },
    'usr/lib/x86_64-linux-gnu/libc.so.6': 'ELF libc',
    'usr/share/doc/libc6/copyright': 'GPL',
    'var/lib/dpkg/status': [
      'Package: base-files',
      'Status: install ok installed',
      'Architecture: amd64',
      'Version: 12.4+deb12u5',
      'Description: Debian base system miscellaneous files',
      ' This package contains the basic filesystem hierarchy.',
      '',
      'Package: libc6',
      'Status: install ok installed',
      'Architecture: amd64',
      'Multi-Arch: same',
      'Source: glibc',
      'Version: 2.36-9+deb12u4',
      '',
      'Package: busybox',
      'Status: install ok installed',
      'Architecture: amd64',
      'Source: busybox (1:1.35.0-4)',
      'Version: 1:1.35.0-4+b3',
      '',
      'Package: removed-pkg',
      'Status: deinstall ok config-files',
      'Architecture: amd64',
      'Version: 1.0',
      '',
    ].join('\n'),
    'var/lib/dpkg/info/base-files.list': '/.\n/usr\n/usr/lib\n/usr/lib/os-release\n/etc/os-release\n',
    'var/lib/dpkg/info/libc6:amd64.list':
      '/.\n/lib/x86_64-linux-gnu/libc.so.6\n/usr/share/doc/libc6\n/usr/share/doc/libc6/copyright\n',
    'var/lib/dpkg/info/busybox.list': '/.\n/bin/busybox\n/bin/sh\n/usr/bin/gone\n',
    ...overrides,
  });
}

/** Write a build output directory by hand: files.json, sbom.spdx.json and image.json (plus any extra artifacts). */
export async function writeOutputDir(
  dir: string,
  options: {
    tree: RootfsTree;
    name: string;
    version: string;
    record?: Partial<ImageRecord>;
    /** Extra artifacts: files already in `dir`, by artifact name and file name. */
    artifacts?: Record<string, string>;
  },
): Promise<ImageRecord> {
  await mkdir(dir, { recursive: true });
  const files = fileManifest({ tree: options.tree, digests: await treeDigests(options.tree) });
  const sbom = generateSbom({
    name: options.name,
    version: options.version,
    files,
    packages: await findPackages({ tree: options.tree }),
    created: '2023-11-14T22:13:20Z',
    creator: 'drover-0.0.0',
    namespaceSeed: options.version,
  });
  const artifacts: Artifact[] = [];
  const add = async (name: string, path: string, mediaType: string, text?: string) => {
    if (text !== undefined) await writeFile(join(dir, path), text);
    const bytes = await readFile(join(dir, path));
    artifacts.push({ name, path, digest: digestBytes(bytes), size: bytes.length, mediaType });
  };
  for (const [name, path] of Object.entries(options.artifacts ?? {})) {
    await add(name, path, 'application/octet-stream');
  }
  await add('files', 'files.json', 'application/vnd.drover.files.v1+json', `${JSON.stringify(files)}\n`);
  await add('sbom', 'sbom.spdx.json', 'application/spdx+json', `${JSON.stringify(sbom, null, 2)}\n`);
  const record: ImageRecord = {
    schemaVersion: 1,
    name: options.name,
    version: options.version,
    ...options.record,
    artifacts: artifacts.sort((a, b) => a.name.localeCompare(b.name)),
  };
  await writeFile(join(dir, 'image.json'), `${JSON.stringify(record, null, 2)}\n`);
  return record;
}
