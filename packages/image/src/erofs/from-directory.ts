import { type BigIntStats, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type Context, DroverError, throwIfAborted, toDroverError } from '@drover/core';
import type { ErofsDirectory, ErofsNode } from './types.js';

export interface ErofsTreeFromDirectoryOptions {
  path: string;
}

/**
 * Describe a directory on this machine as an EROFS input tree: types, modes, owners, nanosecond mtimes,
 * hardlinks (by device and inode), device numbers, link targets; file contents are streamed when written.
 * Extended attributes are not read (Node has no API for them).
 */
export async function erofsTreeFromDirectory(
  options: ErofsTreeFromDirectoryOptions,
  ctx: Context = {},
): Promise<ErofsDirectory> {
  const root = await describe(options.path, ctx, { last: performance.now() });
  if (root.type !== 'directory') {
    throw new DroverError('EROFS_ROOT_NOT_DIRECTORY', `${options.path} is not a directory`, {
      hint: 'Pass the directory to turn into an image.',
    });
  }
  return root;
}

// Synchronous fs calls (much cheaper than thread-pool round trips for many small files), yielding to the
// event loop every ~20 ms so timers and abort signals still run.
async function describe(path: string, ctx: Context, clock: { last: number }): Promise<ErofsNode> {
  if (performance.now() - clock.last > 20) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    clock.last = performance.now();
  }
  throwIfAborted(ctx);
  let st: BigIntStats;
  try {
    st = lstatSync(path, { bigint: true });
  } catch (error) {
    throw toDroverError(error, 'reading tree');
  }
  const mode = Number(st.mode & 0o7777n);
  const base = {
    mode,
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: { sec: Number(st.mtimeNs / 1_000_000_000n), nsec: Number(st.mtimeNs % 1_000_000_000n) },
  };
  const linkId = st.nlink > 1n ? `${st.dev}:${st.ino}` : undefined;
  const withLink = <T extends object>(node: T): T => (linkId === undefined ? node : { ...node, linkId });
  if (st.isDirectory()) {
    const names = readdirSync(path).sort();
    const children = new Map<string, ErofsNode>();
    for (const name of names) children.set(name, await describe(join(path, name), ctx, clock));
    return { type: 'directory', ...base, children };
  }
  if (st.isFile()) {
    const size = Number(st.size);
    return withLink({
      type: 'file' as const,
      ...base,
      size,
      // The writer reads host files straight into its buffers.
      ...(size > 0 ? { content: { path } } : {}),
    });
  }
  if (st.isSymbolicLink()) return withLink({ type: 'symlink' as const, ...base, target: readlinkSync(path) });
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    const rdev = Number(st.rdev);
    // Linux dev_t: major in bits 8..19 (and 32..43), minor in bits 0..7 and 20..31.
    const major = ((rdev >>> 8) & 0xfff) >>> 0;
    const minor = ((rdev & 0xff) | ((rdev >>> 12) & 0xfff00)) >>> 0;
    return withLink({
      type: st.isCharacterDevice() ? ('char' as const) : ('block' as const),
      ...base,
      rdev: { major, minor },
    });
  }
  if (st.isFIFO()) return withLink({ type: 'fifo' as const, ...base });
  return withLink({ type: 'socket' as const, ...base });
}
