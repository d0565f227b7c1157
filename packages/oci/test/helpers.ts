import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RootfsTree } from '../src/index.js';

export const run = promisify(execFile);
const require = createRequire(import.meta.url);

/** A temp dir removed by the returned cleanup. */
export async function tempDir(
  prefix = 'drover-oci-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** What a comparison looks at for one path. */
export interface Snap {
  type: string;
  mode: number;
  target?: string;
  sha?: string;
  /** Group id for hardlinks: paths with the same group share an inode. */
  link?: string;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Snapshot a directory on disk (what umoci unpacked). */
export async function snapshotDisk(root: string): Promise<Map<string, Snap>> {
  const out = new Map<string, Snap>();
  const inodes = new Map<number, string>();
  const visit = async (rel: string): Promise<void> => {
    const abs = rel ? join(root, rel) : root;
    const st = await lstat(abs);
    const mode = st.mode & 0o7777;
    if (st.isDirectory()) {
      out.set(rel, { type: 'dir', mode });
      for (const name of (await readdir(abs)).sort()) await visit(rel ? `${rel}/${name}` : name);
    } else if (st.isSymbolicLink())
      out.set(rel, { type: 'symlink', mode: 0o777, target: await readlink(abs) });
    else if (st.isFile()) {
      const snap: Snap = { type: 'file', mode, sha: sha(await readFile(abs)) };
      if (st.nlink > 1) {
        const first = inodes.get(st.ino) ?? rel;
        inodes.set(st.ino, first);
        snap.link = first;
      }
      out.set(rel, snap);
    } else if (st.isFIFO()) out.set(rel, { type: 'fifo', mode });
    else out.set(rel, { type: 'other', mode });
  };
  await visit('');
  return out;
}

/** Snapshot our tree the same way, reading file contents through the tree. */
export async function snapshotTree(tree: RootfsTree): Promise<Map<string, Snap>> {
  const out = new Map<string, Snap>();
  const firstName = new Map<number, string>();
  const contents = new Map<number, string>();
  await tree.forEachContent(async (inode, data) => {
    const h = createHash('sha256');
    for await (const c of data) h.update(c);
    contents.set(inode.id, h.digest('hex'));
  });
  for (const { path, node } of tree.walk()) {
    const i = node.inode;
    if (i.type === 'dir') out.set(path, { type: 'dir', mode: i.mode });
    else if (i.type === 'symlink') out.set(path, { type: 'symlink', mode: 0o777, target: i.target! });
    else if (i.type === 'file') {
      const snap: Snap = { type: 'file', mode: i.mode, sha: contents.get(i.id) ?? sha(new Uint8Array()) };
      if (i.nlink > 1) {
        const first = firstName.get(i.id) ?? path;
        firstName.set(i.id, first);
        snap.link = first;
      }
      out.set(path, snap);
    } else out.set(path, { type: i.type === 'fifo' ? 'fifo' : 'other', mode: i.mode });
  }
  return out;
}

/** `umoci unpack --rootless` a layout tag into `bundle`, returning the rootfs path. */
export async function umociUnpack(layout: string, tag: string, bundle: string): Promise<string> {
  await run('umoci', ['unpack', '--rootless', '--image', `${layout}:${tag}`, bundle]);
  return join(bundle, 'rootfs');
}

/** Map → sorted plain object, for readable diffs in failures. */
export function plain(map: Map<string, Snap>): Record<string, Snap> {
  return Object.fromEntries([...map].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}

/** Collect a tar written by our writer into memory. */
export async function tarBytes(
  entries: import('../src/index.js').TarWriteEntry[],
  format?: 'pax' | 'gnu',
): Promise<Buffer> {
  const { writeTar } = await import('../src/index.js');
  const parts: Buffer[] = [];
  for await (const c of writeTar(entries, format ? { format } : {})) parts.push(c);
  return Buffer.concat(parts);
}

/** An in-memory uncompressed layer source. */
export function memoryLayer(bytes: Buffer): import('../src/index.js').LayerSource {
  const { Readable } = require('node:stream') as typeof import('node:stream');
  const digest = `sha256:${sha(bytes)}` as const;
  return {
    descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: bytes.length },
    open: () => Readable.from([bytes]),
    openRange: (start, end) => Readable.from([bytes.subarray(start, end + 1)]),
    compression: 'none',
  };
}
