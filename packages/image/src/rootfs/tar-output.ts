import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { type Context, type DigestString, DroverError, startProgress, writeAtomically } from '@drover/core';
import { type RootfsTree, writeTar } from '@drover/oci';
import { requireTools, runTool } from './tools.js';
import { treeTarEntries } from './tree-tar.js';
import type { FileDigests } from './types.js';

/** Options for {@link writeRootfsTar}. */
export interface WriteRootfsTarOptions {
  tree: RootfsTree;
  output: string;
  compression?: 'none' | 'gzip' | 'zstd' | 'xz';
  /** Filled with the content digests of every regular file while the archive is written. */
  digests?: FileDigests;
}

/**
 * Write a tree as a reproducible tar archive (sorted, PAX for long names and xattrs, fixed times).
 * Member order is that of {@link treeTarEntries}: metadata in path order, then file contents in layer order,
 * so each layer blob is read once. gzip is zlib level 6 with a fixed header (no name, mtime 0); zstd
 * (`zstd -3 -T1`) and xz (`xz -6 -T1`, single-threaded so the block layout never depends on the machine) run as
 * child processes.
 */
export async function writeRootfsTar(
  options: WriteRootfsTarOptions,
  ctx: Context = {},
): Promise<{ path: string; size: number; digest: DigestString }> {
  const compression = options.compression ?? 'none';
  if (!['none', 'gzip', 'zstd', 'xz'].includes(compression)) {
    throw new DroverError('ROOTFS_TAR_COMPRESSION', `unknown tar compression ${compression}`, {
      kind: 'usage',
      hint: 'Use none, gzip, zstd or xz.',
    });
  }
  if (compression === 'zstd' || compression === 'xz') {
    await requireTools([compression], `compressing ${options.output}`);
  }
  const progress = startProgress(ctx, {
    task: `image.rootfs-tar:${options.output}`,
    label: 'writing root filesystem tar',
    unit: 'bytes',
    total: options.tree.summary().bytes,
  });
  const hash = createHash('sha256');
  try {
    await writeAtomically(options.output, async (temporary) => {
      const file = createWriteStream(temporary);
      const hashed = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      const tar = counted(
        writeTar(treeTarEntries(options.tree, options.digests ? { digests: options.digests } : {}, ctx)),
        progress.advance,
      );
      if (compression === 'none') {
        await pipeline(tar, hashed, file);
        return;
      }
      if (compression === 'gzip') {
        await pipeline(tar, createGzip({ level: 6 }), hashed, file);
        return;
      }
      const args =
        compression === 'zstd' ? ['-3', '-T1', '-q', '-c', '--no-progress'] : ['-6', '-T1', '-q', '-c'];
      const out = new PassThrough();
      const sink = pipeline(out, hashed, file);
      try {
        await runTool(
          {
            command: compression,
            args,
            input: tar,
            output: out,
            code: 'ROOTFS_TAR_COMPRESS',
            what: `compressing ${options.output} with ${compression}`,
          },
          ctx,
        );
      } finally {
        out.end();
        await sink;
      }
    });
    progress.done(true);
  } catch (error) {
    progress.done(false);
    throw error;
  }
  const size = (await stat(options.output)).size;
  return { path: options.output, size, digest: `sha256:${hash.digest('hex')}` };
}

async function* counted(source: AsyncIterable<Buffer>, advance: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    advance(chunk.length);
    yield chunk;
  }
}
